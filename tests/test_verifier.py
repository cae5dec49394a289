"""Verifying elsewhere (SPEC §8): the JWTVerifier extension in the example service, and the service's
own verifier-only mode; keys come over real HTTP from a JWKS endpoint on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g

from examples.orders_service import create_app as create_orders_app
from medusa_auth import create_app
from medusa_auth.database import db
from medusa_auth.errors import SIGNING_UNAVAILABLE_MESSAGE
from medusa_auth.extension import medusa_auth
from medusa_auth.models import AuthIdentity
from medusa_auth.settings import ConfigError
from medusa_auth.verifier import JWTVerifier
from tests.helpers import PASSWORD, bearer
from tests.jwks_fixtures import JwksServer, Signer
from tests.live import free_port

UNAUTHORIZED = {"type": "unauthorized", "message": "Invalid auth token provided"}


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.get_json()
    assert response.get_json() == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.fixture
def signer(jwks_server: JwksServer) -> Signer:
    signer = Signer("issuer-key")
    jwks_server.publish(signer)
    return signer


@pytest.fixture
def orders_app(jwks_server: JwksServer, signer: Signer) -> Flask:
    return create_orders_app({"JWKS_URL": jwks_server.url})


# -- the example service (JWTVerifier) -------------------------------------------------------------


def test_the_protected_route_answers_the_token_holder(orders_app, signer):
    response = orders_app.test_client().get("/orders", headers=bearer(signer.token()))
    assert response.status_code == 200
    assert response.get_json() == {"orders": [], "customer_id": "user_01TEST"}


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic abc", "Bearer a.b.c", "Bearer x y"])
def test_a_missing_or_malformed_credential_gets_the_guards_401(orders_app, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_refused(orders_app.test_client().get("/orders", headers=headers))


def test_forged_unknown_kid_and_registration_tokens_are_refused(orders_app, signer):
    client = orders_app.test_client()
    assert_refused(client.get("/orders", headers=bearer(Signer(signer.kid).token())))
    assert_refused(client.get("/orders", headers=bearer(Signer("other").token())))
    assert_refused(client.get("/orders", headers=bearer(signer.token(actor_id="", app_metadata={}))))
    assert_refused(client.get("/orders", headers=bearer(signer.token(exp=1_000_000))))


def test_other_routes_are_left_alone(orders_app):
    assert orders_app.test_client().get("/health").status_code == 200


def test_issuer_and_audience_are_required_when_set(jwks_server, signer):
    app = create_orders_app({"JWKS_URL": jwks_server.url, "JWT_ISSUER": "https://auth", "JWT_AUDIENCE": "orders,bill"})
    client = app.test_client()
    assert_refused(client.get("/orders", headers=bearer(signer.token())))
    assert_refused(client.get("/orders", headers=bearer(signer.token(iss="https://auth", aud="shop"))))
    assert_refused(client.get("/orders", headers=bearer(signer.token(iss="https://other", aud="bill"))))
    good = signer.token(iss="https://auth", aud=["shop", "bill"])
    assert client.get("/orders", headers=bearer(good)).status_code == 200


def test_jwt_algorithm_is_the_only_algorithm_accepted(jwks_server):
    rsa, ec = Signer("rsa"), Signer("ec", "ES256")
    jwks_server.publish(rsa, ec)
    client = create_orders_app({"JWKS_URL": jwks_server.url, "JWT_ALGORITHM": "ES256"}).test_client()
    assert client.get("/orders", headers=bearer(ec.token())).status_code == 200
    assert_refused(client.get("/orders", headers=bearer(rsa.token())))


def test_path_prefixes_guard_routes_added_later_and_put_the_claims_on_g(jwks_server, signer):
    app = Flask(__name__)
    app.config.update(JWKS_URL=jwks_server.url, JWT_PROTECTED_PATHS="/api, /internal")
    JWTVerifier(app)

    @app.get("/api/whoami")
    def whoami() -> dict[str, Any]:
        return {"actor_id": g.auth_context["actor_id"]}

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    client = app.test_client()
    assert client.get("/api/whoami", headers=bearer(signer.token())).get_json() == {"actor_id": "user_01TEST"}
    assert_refused(client.get("/api/whoami"))
    assert_refused(client.get("/api//whoami"))
    assert_refused(client.get("/api/no-such-route"))  # guarded before routing: no 404 that maps the API
    assert_refused(client.get("/internal"))
    assert client.get("/public").status_code == 200
    assert client.get("/apiary").status_code == 404


def test_a_customers_token_opens_only_a_verifier_that_names_customers(jwks_server, signer):
    customer = signer.token(actor_type="customer", actor_id="cus_01", app_metadata={"customer_id": "cus_01"})
    admins, shop = Flask("admins"), Flask("shop")
    for app, actor_types in ((admins, ("user",)), (shop, ("customer",))):
        app.config.update(JWKS_URL=jwks_server.url, JWT_PROTECTED_PATHS="/api")
        JWTVerifier(app, actor_types=actor_types)
        app.add_url_rule("/api/me", "me", lambda: {"actor_id": g.auth_context["actor_id"]})
    assert_refused(admins.test_client().get("/api/me", headers=bearer(customer)))
    assert shop.test_client().get("/api/me", headers=bearer(customer)).get_json() == {"actor_id": "cus_01"}
    assert_refused(shop.test_client().get("/api/me", headers=bearer(signer.token())))  # a user's


def test_the_jwks_url_defaults_to_the_one_under_medusa_backend_url(jwks_server, signer):
    app = create_orders_app({"MEDUSA_BACKEND_URL": jwks_server.base_url + "/"})
    assert app.test_client().get("/orders", headers=bearer(signer.token())).status_code == 200
    assert jwks_server.fetches() == 1


def test_counters_are_readable_from_the_app(orders_app, signer):
    client = orders_app.test_client()
    for _ in range(3):
        client.get("/orders", headers=bearer(signer.token()))
    client.get("/orders", headers=bearer(Signer("unknown").token()))
    with orders_app.app_context():
        counters = JWTVerifier().counters()
    assert counters["fetches"] == 2 and counters["hits"] == 3 and counters["misses"] == 1
    assert counters["unknown_kid_refetches"] == 1 and counters["failures"] == 0


def test_an_unreachable_jwks_gets_401_not_500(signer):
    app = create_orders_app({"JWKS_URL": f"http://127.0.0.1:{free_port()}/jwks.json"})
    assert_refused(app.test_client().get("/orders", headers=bearer(signer.token())))


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({}, "JWKS_URL"),
        ({"JWKS_URL": "http://issuer.example.com/jwks.json"}, "JWKS_URL"),
        ({"MEDUSA_BACKEND_URL": "http://issuer.example.com"}, "MEDUSA_BACKEND_URL"),
        ({"JWKS_URL": "https://issuer.example.com/jwks.json", "JWT_ALGORITHM": "HS256"}, "JWT_ALGORITHM"),
    ],
)
def test_init_app_refuses_a_bad_configuration_with_one_line(settings, variable):
    with pytest.raises(ConfigError, match=variable) as refused:
        create_orders_app(settings)
    assert "\n" not in str(refused.value)


# -- the service itself, verifier-only ---------------------------------------------------------------


@pytest.fixture
def issuer_jwks(app: Flask, jwks_server: JwksServer) -> JwksServer:
    """The JWKS endpoint serves exactly what the issuing app publishes."""
    with app.app_context():
        document = medusa_auth().keys.jwks
    assert document is not None
    jwks_server.answer.body = document.body
    return jwks_server


@pytest.fixture
def verifier_only(app_factory: Any, issuer_jwks: JwksServer) -> Flask:
    app: Flask = app_factory(JWT_SECRET_KEY=None, JWKS_URL=issuer_jwks.url)
    return app


def test_a_verifier_only_instance_starts_and_guards_admin_with_the_remote_jwks(auth, verifier_only, issuer_jwks):
    token = auth.token("verifier@example.com")
    client = verifier_only.test_client()
    response = client.get("/admin/users/me", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["email"] == "verifier@example.com"
    assert_refused(client.get("/admin/users/me"))
    assert_refused(client.get("/admin/users", headers=bearer(Signer("stranger").token())))
    assert issuer_jwks.fetches() == 2  # the first request, and one refetch for the stranger's kid
    ready = client.get("/ready").get_json()
    assert ready["checks"]["keys"] is True
    assert ready["jwks"]["fetches"] == 2 and ready["jwks"]["hits"] == 1 and ready["jwks"]["misses"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/auth/user/emailpass",
        "/auth/user/emailpass/register",
        "/auth/token/refresh",
        "/auth/session",
        "/auth//user/emailpass",
    ],
)
def test_a_verifier_only_instance_answers_sign_in_with_501(auth, verifier_only, path):
    auth.create_user("someone@example.com")
    response = verifier_only.test_client().post(path, json={"email": "someone@example.com", "password": PASSWORD})
    assert response.status_code == 501
    assert response.get_json() == {"type": "not_implemented", "message": SIGNING_UNAVAILABLE_MESSAGE}


def test_registration_on_a_verifier_only_instance_writes_nothing(verifier_only):
    response = verifier_only.test_client().post(
        "/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert response.status_code == 501
    with verifier_only.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AuthIdentity)).scalar_one() == 0


def test_any_token_issuing_code_on_a_verifier_only_instance_answers_501(verifier_only):
    @verifier_only.get("/issue-something")
    def issue() -> dict[str, str]:
        return {"token": medusa_auth().tokens.issue_auth_token("authid_1", "user_1", {})}

    response = verifier_only.test_client().get("/issue-something")
    assert response.status_code == 501
    assert response.get_json()["type"] == "not_implemented"


def test_the_issuer_never_fetches_its_own_jwks(auth, app_factory, issuer_jwks, caplog):
    token = auth.token("issuer@example.com")
    with caplog.at_level("WARNING", logger="medusa_auth"):
        issuer = app_factory(JWKS_URL=issuer_jwks.url)
    assert "JWKS_URL is ignored" in caplog.text
    assert issuer.test_client().get("/admin/users/me", headers=bearer(token)).status_code == 200
    assert issuer_jwks.fetches() == 0


def test_a_verifier_only_instance_refuses_a_symmetric_algorithm_at_startup(settings, jwks_server):
    with pytest.raises(ConfigError, match="JWT_ALGORITHM=HS256"):
        create_app({**settings, "JWT_SECRET_KEY": None, "JWKS_URL": jwks_server.url, "JWT_ALGORITHM": "HS256"})


def test_a_verifier_only_instance_pinned_to_es256_refuses_the_rsa_issuers_tokens(auth, app_factory, issuer_jwks):
    token = auth.token("pinned@example.com")
    pinned = app_factory(JWT_SECRET_KEY=None, JWKS_URL=issuer_jwks.url, JWT_ALGORITHM="ES256")
    assert_refused(pinned.test_client().get("/admin/users/me", headers=bearer(token)))
