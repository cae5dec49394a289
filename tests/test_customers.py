"""Customers and any actor (SPEC §9): the generic /auth/{actor_type}/{provider} routes, /store/customers,
one identity for several actors, and the actor type in every authorization decision."""

from __future__ import annotations

import logging
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from medusa_auth import create_app
from medusa_auth.actors import Actors
from medusa_auth.admin import invite_service
from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.models import AuthIdentity, BrowserSession, Customer
from medusa_auth.settings import ConfigError, parse_auth_methods
from medusa_auth.store import customer_service
from medusa_auth.tokens import TokenKind
from tests.helpers import PASSWORD, bearer, claims_of, security_events
from tests.web_fixtures import Mailbox, link_in, token_of

REFUSED = {"type": "unauthorized", "message": "Invalid auth token provided"}
STOREFRONT = "https://shop.example.com"
SHOP_ORIGIN = "https://shop.example.com"
NEW_PASSWORD = "a brand new passphrase"
EMAILPASS = {
    "id": "emailpass",
    "identifier": "emailpass",
    "display_name": "Email/Password Authentication",
    "flow": "credentials",
}


pytestmark = pytest.mark.settings(STOREFRONT_URL=STOREFRONT, STORE_CORS=SHOP_ORIGIN)


@pytest.fixture
def settings(settings: dict[str, Any], mailbox: Mailbox) -> dict[str, Any]:
    return {**settings, **mailbox.settings()}


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.get_json() == REFUSED
    assert response.headers.get("WWW-Authenticate") == "Bearer"


def token(response: Any) -> str:
    assert response.status_code == 200, response.get_json()
    value: str = response.get_json()["token"]
    return value


def register(client: FlaskClient, email: str, actor: str = "customer", password: str = PASSWORD) -> Any:
    return client.post(f"/auth/{actor}/emailpass/register", json={"email": email, "password": password})


def login(client: FlaskClient, email: str, actor: str = "customer", password: str = PASSWORD) -> Any:
    return client.post(f"/auth/{actor}/emailpass", json={"email": email, "password": password})


def sign_up(client: FlaskClient, email: str = "shopper@example.com", **fields: Any) -> str:
    """Medusa's storefront sign-up: register, create the customer, log in; the customer's access token."""
    registration = token(register(client, email))
    created = client.post("/store/customers", json={"email": email, **fields}, headers=bearer(registration))
    assert created.status_code == 200, created.get_json()
    return token(login(client, email))


# -- AUTH_METHODS_PER_ACTOR ------------------------------------------------------------------------


def test_the_default_gives_users_and_customers_emailpass():
    assert dict(parse_auth_methods(None)) == {"user": ("emailpass",), "customer": ("emailpass",)}


def test_named_actors_replace_their_default_and_others_keep_it():
    methods = parse_auth_methods(" customer = ; manager=emailpass,emailpass ")
    assert dict(methods) == {"user": ("emailpass",), "customer": (), "manager": ("emailpass",)}


@pytest.mark.parametrize(
    "value",
    ["customer", "Customer=emailpass", "cus-tomer=emailpass", "token=emailpass", "session=emailpass", "x=Email"],
)
def test_a_malformed_or_reserved_entry_stops_startup_naming_the_variable(value: str):
    with pytest.raises(ConfigError, match="^AUTH_METHODS_PER_ACTOR"):
        parse_auth_methods(value)


@pytest.mark.parametrize("value", ["customer=google", "emailpass=emailpass"])
def test_an_unknown_provider_or_a_provider_named_actor_stops_create_app(app_factory, value: str):
    with pytest.raises(ConfigError, match="^AUTH_METHODS_PER_ACTOR"):
        app_factory(AUTH_METHODS_PER_ACTOR=value)


def test_actors_know_the_built_in_types_even_without_providers():
    actors = Actors.from_settings({"manager": ("emailpass",)})
    assert actors.types == {"user", "customer", "manager"}
    assert not actors.allows("customer", "emailpass") and actors.allows("manager", "emailpass")


# -- GET /auth/{actor_type}/providers --------------------------------------------------------------


