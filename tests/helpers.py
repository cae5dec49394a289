"""Plain helpers shared by test modules; a test module imports from here, never from another test module.

Fixtures live in conftest.py (``app``, ``client``, ``runner``, ``auth``, the clocks) and in the plugins it
registers (``jwks_fixtures``, ``throttle_fixtures``, ``web_fixtures``); ``live.py`` runs a real gunicorn.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from werkzeug.test import TestResponse

from medusa_auth import create_app
from medusa_auth.database import db
from medusa_auth.keys.config import JwtConfig, get_jwt_config
from medusa_auth.keys.keyset import KeySet
from medusa_auth.keys.material import public_key_pem
from medusa_auth.settings import sqlalchemy_url
from medusa_auth.tokens import InvalidToken, TokenKind, Tokens
from tests.live import LiveServer

PASSWORD = "correct horse battery staple"


# -- people and requests -------------------------------------------------------------------------


@dataclass
class AuthActions:
    """Create users and get tokens through the real routes (the ``auth`` fixture)."""

    app: Flask
    client: FlaskClient

    def create_user(self, email: str = "admin@example.com", password: str = PASSWORD) -> str:
        from medusa_auth.auth.identity_service import create_user

        with self.app.app_context():
            return create_user(email, password).id

    def login(self, email: str = "admin@example.com", password: str = PASSWORD) -> str:
        response = self.client.post("/auth/user/emailpass", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        token: str = response.get_json()["token"]
        return token

    def token(self, email: str = "admin@example.com") -> str:
        """A fresh user's access token."""
        self.create_user(email)
        return self.login(email)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return bearer(token)


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form a page at ``path`` renders (its cookie stays in ``client``)."""
    page = client.get(path)
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_session(client: FlaskClient, token: str) -> TestResponse:
    """POST /auth/session with a bearer token: the client holds the session cookie afterwards."""
    response = client.post("/auth/session", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response


# -- time ----------------------------------------------------------------------------------------

NOW = 1_700_000_000  # the moment hand-crafted tokens are valid at (the ``clock_at_now`` fixture)


class FakeClock:
    """Seconds that move only when a test says so (the ``fake_clock`` and ``frozen_clock`` fixtures)."""

    def __init__(self, start: float | None = None):
        self.now = int(time.time()) if start is None else start

    def __call__(self) -> float:
        return self.now

    def move(self, seconds: float) -> None:
        """Forward by ``seconds`` (backward when negative)."""
        self.now += seconds

    def move_to(self, moment: float) -> None:
        self.now = moment


# -- tokens crafted by hand ----------------------------------------------------------------------

DROP = object()  # a claim or header member to leave out
ACCESS = {TokenKind.ACCESS}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def part(value: Any) -> bytes:
    """A header or payload: a dict as compact JSON, raw JSON text as given, bytes as they are."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def header_of(token: str) -> dict[str, Any]:
    return json.loads(unb64(token.split(".")[0]))


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(unb64(token.split(".")[1]))


def raw_signature(alg: str, key: Any, message: bytes) -> bytes:
    """A JWS signature made with cryptography / hmac directly (RFC 7518 §3)."""
    if alg == "RS256":
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        return key.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg in ("EdDSA", "Ed25519"):
        return key.sign(message)
    if alg == "HS256":
        return hmac.new(key, message, hashlib.sha256).digest()
    raise AssertionError(alg)


