"""SPEC §8: tokens from medusa_auth verify in Node.js with the guide's own code (jsonwebtoken +
jwks-rsa against /.well-known/jwks.json), and tokens that jsonwebtoken signs with the same key and
kid are accepted here. Real gunicorn, real node, real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer, live_server, rsa_private_pem, write_private_file

pytestmark = pytest.mark.slow

INTEROP = Path(__file__).resolve().parent / "interop"
NODE = shutil.which("node")
NODE_TIMEOUT = 30
EMAIL = "node-interop@example.com"
PASSWORD = "correct horse battery staple"

if NODE is None:
    pytest.skip("node is not on PATH (the interop tests run the guide's Node.js code)", allow_module_level=True)
if not (INTEROP / "node_modules").is_dir():
    pytest.skip("tests/interop/node_modules is missing: run `make node-deps`", allow_module_level=True)


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


def assert_node_refuses_signature(server: LiveServer, token: str) -> None:
    """Refused by the guide's code because of the signature (not, say, because the JWKS was unreachable)."""
    valid, stderr = node_verify(server, token)
    assert valid is False
    assert "invalid signature" in stderr, stderr


def node_signs(key_file: Path, kid: str, payload: dict[str, Any]) -> str:
    token = run_node("sign.js", [str(key_file), kid, json.dumps(payload)]).stdout.strip()
    assert token.count(".") == 2, token
    return token


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload, base64-decoded only (no verification)."""
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def published_kid(server: LiveServer) -> str:
    response = server.get("/.well-known/jwks.json")
    assert response.status == 200, response.body
    [key] = response.json()["keys"]
    kid: str = key["kid"]
    return kid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("node-interop"), user=(EMAIL, PASSWORD)) as running:
        yield running


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return server.login(EMAIL, PASSWORD)


# (a) medusa_auth signs, the guide's Node.js code verifies


def test_server_token_verifies_with_the_guides_node_code(server, token):
    header, claims = unverified(token)
    assert header["kid"] == published_kid(server) and header["alg"] == "RS256"
    assert claims["actor_id"] and claims["actor_type"] == "user"
    assert node_verifies(server, token) is True


# (b) the same token, tampered with, is refused there (and here)


def test_token_with_one_signature_character_changed_is_refused_by_node(server, token):
    header, payload, signature = token.split(".")
    # A character in the middle: all six of its bits are signature bits (the last one's are not all).
    middle = len(signature) // 2
    changed = "A" if signature[middle] != "A" else "B"
    tampered = f"{header}.{payload}.{signature[:middle]}{changed}{signature[middle + 1 :]}"
    assert tampered != token
    assert_node_refuses_signature(server, tampered)
    assert server.get("/admin/users/me", headers=bearer(tampered)).status == 401


def test_token_with_payload_changed_is_refused_by_node(server, token):
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["actor_id"] = claims["app_metadata"]["user_id"] = "user_01SOMEONEELSE"
    tampered = f"{header}.{b64url_encode(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"
    assert_node_refuses_signature(server, tampered)
    assert server.get("/admin/users/me", headers=bearer(tampered)).status == 401


# (c) jsonwebtoken signs with the same key and kid, medusa_auth verifies


def test_token_signed_by_node_with_the_same_key_and_kid_is_accepted(server, token):
    _, claims = unverified(token)
    node_token = node_signs(server.key_file, published_kid(server), medusa_payload(claims))
    node_header, _ = unverified(node_token)
    assert node_header == {"alg": "RS256", "typ": "JWT", "kid": published_kid(server)}
    me = server.get("/admin/users/me", headers=bearer(node_token))
    assert me.status == 200, me.body
    user = me.json()["user"]
    assert user["id"] == claims["actor_id"]
    assert user["email"] == EMAIL
    # And the guide's verifier agrees that it is a good token.
    assert node_verifies(server, node_token) is True


def test_token_signed_by_node_with_another_key_under_that_kid_is_refused(server, token, tmp_path):
    _, claims = unverified(token)
    other_key = write_private_file(tmp_path / "other.pem", rsa_private_pem())
    forged = node_signs(other_key, published_kid(server), medusa_payload(claims))
    response = server.get("/admin/users/me", headers=bearer(forged))
    assert response.status == 401, response.body
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"type": "unauthorized", "message": "Invalid auth token provided"}
    assert_node_refuses_signature(server, forged)


# (a) again, with JWT_ISSUER and JWT_AUDIENCE set on the server


def test_issuer_and_audience_tokens_still_verify_with_the_guides_node_code(tmp_path):
    settings = {"JWT_ISSUER": "medusa", "JWT_AUDIENCE": "medusa-api,storefront"}
    with live_server(tmp_path, extra_env=settings, user=(EMAIL, PASSWORD)) as issuing:
        token = issuing.login(EMAIL, PASSWORD)
        _, claims = unverified(token)
        assert claims["iss"] == "medusa"
        assert claims["aud"] == ["medusa-api", "storefront"]
        # The guide's jwt.verify passes no issuer or audience, so it checks only signature and times.
        assert node_verifies(issuing, token) is True
        assert issuing.get("/admin/users/me", headers=bearer(token)).status == 200
        # This server requires them: a Node token without iss/aud is refused, one carrying them accepted.
        kid = published_kid(issuing)
        without = node_signs(issuing.key_file, kid, medusa_payload(claims))
        assert issuing.get("/admin/users/me", headers=bearer(without)).status == 401
        with_claims = node_signs(issuing.key_file, kid, medusa_payload(claims, iss="medusa", aud="storefront"))
        assert issuing.get("/admin/users/me", headers=bearer(with_claims)).status == 200