@pytest.mark.parametrize("actor", ["user", "customer"])
def test_providers_lists_emailpass_with_medusas_fields(client: FlaskClient, actor: str):
    response = client.get(f"/auth/{actor}/providers")
    assert response.status_code == 200
    assert response.get_json() == {"providers": [EMAILPASS]}


@pytest.mark.settings(AUTH_METHODS_PER_ACTOR="customer=")
def test_an_actor_type_allowed_no_provider_lists_none_and_signs_in_nowhere(client: FlaskClient):
    assert client.get("/auth/customer/providers").get_json() == {"providers": []}
    assert_refused(login(client, "shopper@example.com"))
    assert_refused(register(client, "shopper@example.com"))
    assert client.get("/auth/user/providers").get_json() == {"providers": [EMAILPASS]}


# -- a pair that is not allowed: 401 on every route, never a 404 ------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/admin/emailpass"),
        ("GET", "/auth/admin/emailpass"),
        ("POST", "/auth/admin/emailpass/register"),
        ("POST", "/auth/admin/emailpass/reset-password"),
        ("POST", "/auth/admin/emailpass/update"),
        ("GET", "/auth/admin/providers"),
        ("POST", "/auth/customer/google"),
        ("POST", "/auth/customer/google/register"),
        ("POST", "/auth/customer/google/reset-password"),
        ("POST", "/auth/customer/google/update"),
        ("POST", "/auth/user/github"),
        ("POST", "/auth/manager/emailpass"),
        ("POST", "/auth/api-key/emailpass"),
    ],
)
def test_a_pair_not_allowed_is_refused_like_a_forged_token(
    client: FlaskClient, method: str, path: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    body = {"email": "a@example.com", "password": PASSWORD, "identifier": "a@example.com"}
    response = client.open(path, method=method, json=body)
    assert_refused(response)
    assert [e["event"] for e in security_events(caplog)] == ["actor_refused"]


def test_a_pair_not_allowed_answers_before_any_password_work(client: FlaskClient, auth, caplog):
    """No login is counted or checked for it: the refusal is the pair's, whoever the email is."""
    auth.create_user()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    assert_refused(login(client, "admin@example.com", actor="admin"))
    assert "login_failed" not in caplog.text and "login_succeeded" not in caplog.text


@pytest.mark.settings(AUTH_METHODS_PER_ACTOR="manager=emailpass")
def test_an_operators_own_actor_type_signs_in_to_a_registration_token(client: FlaskClient, auth):
    auth.create_user("boss@example.com")
    claims = claims_of(token(login(client, "boss@example.com", actor="manager")))
    assert (claims["actor_type"], claims["actor_id"], claims["app_metadata"]) == ("manager", "", {})
    assert client.get("/auth/manager/providers").get_json() == {"providers": [EMAILPASS]}


def test_reserved_names_are_not_actor_routes(client: FlaskClient, auth):
    """GET /auth/token/refresh stays a 405 (no generic login route there), /auth/session/x a 404."""
    assert client.get("/auth/token/refresh", headers=bearer(auth.token())).status_code == 405
    assert client.post("/auth/customer/providers").status_code == 405
    assert client.post("/auth/session/emailpass").status_code == 404


# -- the storefront's sign-up and account ----------------------------------------------------------


def test_register_gives_a_customer_registration_token(client: FlaskClient):
    claims = claims_of(token(register(client, "shopper@example.com")))
    assert claims["actor_type"] == "customer" and claims["actor_id"] == "" and claims["app_metadata"] == {}
    assert claims["auth_provider"] == "emailpass" and claims["mfa_enabled"] is False


def test_sign_up_creates_a_customer_with_medusas_body(client: FlaskClient):
    registration = token(register(client, "Shopper@Example.com"))
    fields = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20", "company_name": "Engines"}
    response = client.post(
        "/store/customers",
        json={"email": "Shopper@Example.com", **fields, "metadata": {"vip": True}},
        headers=bearer(registration),
    )
    assert response.status_code == 200, response.get_json()
    customer = response.get_json()["customer"]
    assert customer["id"].startswith("cus_") and len(customer["id"]) == 30
    assert customer["email"] == "shopper@example.com"
    assert {k: customer[k] for k in fields} == fields
    assert customer["metadata"] == {"vip": True}
    assert customer["has_account"] is True and customer["addresses"] == [] and customer["deleted_at"] is None
    assert customer["created_at"].endswith("Z") and customer["updated_at"].endswith("Z")
    assert set(customer) == {
        *fields,
        "id",
        "email",
        "metadata",
        "has_account",
        "addresses",
        "created_at",
        "updated_at",
        "deleted_at",
    }


def test_login_then_me_then_update_then_refresh(client: FlaskClient):
    access = sign_up(client, first_name="Ada")
    claims = claims_of(access)
    assert claims["actor_type"] == "customer" and claims["actor_id"].startswith("cus_")
    assert claims["app_metadata"] == {"customer_id": claims["actor_id"]}
    me = client.get("/store/customers/me", headers=bearer(access))
    assert me.status_code == 200 and me.get_json()["customer"]["first_name"] == "Ada"
    updated = client.post(
        "/store/customers/me",
        json={"last_name": "Lovelace", "first_name": None, "metadata": {"a": [1, {"b": 2}]}},
        headers=bearer(access),
    )
    assert updated.status_code == 200, updated.get_json()
    customer = updated.get_json()["customer"]
    assert (customer["first_name"], customer["last_name"], customer["metadata"]) == (
        None,
        "Lovelace",
        {"a": [1, {"b": 2}]},
    )
    refreshed = token(client.post("/auth/token/refresh", headers=bearer(access)))
    assert {k: claims_of(refreshed)[k] for k in ("actor_type", "actor_id", "auth_provider")} == {
        k: claims[k] for k in ("actor_type", "actor_id", "auth_provider")
    }
    assert (
        client.get("/store/customers/me", headers=bearer(refreshed)).get_json()["customer"]["last_name"] == "Lovelace"
    )


def test_a_registration_token_refreshed_after_the_customer_exists_is_an_access_token(client: FlaskClient):
    registration = token(register(client, "shopper@example.com"))
    client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(registration))
    refreshed = claims_of(token(client.post("/auth/token/refresh", headers=bearer(registration))))
    assert refreshed["actor_type"] == "customer" and refreshed["actor_id"].startswith("cus_")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Email is required to create a customer"),
        ({"email": None}, 400, "Email is required to create a customer"),
        ({"email": "someone.else@example.com"}, 400, "The email must be the one the identity signs in with"),
        ({"email": "shopper@example.com", "is_admin": True}, 400, "Invalid request: Unrecognized fields: 'is_admin'"),
        (
            {"email": "shopper@example.com", "has_account": False},
            400,
            "Invalid request: Unrecognized fields: 'has_account'",
        ),
        (
            {"email": "not an email"},
            400,
            "email must be one email address like name@example.com (ASCII, no display name, list, quotes or comments)",
        ),
        (
            {"email": "shopper@example.com", "last_name": "Ada\u0000"},
            400,
            "last_name must not contain control characters",
        ),
        (
            {"email": "shopper@example.com", "first_name": 7},
            400,
            "first_name must be a string of at most 255 characters, or null",
        ),
        (
            {"email": "shopper@example.com", "phone": "1" * 256},
            400,
            "phone must be a string of at most 255 characters, or null",
        ),
        (
            {"email": "shopper@example.com", "metadata": []},
            400,
            "metadata must be an object",
        ),
    ],
)
def test_create_refuses_bad_bodies_with_medusas_errors(client: FlaskClient, body, status: int, message: str):
    registration = token(register(client, "shopper@example.com"))
    response = client.post("/store/customers", json=body, headers=bearer(registration))
    assert (response.status_code, response.get_json()["message"]) == (status, message)