def public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Issuer:
    """One configuration: the Tokens under test, and the private key the test signs crafted tokens with."""

    config: JwtConfig
    tokens: Tokens
    private: Any  # a cryptography private key, or the HMAC secret as bytes

    @property
    def alg(self) -> str:
        return self.config.http.algorithm

    @property
    def kid(self) -> str:
        return self.config.http.keyid

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A valid access token's claims at NOW, with ``changes`` (``DROP`` removes a claim)."""
        claims: dict[str, Any] = {
            "actor_id": "user_01",
            "actor_type": "user",
            "auth_identity_id": "authid_01",
            "app_metadata": {"user_id": "user_01"},
            "user_metadata": {},
            "iat": NOW,
            "exp": NOW + 3600,
            "jti": "jti-1",
        }
        if self.config.http.issuer:
            claims["iss"] = self.config.http.issuer
        if self.config.http.audience:
            claims["aud"] = self.config.http.audience[0]
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not DROP}

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid, **changes}
        return {k: v for k, v in header.items() if v is not DROP}

    def craft(self, payload: Any = None, header: Any = None, *, alg: str | None = None, key: Any = None) -> str:
        """A compact JWS signed here; by default a valid access token for this issuer."""
        encoded_header = b64(part(self.header() if header is None else header))
        return self.sign_segments(encoded_header, b64(part(self.claims() if payload is None else payload)), alg, key)

    def sign_segments(self, encoded_header: str, encoded_payload: str, alg: str | None = None, key: Any = None) -> str:
        """Sign two segments exactly as written, even when they are not valid base64url."""
        signing_input = f"{encoded_header}.{encoded_payload}"
        signature = raw_signature(alg or self.alg, self.private if key is None else key, signing_input.encode())
        return f"{signing_input}.{b64(signature)}"

    def refuses(self, token: str, kinds: set[TokenKind] = ACCESS) -> bool:
        try:
            self.tokens.verify(token, kinds)
        except InvalidToken:
            return True
        return False


def make_issuer(environ: dict[str, str], private: Any) -> Issuer:
    """An Issuer with Tokens of its own, so no test sees another's token cache; only the parsed config is shared."""
    config = _jwt_config(tuple(sorted(environ.items())))
    return Issuer(config, Tokens(KeySet.from_config(config), config.http), private)


@functools.cache
def _jwt_config(environ: tuple[tuple[str, str], ...]) -> JwtConfig:
    # Parsing a PEM costs tens of milliseconds and hundreds of tests use the same few; a JwtConfig is frozen.
    return get_jwt_config(dict(environ))


@functools.cache
def load_private(pem: str) -> Any:
    """The private key of a PEM, parsed once per session (keys are immutable)."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


# -- keys as the RFCs describe them --------------------------------------------------------------

HS_SECRET = "0123456789abcdef0123456789abcdef"  # exactly 32 bytes


def public_pem_of(private_pem: str) -> str:
    return public_key_pem(serialization.load_pem_private_key(private_pem.encode(), password=None).public_key())


def one_line(pem: str) -> str:
    """A PEM as the guide writes it in a .env file: one line, literal backslash-n."""
    return pem.strip().replace("\n", "\\n")


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def required_members(public_key: Any) -> dict[str, str]:
    """RFC 7638 §3.2's required members of a public key, computed from cryptography's numbers alone."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"e": b64(int_bytes(numbers.e)), "kty": "RSA", "n": b64(int_bytes(numbers.n))}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}


