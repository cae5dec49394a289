"""Hardening of accounts (issue 19, findings 1 and 6): invited users cannot be pre-hijacked, and a
registration or access token never outlives a change of its identity's credentials.

Each test is written as the attack: the request sequence an adversary (the "squatter", who registers
an identity for an address that is not theirs) and the address's owner would send.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth import clock
from medusa_auth.database import db
from medusa_auth.models import AuthIdentity, ProviderIdentity
from tests.helpers import PASSWORD, csrf_token
from tests.web_fixtures import Mailbox, link_in, token_of

BACKEND = "https://auth.example.com"
VICTIM = "victim@example.com"
SQUATTER_PASSWORD = "the squatter's own password"
OWNER_PASSWORD = "the owner's brand new passphrase"
REFUSED = {"type": "unauthorized", "message": "Invalid auth token provided"}


@pytest.fixture
def settings(settings: dict[str, Any], mailbox: Mailbox) -> dict[str, Any]:
    return {**settings, **mailbox.settings(), "MEDUSA_BACKEND_URL": BACKEND}


@pytest.fixture
def admin(auth: Any) -> dict[str, str]:
    return bearer(auth.token())


@pytest.fixture
def browser(app_factory: Any) -> FlaskClient:
    """A browser-like client on an app with no test context pushed (Flask-WTF caches its token on ``g``)."""
    client: FlaskClient = app_factory().test_client()
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def register(client: FlaskClient, email: str = VICTIM, password: str = SQUATTER_PASSWORD) -> str:
    response = client.post("/auth/user/emailpass/register", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["token"])


def login(client: FlaskClient, email: str = VICTIM, password: str = OWNER_PASSWORD) -> Any:
    return client.post("/auth/user/emailpass", json={"email": email, "password": password})


def refresh(client: FlaskClient, token: str) -> Any:
    return client.post("/auth/token/refresh", headers=bearer(token))


def invite(client: FlaskClient, admin: dict[str, str], email: str = VICTIM) -> str:
    response = client.post("/admin/invites", json={"email": email}, headers=admin)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["invite"]["token"])


def accept(client: FlaskClient, invite_token: str, registration: str) -> Any:
    return client.post(
        f"/admin/invites/accept?token={invite_token}", json={"first_name": "V"}, headers=bearer(registration)
    )


def reset_password(client: FlaskClient, mailbox: Mailbox, email: str = VICTIM, password: str = OWNER_PASSWORD) -> None:
    """The owner's recovery: ask for a link, read it from the mail, set a new password with it."""
    mailbox.messages.clear()
    assert client.post("/auth/user/emailpass/reset-password", json={"identifier": email}).status_code == 201
    token = token_of(link_in(mailbox.wait_for(1)[-1]))
    response = client.post("/auth/user/emailpass/update", json={"password": password}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.get_json()
    assert response.get_json() == REFUSED
    assert response.headers["WWW-Authenticate"] == "Bearer"


def invite_form(client: FlaskClient, path: str, password: str = OWNER_PASSWORD) -> dict[str, str]:
    return {"first_name": "Vic", "last_name": "Tim", "password": password, "confirm": password, **_csrf(client, path)}


def _csrf(client: FlaskClient, path: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(client, path)}


def identity_of(app: Flask, email: str = VICTIM) -> AuthIdentity:
    with app.app_context():
        provider = db.session.execute(db.select(ProviderIdentity).filter_by(entity_id=email)).scalar_one()
        identity = provider.auth_identity
        db.session.expunge(identity)
        return identity


# -- finding 1: the pre-hijack through the API (reset, then Medusa's two-step accept) --------------------


def test_a_squatters_registration_token_never_becomes_the_invited_admins_token(client, admin, mailbox):
    squatter = register(client)
    squatter = refresh(client, squatter).get_json()["token"]  # kept alive by refreshing
    invite_token = invite(client, admin)
    owner_register = client.post("/auth/user/emailpass/register", json={"email": VICTIM, "password": OWNER_PASSWORD})
    assert owner_register.get_json()["message"] == "Identity with email already exists"
    reset_password(client, mailbox)  # the owner recovers the identity through their mailbox
    owner = login(client).get_json()["token"]
    assert claims_of(owner)["actor_id"] == ""
    accepted = accept(client, invite_token, owner)
    assert accepted.status_code == 200, accepted.get_json()
    user_id = accepted.get_json()["user"]["id"]
    assert_refused(refresh(client, squatter))  # before the fix: an access token of the new admin
    assert login(client, password=SQUATTER_PASSWORD).status_code == 401
    mine = refresh(client, owner)  # Medusa's flow: the invitee's own token refreshes into an access token
    assert mine.status_code == 200 and claims_of(mine.get_json()["token"])["actor_id"] == user_id


def test_a_registration_token_from_before_a_reset_cannot_accept_an_invite(client, admin, mailbox):
    squatter = register(client)
    invite_token = invite(client, admin)
    reset_password(client, mailbox)
    assert_refused(accept(client, invite_token, squatter))  # even holding the invite token
    assert accept(client, invite_token, login(client).get_json()["token"]).status_code == 200


def test_a_token_minted_in_the_second_of_a_reset_but_before_it_is_refused(client, admin, mailbox, monkeypatch):
    """iat has whole seconds: the marker is the next second, and tokens minted after it carry that second."""
    register(client)
    second = clock.now()
    monkeypatch.setattr(clock, "now", lambda: second)  # everything below happens within one second
    squatter = login(client, password=SQUATTER_PASSWORD).get_json()["token"]
    reset_password(client, mailbox)
    assert_refused(refresh(client, squatter))
    owner = login(client).get_json()["token"]  # minted after the reset, in the same second
    assert claims_of(owner)["iat"] == second + 1
    assert refresh(client, owner).status_code == 200


def test_the_normal_two_step_invite_flow_still_works(client, admin):
    invite_token = invite(client, admin, "fresh@example.com")
    registration = register(client, "fresh@example.com", PASSWORD)
    accepted = accept(client, invite_token, registration)
    assert accepted.status_code == 200, accepted.get_json()
    refreshed = refresh(client, registration)
    assert refreshed.status_code == 200
    assert claims_of(refreshed.get_json()["token"])["actor_id"] == accepted.get_json()["user"]["id"]


def test_an_access_token_from_before_a_reset_cannot_refresh_or_start_a_session(auth, client, mailbox):
    """The database-touching uses of a bearer token (issue 15 adds the in-memory check on every request)."""
    auth.create_user(VICTIM, PASSWORD)
    stolen = auth.login(VICTIM, PASSWORD)
    reset_password(client, mailbox)
    assert_refused(refresh(client, stolen))
    assert_refused(client.post("/auth/session", headers=bearer(stolen)))
    fresh = auth.login(VICTIM, OWNER_PASSWORD)
    assert refresh(client, fresh).status_code == 200
    assert client.post("/auth/session", headers=bearer(fresh)).status_code == 200


# -- finding 1: the invite page handles an identity that already exists ----------------------------------


def test_the_invite_page_takes_over_a_squatted_identity_and_ends_the_squatters_tokens(app, client, admin, browser):
    squatter = register(client)
    path = f"/app/invite?token={invite(client, admin)}"
    page = browser.get(path)
    assert page.status_code == 200
    assert "replaces" in page.get_data(as_text=True)  # the invitee is told their password replaces the old one
    response = browser.post(path, data=invite_form(browser, path))
    assert response.status_code == 302 and response.headers["Location"] == "/app/"
    assert VICTIM in browser.get("/app/").get_data(as_text=True)  # signed in
    assert_refused(refresh(client, squatter))
    assert login(client, password=SQUATTER_PASSWORD).status_code == 401
    owner = login(client)
    assert owner.status_code == 200 and claims_of(owner.get_json()["token"])["actor_id"].startswith("user_")
    assert identity_of(app).tokens_valid_from is not None


def test_the_invite_page_ends_the_squatters_browser_sessions_and_pending_reset(app, client, admin, browser, mailbox):
    register(client)
    client.post("/auth/user/emailpass/reset-password", json={"identifier": VICTIM})
    stale_link = link_in(mailbox.wait_for(1)[-1])  # a reset link mailed before the page took over
    path = f"/app/invite?token={invite(client, admin)}"
    assert browser.post(path, data=invite_form(browser, path)).status_code == 302
    stale = client.post(
        "/auth/user/emailpass/update", json={"password": "yet another password"}, headers=bearer(token_of(stale_link))
    )
    assert stale.status_code == 401
    assert login(client).status_code == 200


# -- finding 6: a double-submitted invite form -----------------------------------------------------------


def test_submitting_the_invite_form_twice_gives_the_already_used_page(client, admin, browser):
    path = f"/app/invite?token={invite(client, admin)}"
    form = invite_form(browser, path)
    cookies = {cookie.key: cookie.value for cookie in browser._cookies.values()}
    first = browser.post(path, data=form)
    assert first.status_code == 302
    for name, value in cookies.items():  # the second submit carries what the first one did
        browser.set_cookie(name, value)
    second = browser.post(path, data=form)
    assert second.status_code == 400
    assert "already accepted" in second.get_data(as_text=True)