def test_a_blank_form_field_is_kept_as_an_empty_string(client: FlaskClient):
    """Medusa's starter storefront sends "" for an optional field left blank (phone): Medusa keeps it, so do we."""
    registration = token(register(client, "shopper@example.com"))
    body = {"email": "shopper@example.com", "first_name": "Ada", "last_name": "", "phone": ""}
    response = client.post("/store/customers", json=body, headers=bearer(registration))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["customer"]["phone"] == ""


def test_metadata_nested_too_deep_is_refused_and_five_levels_are_kept(client: FlaskClient):
    access = sign_up(client)

    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth - 1):
            value = {"k": value}
        return value

    assert client.post("/store/customers/me", json={"metadata": nested(5)}, headers=bearer(access)).status_code == 200
    refused = client.post("/store/customers/me", json={"metadata": nested(6)}, headers=bearer(access))
    assert refused.status_code == 400


def test_a_token_that_already_has_a_customer_gets_medusas_400(client: FlaskClient):
    access = sign_up(client)
    response = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(access))
    assert response.status_code == 400
    assert response.get_json() == {"type": "invalid_data", "message": "Request already authenticated as a customer."}


def test_a_second_create_with_the_same_registration_token_is_refused(app: Flask, client: FlaskClient):
    registration = token(register(client, "shopper@example.com"))
    first = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(registration))
    second = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(registration))
    assert first.status_code == 200
    assert second.status_code == 400 and second.get_json()["type"] == "not_allowed"
    with app.app_context():
        assert customer_service.list_customers(0, 10)[1] == 1


