"""Verifying elsewhere, end to end: the issuer under gunicorn publishes its JWKS over real HTTP; the example
service (JWTVerifier), a verifier-only instance of the service and the guide's Node.js code verify from it.

Interop both ways for RS256, ES256 and EdDSA: Node signs (jsonwebtoken; `jose` for EdDSA, which
jsonwebtoken lacks) and the example service verifies; the issuer signs and the guide's middleware
(jsonwebtoken + jwks-rsa; its `jose` form for EdDSA) verifies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.orders_service import create_app as create_orders_app
from medusa_auth.keys.material import (
    generate_private_key,
    load_private_pem,
    private_key_pem,
    public_jwk,
    thumbprint,
    to_joserfc_key,
)
from tests.helpers import (
    PASSWORD,
    bearer,
    medusa_payload,
    node_verifies,
    published_kid,
    run_node,
    skip_without_node,
    unverified,
)
from tests.live import (
    LiveServer,
    ServerFailed,
    free_port,
    live_server,
    server_environment,
    start_gunicorn,
    stop_process,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow

EXAMPLE_APP = "examples.orders_service:create_app()"
EXAMPLE_CONFIG = "examples/gunicorn.conf.py"

EMAIL = "verifier-live@example.com"
KEY_TYPE = {"RS256": "RSA", "ES256": "EC", "EdDSA": "Ed25519"}
UNAUTHORIZED = {"type": "unauthorized", "message": "Invalid auth token provided"}

skip_without_node()  # most tests here run the guide's Node.js code


def node_signs(key_file: Path, kid: str, algorithm: str, payload: dict[str, Any]) -> str:
    env = {**os.environ, "JWT_ALGORITHM": algorithm}
    token = run_node("sign.js", [str(key_file), kid, json.dumps(payload)], env=env).stdout.strip()
    assert token.count(".") == 2, token
    return token


def node_jose_verifies(server: LiveServer, token: str) -> bool:
    result = run_node("verify_jose.js", [token], env={**os.environ, "MEDUSA_BACKEND_URL": server.base_url})
    answer = json.loads(result.stdout.strip())
    assert not answer["valid"] or not result.stderr, result.stderr
    return bool(answer["valid"])


def orders_client(issuer: LiveServer, **settings: Any) -> Any:
    app = create_orders_app({"JWKS_URL": issuer.base_url + "/.well-known/jwks.json", **settings})
    return app, app.test_client()


@pytest.fixture(scope="module", params=sorted(KEY_TYPE))
def issuer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    pem = private_key_pem(generate_private_key(KEY_TYPE[request.param]))
    with live_server(
        tmp_path_factory.mktemp(f"issuer-{request.param}"), user=(EMAIL, PASSWORD), private_key_pem=pem
    ) as s:
        yield s


def algorithm_of(server: LiveServer) -> str:
    response = server.get("/.well-known/jwks.json")
    [key] = response.json()["keys"]
    algorithm: str = key["alg"]
    return algorithm


# -- interop both ways, per algorithm ----------------------------------------------------------------


def test_the_guides_node_middleware_verifies_the_issuers_tokens(issuer):
    token = issuer.login(EMAIL, PASSWORD)
    algorithm = algorithm_of(issuer)
    assert unverified(token)[0]["alg"] == algorithm
    if algorithm != "EdDSA":  # jsonwebtoken cannot verify EdDSA at all
        assert node_verifies(issuer, token) is True
    assert node_jose_verifies(issuer, token) is True
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:10]}{'A' if signature[10] != 'A' else 'B'}{signature[11:]}"
    assert node_jose_verifies(issuer, tampered) is False


def test_the_example_service_verifies_tokens_that_node_signs(issuer):
    algorithm = algorithm_of(issuer)
    _, claims = unverified(issuer.login(EMAIL, PASSWORD))
    node_token = node_signs(issuer.key_file, published_kid(issuer), algorithm, medusa_payload(claims))
    assert unverified(node_token)[0] == {"alg": algorithm, "typ": "JWT", "kid": published_kid(issuer)}
    app, client = orders_client(issuer)
    response = client.get("/orders", headers=bearer(node_token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"orders": [], "customer_id": claims["actor_id"]}
    # Signed by Node with another key under the issuer's kid: refused, with the guard's 401.
    other = issuer.tmp_dir / "other.pem"
    other.write_text(private_key_pem(generate_private_key(KEY_TYPE[algorithm])))
    forged = node_signs(other, published_kid(issuer), algorithm, medusa_payload(claims))
    refused = client.get("/orders", headers=bearer(forged))
    assert refused.status_code == 401 and refused.get_json() == UNAUTHORIZED
    with app.app_context():
        assert app.extensions["medusa_auth.verifier"].keys.counters()["fetches"] == 1


def test_the_example_service_verifies_the_issuers_own_tokens(issuer):
    _, client = orders_client(issuer)
    token = issuer.login(EMAIL, PASSWORD)
    assert client.get("/orders", headers=bearer(token)).status_code == 200


# -- whole services under gunicorn ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("rsa-issuer"), user=(EMAIL, PASSWORD)) as server:
        yield server


def test_the_example_service_under_gunicorn_guards_its_route(rsa_issuer, tmp_path):
    port = free_port()
    env = server_environment({"JWKS_URL": rsa_issuer.base_url + "/.well-known/jwks.json"})
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        process = start_gunicorn(port, env, out, err, app=EXAMPLE_APP, config=EXAMPLE_CONFIG)
    example = LiveServer(
        f"http://127.0.0.1:{port}", env, tmp_path, tmp_path, process, tmp_path / "out", tmp_path / "err"
    )
    try:
        wait_until_healthy(example)
        token = rsa_issuer.login(EMAIL, PASSWORD)
        assert example.get("/orders", headers=bearer(token)).status == 200
        refused = example.get("/orders")
        assert refused.status == 401 and refused.json() == UNAUTHORIZED
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    finally:
        stop_process(process)


def test_a_verifier_only_instance_under_gunicorn_starts_verifies_and_answers_sign_in_with_501(rsa_issuer, tmp_path):
    settings = {
        "JWT_SECRET_KEY_FILE": None,  # no key at all: verifier-only
        "JWKS_URL": rsa_issuer.base_url + "/.well-known/jwks.json",
        "DATABASE_URL": rsa_issuer.env["DATABASE_URL"],  # a replica reading the issuer's database
    }
    with live_server(tmp_path, extra_env=settings) as replica:
        token = rsa_issuer.login(EMAIL, PASSWORD)
        me = replica.get("/admin/users/me", headers=bearer(token))
        assert me.status == 200, me.body
        assert me.json()["user"]["email"] == EMAIL
        assert replica.get("/admin/users/me").status == 401
        login = replica.post("/auth/user/emailpass", json_body={"email": EMAIL, "password": PASSWORD})
        assert login.status == 501 and login.json()["type"] == "not_implemented"
        assert replica.get("/ready").status == 200


def test_a_verifier_only_instance_pointed_at_plain_http_elsewhere_does_not_start(tmp_path):
    settings = {"JWT_SECRET_KEY_FILE": None, "JWKS_URL": "http://issuer.example.com/.well-known/jwks.json"}
    with pytest.raises(ServerFailed, match="must use https"), live_server(tmp_path, extra_env=settings):
        pass


def test_a_key_added_by_the_issuer_is_picked_up_on_first_sight_of_its_kid(tmp_path):
    first_pem, second_pem = (private_key_pem(generate_private_key("RSA")) for _ in range(2))
    port = free_port()
    with live_server(tmp_path / "a", user=(EMAIL, PASSWORD), private_key_pem=first_pem, port=port) as issuer:
        app, client = orders_client(issuer)
        first_token = issuer.login(EMAIL, PASSWORD)
        assert client.get("/orders", headers=bearer(first_token)).status_code == 200
    # The issuer comes back signing with a new key and publishing both (the guide's JWKS_CONTENT).
    both = {"keys": [_published(first_pem), _published(second_pem)]}
    extra = {"JWKS_CONTENT": json.dumps(both)}
    with live_server(
        tmp_path / "b", user=(EMAIL, PASSWORD), private_key_pem=second_pem, port=port, extra_env=extra
    ) as issuer:
        second_token = issuer.login(EMAIL, PASSWORD)
        assert unverified(second_token)[0]["kid"] != unverified(first_token)[0]["kid"]
        assert client.get("/orders", headers=bearer(second_token)).status_code == 200
        assert client.get("/orders", headers=bearer(first_token)).status_code == 200
        with app.app_context():
            counters = app.extensions["medusa_auth.verifier"].keys.counters()
        assert counters["fetches"] == 2 and counters["unknown_kid_refetches"] == 1 and counters["failures"] == 0


def _published(pem: str) -> dict[str, Any]:
    key = to_joserfc_key(load_private_pem(pem).public_key())
    return public_jwk(key, thumbprint(key), "RS256")
