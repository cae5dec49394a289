"""/.well-known/jwks.json (both of the guide's options) and the discovery document; health."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from medusa_auth.keys.material import PRIVATE_JWK_MEMBERS

HS_SECRET = "s" * 40
JWKS_CONTENT = json.dumps(
    {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "kid": "from-env",
                "use": "sig",
                "alg": "ES256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }
        ]
    },
    indent=1,  # served verbatim: spacing and all
)


def test_jwks_publishes_the_public_key_only(client, auth):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    [key] = response.get_json()["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    assert not PRIVATE_JWK_MEMBERS & set(key)
    # The published key verifies what the service signs, and nothing else is needed to do so.
    token = auth.token()
    decoded = jwt.decode(token, KeySet.import_key_set(response.get_json()), algorithms=["RS256"])
    assert decoded.header["kid"] == key["kid"]


@pytest.mark.parametrize("pem_fixture,kty,alg", [("ec_pem", "EC", "ES256"), ("ed25519_pem", "OKP", "EdDSA")])
def test_jwks_for_other_key_types(request, app_factory, pem_fixture, kty, alg):
    client = app_factory(JWT_SECRET_KEY=request.getfixturevalue(pem_fixture)).test_client()
    [key] = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert (key["kty"], key["alg"]) == (kty, alg)
    assert "d" not in key


def test_jwks_is_cacheable_and_answers_304_to_a_matching_etag(client):
    first = client.get("/.well-known/jwks.json")
    assert "max-age=300" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    changed = client.get("/.well-known/jwks.json", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


@pytest.mark.settings(JWKS_CONTENT=JWKS_CONTENT)
def test_jwks_content_is_served_verbatim(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.data == JWKS_CONTENT.encode()
    assert "ETag" in response.headers


@pytest.mark.settings(JWT_SECRET_KEY=HS_SECRET, JWT_ALGORITHM="HS256")
def test_a_shared_secret_is_never_published(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 500
    assert response.get_json() == {"error": "No public key configured"}
    assert HS_SECRET not in response.get_data(as_text=True)


@pytest.mark.settings(JWT_ISSUER="medusa", MEDUSA_BACKEND_URL="https://auth.example.com/")
def test_openid_configuration_points_at_the_jwks(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == "medusa"
    assert document["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": True, "keys": True}


@pytest.mark.settings(DATABASE_URL="sqlite:////nonexistent-dir/for/sure/db.sqlite3")
def test_ready_reports_an_unreachable_database(client):
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] is False


def test_jwks_body_is_computed_once_per_key_set(app, client):
    """The JWKS bytes come from the key set built at startup, not from each request."""
    document = app.extensions["medusa_auth"].keys.jwks
    assert client.get("/.well-known/jwks.json").data is not None
    assert json.loads(document.body) == client.get("/.well-known/jwks.json").get_json()