def test_update_cannot_change_the_email(client: FlaskClient):
    access = sign_up(client)
    response = client.post("/store/customers/me", json={"email": "new@example.com"}, headers=bearer(access))
    assert response.status_code == 400 and "Unrecognized fields: 'email'" in response.get_json()["message"]


def test_a_deleted_customer_is_not_found_and_its_session_ends(app: Flask, client: FlaskClient):
    access = sign_up(client)
    assert client.post("/auth/session", headers=bearer(access)).status_code == 200
    with app.app_context():
        db.session.execute(db.delete(Customer))
        db.session.commit()
    assert client.get("/store/customers/me", headers=bearer(access)).status_code == 404
    assert_refused(client.get("/store/customers/me"))  # the cookie alone: its customer is gone


def test_registering_an_email_with_an_identity_is_medusas_401(client: FlaskClient, auth):
    auth.create_user("admin@example.com")
    for actor in ("customer", "user"):
        response = register(client, "Admin@example.com", actor=actor)
        assert response.status_code == 401
        assert response.get_json() == {"type": "unauthorized", "message": "Identity with email already exists"}


# -- one identity, several actors --------------------------------------------------------------------


def test_an_admin_shops_with_the_same_email_and_password(app: Flask, client: FlaskClient, auth):
    user_id = auth.create_user("admin@example.com")
    registration = token(login(client, "admin@example.com"))  # as a customer: none yet
    assert claims_of(registration)["actor_id"] == "" and claims_of(registration)["app_metadata"] == {}
    created = client.post("/store/customers", json={"email": "admin@example.com"}, headers=bearer(registration))
    assert created.status_code == 200, created.get_json()
    customer_id = created.get_json()["customer"]["id"]
    shopper, admin = token(login(client, "admin@example.com")), token(login(client, "admin@example.com", "user"))
    assert claims_of(shopper)["actor_id"] == customer_id and claims_of(admin)["actor_id"] == user_id
    assert claims_of(shopper)["app_metadata"] == {"customer_id": customer_id}  # no user id on the storefront's token
    assert claims_of(shopper)["auth_identity_id"] == claims_of(admin)["auth_identity_id"]
    assert client.get("/store/customers/me", headers=bearer(shopper)).status_code == 200
    assert client.get("/admin/users/me", headers=bearer(admin)).status_code == 200
    assert_refused(client.get("/admin/users/me", headers=bearer(shopper)))
    assert_refused(client.get("/store/customers/me", headers=bearer(admin)))
    with app.app_context():
        [identity] = db.session.execute(db.select(AuthIdentity)).scalars()
        assert identity.app_metadata == {"user_id": user_id, "customer_id": customer_id}


