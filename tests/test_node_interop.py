"""SPEC §8: tokens from medusa_auth verify in Node.js with the guide's own code (jsonwebtoken +
jwks-rsa against /.well-known/jwks.json), and tokens that jsonwebtoken signs with the same key and
kid are accepted here. Real gunicorn, real node, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    PASSWORD,
    b64,
    bearer,
    medusa_payload,
    node_verifies,
    node_verify,
    published_kid,
    run_node,
    skip_without_node,
    unb64,
    unverified,
)
from tests.live import LiveServer, live_server, rsa_private_pem, write_private_file

pytestmark = pytest.mark.slow

EMAIL = "node-interop@example.com"

skip_without_node()


def assert_node_refuses_signature(server: LiveServer, token: str) -> None:
    """Refused by the guide's code because of the signature (not, say, because the JWKS was unreachable)."""
    valid, stderr = node_verify(server, token)
    assert valid is False
    assert "invalid signature" in stderr, stderr


def node_signs(key_file: Path, kid: str, payload: dict[str, Any]) -> str:
    token = run_node("sign.js", [str(key_file), kid, json.dumps(payload)]).stdout.strip()
    assert token.count(".") == 2, token
    return token


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
    claims = json.loads(unb64(payload))
    claims["actor_id"] = claims["app_metadata"]["user_id"] = "user_01SOMEONEELSE"
    tampered = f"{header}.{b64(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"
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