def rfc7638_thumbprint(public_key: Any) -> str:
    canonical = json.dumps(required_members(public_key), sort_keys=True, separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


# -- the guide's Node.js code, against a live server ---------------------------------------------

INTEROP = Path(__file__).resolve().parent / "interop"
NODE = shutil.which("node")
NODE_TIMEOUT = 30


def skip_without_node(package: str = "") -> None:
    """Skip the calling test module when node or the interop packages (``package`` among them) are missing."""
    if NODE is None:
        pytest.skip("node is not on PATH (the interop tests run Node.js code)", allow_module_level=True)
    if not (INTEROP / "node_modules" / package).is_dir():
        missing = f"tests/interop/node_modules lacks {package}" if package else "tests/interop/node_modules is missing"
        pytest.skip(f"{missing}: run `make node-deps`", allow_module_level=True)


def run_node(script: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(NODE), script, *args],
        cwd=INTEROP,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert result.returncode == 0, f"node {script} exited {result.returncode}:\n{result.stderr}"
    return result


def node_verify(server: LiveServer, token: str) -> tuple[bool, str]:
    """The guide's isValidJWTToken, with the JWKS fetched from the live server: (valid, its stderr)."""
    result = run_node("verify.js", [token], env={**server.env, "MEDUSA_BACKEND_URL": server.base_url})
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    answer = json.loads(lines[0])
    assert set(answer) == {"valid"} and isinstance(answer["valid"], bool), answer
    return bool(answer["valid"]), result.stderr


def node_verifies(server: LiveServer, token: str) -> bool:
    valid, stderr = node_verify(server, token)
    assert not valid or not stderr, stderr
    return valid


def run_sdk(script: str, scenario: str, base_url: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """One scenario of a tests/interop script driving Medusa's JS SDK against ``base_url``; its JSON answer."""
    result = subprocess.run(
        [shutil.which("node") or "node", script, scenario, base_url, *args],
        cwd=Path(__file__).resolve().parent / "interop",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{script} {scenario} exited {result.returncode}:\n{result.stderr}"
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload, base64-decoded only (no verification)."""
    header, payload, _ = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload))


def medusa_payload(claims: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Medusa's access-token payload for the user of a server-issued token's claims."""
    user_id = claims["actor_id"]
    return {
        "actor_id": user_id,
        "actor_type": "user",
        "auth_identity_id": claims["auth_identity_id"],
        "app_metadata": {"user_id": user_id},
        "user_metadata": {},
        **extra,
    }


def published_kid(server: LiveServer) -> str:
    response = server.get("/.well-known/jwks.json")
    assert response.status == 200, response.body
    [key] = response.json()["keys"]
    kid: str = key["kid"]
    return kid


def postgres_url() -> str | None:
    """The PostgreSQL database this test process runs on: TEST_DATABASE_URL's, or under pytest-xdist the
    worker's own beside it (``test_gw0``, ...), so that parallel workers never empty each other's tables."""
    url = os.environ.get("TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


def create_postgres_database(url: str) -> None:
    """Create ``url``'s database if it is missing, connected to TEST_DATABASE_URL's (which exists)."""
    name = make_url(url).database
    engine = create_engine(sqlalchemy_url(os.environ["TEST_DATABASE_URL"]), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def backends() -> list:
    """The databases a live-server test runs on: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    postgres = postgres_url()
    return [
        pytest.param(None, id="sqlite", marks=pytest.mark.backend("sqlite")),
        pytest.param(
            postgres,
            id="postgresql",
            marks=[
                pytest.mark.backend("postgresql"),
                pytest.mark.skipif(not postgres, reason="TEST_DATABASE_URL is not set"),
            ],
        ),
    ]


def empty_database(url: str, rsa_pem: str) -> None:
    """Delete every row of the database at ``url`` (a live server's, which the ``app`` fixture does not empty)."""
    app = create_app({"APP_ENV": "test", "JWT_SECRET_KEY": rsa_pem, "DATABASE_URL": url, "COOKIE_SECRET": "x" * 32})
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.engine.dispose()


# -- API keys ------------------------------------------------------------------------------------


def _b64_text(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def api_key_attacks(secret: str, publishable_token: str, revoked: str) -> dict[str, str]:
    """Every way a Basic credential is not a live secret key (the attack corpus' API-key cases)."""
    return {
        "a password part": "Basic " + _b64_text(f"{secret}:secret"),
        "the key as the password": "Basic " + _b64_text(f":{secret}"),
        "truncated": "Basic " + _b64_text(f"{secret[:-1]}:"),
        "one more character": "Basic " + _b64_text(f"{secret}0:"),
        "upper-case hex": "Basic " + _b64_text(f"sk_{secret[3:].upper()}:"),
        "wrong prefix": "Basic " + _b64_text(f"ak_{secret[3:]}:"),
        "no prefix": "Basic " + _b64_text(f"{secret[3:]}:"),
        "a publishable key as a secret one": "Basic " + _b64_text(f"{publishable_token}:"),
        "a publishable key raw": f"Basic {publishable_token}",
        "revoked": "Basic " + _b64_text(f"{revoked}:"),
        "unknown": "Basic " + _b64_text(f"sk_{'0' * 64}:"),
        "not base64": "Basic %%%%",
        "base64 of bytes that are not text": "Basic " + base64.b64encode(b"\xff\xfe" * 30).decode(),
        "empty": "Basic ",
        "oversized": "Basic " + _b64_text(f"{secret}:" + "x" * 5000),
        "raw with a password part": f"Basic {secret}:secret",
        "a space inside": f"Basic {secret[:10]} {secret[10:]}",
    }


def security_events(caplog: pytest.LogCaptureFixture, name: str | None = None) -> list[dict[str, Any]]:
    """The security log's events (``name``'s only, when given), as the JSON each line holds."""
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "medusa_auth.security"]
    return [event for event in events if name is None or event["event"] == name]