def test_an_invite_for_a_customers_email_is_accepted_medusa_issue_12521(app: Flask, client: FlaskClient):
    shopper = sign_up(client, "shopper@example.com")
    with app.app_context():
        invite = invite_service.create_invite("shopper@example.com", None, None, send_email=False)
    assert register(client, "shopper@example.com", actor="user").status_code == 401  # the dashboard then logs in
    registration = token(login(client, "shopper@example.com", actor="user"))
    assert claims_of(registration)["actor_type"] == "user" and claims_of(registration)["actor_id"] == ""
    accepted = client.post(
        f"/admin/invites/accept?token={invite.token}", json={"first_name": "Ada"}, headers=bearer(registration)
    )
    assert accepted.status_code == 200, accepted.get_json()
    user_id = accepted.get_json()["user"]["id"]
    admin = token(client.post("/auth/token/refresh", headers=bearer(registration)))
    assert claims_of(admin)["actor_id"] == user_id
    assert client.get("/admin/users/me", headers=bearer(admin)).status_code == 200
    assert client.get("/store/customers/me", headers=bearer(shopper)).status_code == 200  # still a shopper
    assert claims_of(token(login(client, "shopper@example.com")))["actor_id"] == claims_of(shopper)["actor_id"]


def test_the_invite_page_for_a_customers_email_keeps_the_customer(app: Flask, client: FlaskClient):
    """The page replaces the identity's password (the link proves the address) and ends its earlier tokens."""
    shopper = sign_up(client, "shopper@example.com")
    with app.app_context():
        invite = invite_service.create_invite("shopper@example.com", None, None, send_email=False)
        user = invite_service.accept_with_password(invite.token, NEW_PASSWORD, "Ada", None)
        [identity] = db.session.execute(db.select(AuthIdentity)).scalars()
        assert set(identity.app_metadata) == {"user_id", "customer_id"} and identity.app_metadata["user_id"] == user.id
    assert_refused(client.post("/auth/token/refresh", headers=bearer(shopper)))  # from before the change
    renewed = token(login(client, "shopper@example.com", password=NEW_PASSWORD))
    assert claims_of(renewed)["actor_id"] == claims_of(shopper)["actor_id"]


# -- cookie sessions of customers -------------------------------------------------------------------


def test_a_customer_session_opens_the_store_routes_and_not_admin(client: FlaskClient):
    access = sign_up(client)
    started = client.post("/auth/session", headers=bearer(access))
    assert started.status_code == 200 and started.get_json()["user"]["actor_type"] == "customer"
    assert client.get("/store/customers/me").status_code == 200
    updated = client.post("/store/customers/me", json={"first_name": "Ada"}, headers={"Origin": SHOP_ORIGIN})
    assert updated.status_code == 200
    assert_refused(client.get("/admin/users/me"))
    assert_refused(client.get("/admin/users"))
    assert client.delete("/auth/session").status_code == 200
    assert_refused(client.get("/store/customers/me"))


