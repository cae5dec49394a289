"""Cookie sessions (POST/DELETE /auth/session): attributes, fixation, revocation, lifetimes, CSRF."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth.database import db
from medusa_auth.models import BrowserSession, User
from tests.helpers import PASSWORD, FakeClock, start_session

SECURE_COOKIE = "__Host-medusa_session"


def set_cookie_header(response, name: str = SECURE_COOKIE) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def cookie_value(response, name: str = SECURE_COOKIE) -> str:
    parsed = SimpleCookie()
    parsed.load(set_cookie_header(response, name))
    return parsed[name].value


def test_post_session_turns_a_bearer_token_into_a_cookie_session(auth, client):
    token = auth.token()
    response = start_session(client, token)
    user = response.get_json()["user"]
    assert user["actor_type"] == "user" and user["actor_id"].startswith("user_")
    me = client.get("/admin/users/me")  # the cookie alone, no Authorization header
    assert me.status_code == 200
    assert me.get_json()["user"]["email"] == "admin@example.com"


def test_the_cookie_is_httponly_lax_secure_and_host_prefixed_outside_development(auth, client):
    header = set_cookie_header(start_session(client, auth.token()))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in header and "Path=/" in header
    assert "domain" not in attributes  # __Host- forbids a Domain


@pytest.mark.settings(APP_ENV="development")
def test_development_cookie_is_not_secure_and_has_no_host_prefix(auth, client):
    header = set_cookie_header(start_session(client, auth.token()), "medusa_session")
    assert "Secure" not in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_post_session_refuses_anything_but_a_valid_access_token(auth, client):
    registration = client.post("/auth/user/emailpass/register", json={"email": "r@example.com", "password": PASSWORD})
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {registration.json['token']}"}):
        response = client.post("/auth/session", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["type"] == "unauthorized"
        assert "Set-Cookie" not in response.headers


def test_a_forged_or_unknown_cookie_is_refused(app, auth, client):
    value = cookie_value(start_session(client, auth.token()))
    raw_id, _, signature = value.rpartition(".")

    def changed(text: str) -> str:
        """The last two characters replaced by two others (never the same two, which would not forge anything)."""
        return text[:-2] + ("AA" if text[-2:] != "AA" else "BB")

    for forged in ("made-up.value", f"{raw_id}.{changed(signature)}", f"{changed(raw_id)}.{signature}", raw_id):
        other = app.test_client()
        other.set_cookie(SECURE_COOKIE, forged)
        assert other.get("/admin/users/me").status_code == 401, forged


def test_session_id_changes_at_sign_in_and_the_old_one_stops_working(app, auth):
    token = auth.token()
    first, second = app.test_client(), app.test_client()
    old_value = cookie_value(start_session(first, token))
    second.set_cookie(SECURE_COOKIE, old_value)  # an attacker who planted or saw the old id
    new_value = cookie_value(start_session(first, token))
    assert new_value != old_value
    assert first.get("/admin/users/me").status_code == 200
    assert second.get("/admin/users/me").status_code == 401


def test_the_database_keeps_only_a_hash_of_the_session_id(app, auth, client):
    value = cookie_value(start_session(client, auth.token()))
    with app.app_context():
        stored = db.session.execute(db.select(BrowserSession.id_hash)).scalar_one()
    assert stored not in value and len(stored) == 64


def test_delete_session_signs_out_on_every_instance_sharing_the_database(app, app_factory, auth):
    other_instance = app_factory()
    browser = app.test_client()
    value = cookie_value(start_session(browser, auth.token()))
    elsewhere = other_instance.test_client()
    elsewhere.set_cookie(SECURE_COOKIE, value)
    assert elsewhere.get("/admin/users/me").status_code == 200
    response = browser.delete("/auth/session")
    assert response.status_code == 200 and response.get_json() == {"success": True}
    assert "Max-Age=0" in set_cookie_header(response) or "expires=" in set_cookie_header(response).lower()
    assert elsewhere.get("/admin/users/me").status_code == 401


def test_delete_session_without_a_session_still_succeeds(client):
    assert client.delete("/auth/session").get_json() == {"success": True}


@pytest.mark.settings(SESSION_IDLE_SECONDS=600)
def test_a_session_idle_too_long_ends(auth, client, frozen_clock: FakeClock):
    start_session(client, auth.token())
    frozen_clock.move(599)
    assert client.get("/admin/users/me").status_code == 200  # and this request counts as activity
    frozen_clock.move(599)
    assert client.get("/admin/users/me").status_code == 200
    frozen_clock.move(601)
    assert client.get("/admin/users/me").status_code == 401


@pytest.mark.settings(SESSION_IDLE_SECONDS=600, SESSION_ABSOLUTE_SECONDS=1500)
def test_a_session_ends_at_its_absolute_lifetime_even_when_active(app, auth, client, frozen_clock: FakeClock):
    start_session(client, auth.token())
    now = frozen_clock()
    for offset in (400, 800, 1200, 1499):
        frozen_clock.move_to(now + offset)
        assert client.get("/admin/users/me").status_code == 200, offset
    frozen_clock.move_to(now + 1500)
    assert client.get("/admin/users/me").status_code == 401
    with app.app_context():
        assert db.session.execute(db.select(BrowserSession)).first() is None  # deleted on sight


def test_a_deleted_user_loses_every_session(app, auth, client):
    start_session(client, auth.token())
    with app.app_context():
        db.session.delete(db.session.execute(db.select(User)).scalar_one())
        db.session.commit()
    assert client.get("/admin/users/me").status_code == 401


def test_bearer_token_still_works_and_wins_over_the_cookie(auth, client):
    token = auth.token()
    start_session(client, token)
    assert client.get("/admin/users/me", headers={"Authorization": "Bearer bad"}).status_code == 401
    assert client.get("/admin/users/me", headers=auth.bearer(token)).status_code == 200


# -- cross-site requests with the cookie ------------------------------------------------------------


def test_cookie_post_from_another_origin_is_refused(app, auth, client):
    start_session(client, auth.token())
    response = client.post(
        "/admin/invites", json={"email": "x@example.com"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.get_json()["type"] == "not_allowed"
    with app.app_context():
        from medusa_auth.models import Invite

        assert db.session.execute(db.select(Invite)).first() is None


def test_cookie_post_marked_cross_site_without_origin_is_refused(auth, client):
    start_session(client, auth.token())
    response = client.post("/admin/invites", json={"email": "x@example.com"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


@pytest.mark.settings(MEDUSA_BACKEND_URL="https://auth.example.com", ADMIN_CORS="https://admin.example.com")
def test_cookie_post_from_our_origin_or_a_listed_one_is_allowed(auth, client, mailbox):
    start_session(client, auth.token())
    for number, origin in enumerate(("https://auth.example.com", "https://admin.example.com")):
        response = client.post("/admin/invites", json={"email": f"x{number}@example.com"}, headers={"Origin": origin})
        assert response.status_code == 200, response.get_json()


def test_cookie_get_needs_no_origin_check(auth, client):
    start_session(client, auth.token())
    assert client.get("/admin/users/me", headers={"Origin": "https://evil.example"}).status_code == 200


def test_the_cookie_is_not_accepted_where_a_bearer_token_is_required(auth, client):
    start_session(client, auth.token())
    assert client.post("/auth/token/refresh").status_code == 401


def test_session_rejects_a_cookie_signed_with_another_secret(app, app_factory, auth):
    value = cookie_value(start_session(app.test_client(), auth.token()))
    other = app_factory(COOKIE_SECRET="another-secret-" + "y" * 32).test_client()
    other.set_cookie(SECURE_COOKIE, value)
    assert other.get("/admin/users/me").status_code == 401


def test_flask_session_cookie_for_csrf_has_the_same_attributes(client: FlaskClient, app: Flask):
    response = client.get("/app/login")
    header = set_cookie_header(response, "__Host-medusa_csrf")
    assert "HttpOnly" in header and "Secure" in header and "SameSite=Lax" in header and "Path=/" in header


@pytest.mark.settings(SESSION_IDLE_SECONDS=600)
def test_abandoned_sessions_are_swept_at_the_next_sign_in(app, auth, frozen_clock: FakeClock):
    token = auth.token()
    start_session(app.test_client(), token)
    start_session(app.test_client(), token)
    frozen_clock.move(601)
    start_session(app.test_client(), auth.login())
    with app.app_context():
        assert len(db.session.execute(db.select(BrowserSession)).all()) == 1
