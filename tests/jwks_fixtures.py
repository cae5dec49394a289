"""A tiny JWKS endpoint on 127.0.0.1 whose answers each test controls, and signers.

``jwks_server`` is a real ``http.server`` in a thread of the test process: a test publishes keys, then
sets what the next answers are (status, body, headers, delay, redirect) and reads what was asked
(every request's path and headers). Nothing here mocks the client under test.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from medusa_auth.keys.config import TokenOptions
from medusa_auth.keys.keyset import SigningKey, algorithm_model
from medusa_auth.keys.material import PrivateKey, generate_private_key, private_key_pem, public_jwk, to_joserfc_key
from tests.helpers import b64

KEY_TYPE_OF = {"RS256": "RSA", "ES256": "EC", "EdDSA": "Ed25519"}
OPTIONS = TokenOptions(algorithm="RS256", keyid="", issuer=None, audience=(), expires_in=300)  # a verifier's
MAX_DELAY = 10.0  # a slow answer never holds a test thread longer than this


@dataclass
class Signer:
    """A private key with its kid and algorithm: the issuer's side of a test."""

    kid: str
    algorithm: str = "RS256"
    private: PrivateKey = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = generate_private_key(KEY_TYPE_OF[self.algorithm])

    def jwk(self, **members: Any) -> dict[str, Any]:
        """The public JWK the issuer publishes for this key (members override or add to it)."""
        entry = public_jwk(to_joserfc_key(self.private.public_key()), self.kid, self.algorithm)
        return {**entry, **members}

    def token(self, kid: str | None = "", header_alg: str | None = None, **claims: Any) -> str:
        """An access token signed by this key: ``kid`` "" is the key's own, None leaves it out."""
        header = {"alg": header_alg or self.algorithm, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid or self.kid
        now = int(time.time())
        payload = {**access_claims(), "iat": now, "exp": now + 300, **claims}
        signing_input = f"{b64_json(header)}.{b64_json(payload)}"
        signer = SigningKey(self.kid, self.algorithm, to_joserfc_key(self.private), algorithm_model(self.algorithm))
        return f"{signing_input}.{b64(signer.sign(signing_input.encode()))}"


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def access_claims(user_id: str = "user_01TEST") -> dict[str, Any]:
    return {
        "actor_id": user_id,
        "actor_type": "user",
        "auth_identity_id": "authid_01TEST",
        "app_metadata": {"user_id": user_id},
        "user_metadata": {},
    }


@dataclass
class Answer:
    """What the endpoint answers next; ``body`` None means the published document."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None  # when set: sent as ETag, and If-None-Match with it gets 304
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    body_delay: float = 0.0  # a pause between the headers and the body
    trickle: float = 0.0  # a pause before each 16 bytes of the body


class JwksServer:
    """The endpoint: ``publish`` keys, set ``answer``, read ``requests``; ``stop`` closes the port."""

    path = "/.well-known/jwks.json"

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.answer = Answer()
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        if tls is not None:  # https: the listening socket hands out TLS connections
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.url = self.base_url + self.path
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def publish(self, *entries: dict[str, Any] | Signer) -> None:
        self.document = {"keys": [e.jwk() if isinstance(e, Signer) else e for e in entries]}

    def fetches(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"] == (path or self.path))

    def stop(self) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with server._lock:
                    server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                answer = server.answer
                if answer.delay:
                    server._stopping.wait(min(answer.delay, MAX_DELAY))
                if self.path != server.path:  # where a redirect points: a good document nobody should fetch
                    self._send(200, json.dumps(server.document).encode(), {})
                    return
                headers = dict(answer.headers)
                if answer.etag is not None:
                    headers["ETag"] = answer.etag
                    if self.headers.get("If-None-Match") == answer.etag:
                        self._send(304, b"", headers)
                        return
                body = answer.body if answer.body is not None else json.dumps(server.document).encode()
                self._send(answer.status, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                answer = server.answer
                if status != 304 and answer.declare_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.flush()
                    server._stopping.wait(min(answer.body_delay, MAX_DELAY))
                    self._write(body, answer.trickle)

            def _write(self, body: bytes, trickle: float) -> None:
                pieces = [body[i : i + 16] for i in range(0, len(body), 16)] if trickle else [body]
                for piece in pieces:
                    if trickle and server._stopping.wait(trickle):
                        return
                    self.wfile.write(piece)
                    self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


def self_signed_tls(tmp_dir: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_dir / "tls.crt", tmp_dir / "tls.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_text(private_key_pem(key))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.stop()