def test_a_session_cookie_from_another_origin_cannot_change_the_customer(client: FlaskClient):
    client.post("/auth/session", headers=bearer(sign_up(client)))
    response = client.post("/store/customers/me", json={"first_name": "X"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_a_user_session_does_not_open_the_store_routes(client: FlaskClient, auth):
    client.post("/auth/session", headers=bearer(auth.token()))
    assert client.get("/admin/users/me").status_code == 200
    assert_refused(client.get("/store/customers/me"))
    assert_refused(client.post("/store/customers", json={"email": "admin@example.com"}))


def test_a_customer_registration_session_creates_the_customer(app: Flask, client: FlaskClient):
    """Medusa's session mode: the registration token becomes a session, the create route takes the cookie."""
    registration = token(register(client, "shopper@example.com"))
    assert client.post("/auth/session", headers=bearer(registration)).status_code == 200
    assert_refused(client.get("/store/customers/me"))  # a registration session is not an account
    created = client.post("/store/customers", json={"email": "shopper@example.com"})
    assert created.status_code == 200, created.get_json()
    with app.app_context():
        assert db.session.execute(db.select(BrowserSession.actor_type)).scalar_one() == "customer"


def test_a_user_registration_token_never_becomes_a_session(client: FlaskClient):
    """Invites take the registration token as a bearer only, so no session may hold one."""
    registration = token(register(client, "new@example.com", actor="user"))
    response = client.post("/auth/session", headers=bearer(registration))
    assert_refused(response)
    assert "Set-Cookie" not in response.headers


def test_store_cors_lets_the_storefront_origin_call_with_credentials(client: FlaskClient):
    preflight = client.options(
        "/store/customers/me",
        headers={"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN
    assert preflight.headers.get("Access-Control-Allow-Credentials") == "true"
    other = client.options(
        "/store/customers/me", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers


# -- password reset for customers ------------------------------------------------------------------


def request_reset(client: FlaskClient, email: str, actor: str = "customer") -> None:
    response = client.post(f"/auth/{actor}/emailpass/reset-password", json={"identifier": email})
    assert response.status_code == 201 and response.data == b""


def test_a_customers_reset_link_goes_to_the_storefront_and_the_update_route_takes_it(
    client: FlaskClient, mailbox: Mailbox
):
    access = sign_up(client, "shopper@example.com")
    request_reset(client, "Shopper@example.com")
    [message] = mailbox.wait_for(1)
    link = link_in(message)
    assert link.startswith(f"{STOREFRONT}/reset-password?token=") and link.endswith("&email=shopper%40example.com")
    reset = token_of(link)
    assert claims_of(reset)["actor_type"] == "customer" and claims_of(reset)["provider"] == "emailpass"
    assert_refused(client.post("/auth/user/emailpass/update", json={"password": NEW_PASSWORD}, headers=bearer(reset)))
    updated = client.post("/auth/customer/emailpass/update", json={"password": NEW_PASSWORD}, headers=bearer(reset))
    assert updated.status_code == 200 and updated.get_json() == {"success": True}
    again = client.post("/auth/customer/emailpass/update", json={"password": PASSWORD}, headers=bearer(reset))
    assert again.status_code == 401  # once
    assert login(client, "shopper@example.com").status_code == 401
    assert token(login(client, "shopper@example.com", password=NEW_PASSWORD))
    assert_refused(client.post("/auth/token/refresh", headers=bearer(access)))  # issued before the change


def test_a_users_reset_token_does_not_open_the_customer_update_route(client: FlaskClient, auth, mailbox: Mailbox):
    auth.create_user()
    request_reset(client, "admin@example.com", actor="user")
    reset = token_of(mailbox.last_link())
    assert mailbox.last_link().startswith("http://localhost:9000/app/reset-password/confirm?token=")
    assert_refused(
        client.post("/auth/customer/emailpass/update", json={"password": NEW_PASSWORD}, headers=bearer(reset))
    )
    assert (
        client.post("/auth/user/emailpass/update", json={"password": NEW_PASSWORD}, headers=bearer(reset)).status_code
        == 200
    )


def test_the_admin_reset_page_does_not_take_a_customers_link(client: FlaskClient, mailbox: Mailbox):
    sign_up(client)
    request_reset(client, "shopper@example.com")
    reset = token_of(mailbox.last_link())
    page = client.get(f"/app/reset-password/confirm?token={reset}")
    assert page.status_code == 400 and "This link does not work" in page.get_data(as_text=True)


@pytest.mark.parametrize(("actor", "holder"), [("customer", "user"), ("user", "customer")])
def test_no_reset_mail_for_an_identity_that_is_only_the_other_actor(
    client: FlaskClient, auth, mailbox: Mailbox, actor: str, holder: str, caplog
):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    if holder == "user":
        auth.create_user("person@example.com")
    else:
        sign_up(client, "person@example.com")
    mailbox.messages.clear()
    request_reset(client, "person@example.com", actor=actor)
    with pytest.raises(pytest.fail.Exception):
        mailbox.wait_for(1, timeout=1.0)
    assert any(e.get("reason") == "no such actor" for e in security_events(caplog))


@pytest.mark.settings(STOREFRONT_URL=None)
def test_without_a_storefront_url_a_customers_reset_mails_nothing(client: FlaskClient, mailbox: Mailbox, caplog):
    sign_up(client)
    request_reset(client, "shopper@example.com")
    with pytest.raises(pytest.fail.Exception):
        mailbox.wait_for(1, timeout=1.0)
    assert "STOREFRONT_URL" in caplog.text


def test_a_registered_identity_with_no_actor_gets_the_asking_sides_link(client: FlaskClient, mailbox: Mailbox):
    register(client, "new@example.com")
    request_reset(client, "new@example.com")
    assert mailbox.last_link().startswith(f"{STOREFRONT}/reset-password?token=")


# -- the command line --------------------------------------------------------------------------------


def test_customers_create_and_list(app: Flask, runner, client: FlaskClient):
    created = runner.invoke(
        args=["customers", "create", "--email", "Cli@Example.com", "--password", PASSWORD, "--first-name", "Ada"]
    )
    assert created.exit_code == 0, created.output
    assert created.output.startswith("created cus_") and "<cli@example.com>" in created.output
    claims = claims_of(token(login(client, "cli@example.com")))
    assert claims["actor_id"].startswith("cus_")
    assert (
        client.get("/store/customers/me", headers=bearer(token(login(client, "cli@example.com")))).get_json()[
            "customer"
        ]["first_name"]
        == "Ada"
    )
    listed = runner.invoke(args=["customers", "list"])
    assert listed.exit_code == 0 and listed.output.startswith(f"{claims['actor_id']}\tcli@example.com\tAda\t")


def test_customers_create_refuses_an_email_with_an_identity_and_leaves_nothing(app: Flask, runner, auth):
    auth.create_user("admin@example.com")
    result = runner.invoke(args=["customers", "create", "--email", "admin@example.com", "--password", PASSWORD])
    assert result.exit_code != 0 and "Identity with email already exists" in result.output
    with app.app_context():
        assert customer_service.list_customers(0, 10)[1] == 0


# -- tokens know the configured actor types only ----------------------------------------------------


@pytest.mark.settings(AUTH_METHODS_PER_ACTOR="manager=emailpass")
def test_the_extensions_tokens_know_the_configured_actor_types(app: Flask):
    with app.app_context():
        tokens = medusa_auth().tokens
        assert tokens.actor_types == {"user", "customer", "manager"}
        assert tokens.verify(
            tokens.issue_auth_token("authid_1", "", {}, actor_type="manager"), {TokenKind.REGISTRATION}
        )


# -- the migration keeps the sessions it finds --------------------------------------------------------


def test_migration_0008_turns_user_sessions_into_actor_sessions_and_back(tmp_path, rsa_pem: str):
    url = f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
    app = create_app({"APP_ENV": "test", "JWT_SECRET_KEY": rsa_pem, "DATABASE_URL": url, "COOKIE_SECRET": "x" * 32})
    now = "2026-01-01 00:00:00"
    with app.app_context():
        flask_migrate.upgrade(revision="0007")
        for statement in (
            f"""INSERT INTO "user" (id, email, created_at, updated_at)
                VALUES ('user_1', 'a@example.com', '{now}', '{now}')""",
            f"""INSERT INTO auth_identity (id, app_metadata, created_at, updated_at)
                VALUES ('authid_1', '{{"user_id": "user_1"}}', '{now}', '{now}')""",
            f"""INSERT INTO browser_session (id_hash, user_id, auth_identity_id, created_at, last_seen_at, expires_at)
                VALUES ('h1', 'user_1', 'authid_1', '{now}', '{now}', '{now}')""",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        flask_migrate.upgrade(revision="0008")
        row = db.session.execute(
            text("SELECT actor_type, actor_id, auth_provider, auth_identity_id FROM browser_session")
        )
        assert row.one() == ("user", "user_1", "emailpass", "authid_1")
        db.session.execute(
            text(
                f"""INSERT INTO browser_session (id_hash, actor_type, actor_id, auth_provider, auth_identity_id,
                    created_at, last_seen_at, expires_at)
                    VALUES ('h2', 'customer', 'cus_1', 'emailpass', 'authid_1', '{now}', '{now}', '{now}')"""
            )
        )
        db.session.commit()
        flask_migrate.downgrade(revision="0007")
        rows = db.session.execute(text("SELECT id_hash, user_id FROM browser_session")).all()
        assert rows == [("h1", "user_1")]  # a customer's session has no place in the old table
        db.session.remove()
        db.engine.dispose()
