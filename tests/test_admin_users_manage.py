"""Managing admin users (SPEC §13): update, delete, auth providers, a reset token, q and order; one's own password."""

from __future__ import annotations

import pytest

from medusa_auth.database import db
from medusa_auth.models import AuthIdentity
from tests.helpers import PASSWORD, csrf_token, start_session

NEW_PASSWORD = "a different horse battery"


@pytest.fixture
def admin(auth) -> dict[str, str]:
    return auth.bearer(auth.token())


# -- update ---------------------------------------------------------------------------------------


def test_an_admin_updates_a_users_profile(client, admin, auth):
    user_id = auth.create_user("sam@example.com")
    body = {
        "first_name": "Sam",
        "last_name": "Lee",
        "avatar_url": "https://cdn.example.com/sam.png",
        "metadata": {"a": 1},
    }
    response = client.post(f"/admin/users/{user_id}", json=body, headers=admin)
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert {k: user[k] for k in body} == body
    assert user["email"] == "sam@example.com"
    cleared = client.post(f"/admin/users/{user_id}", json={"last_name": None}, headers=admin).get_json()["user"]
    assert (cleared["first_name"], cleared["last_name"]) == ("Sam", None)  # absent fields stay


@pytest.mark.parametrize(
    "body",
    [
        {"email": "other@example.com"},
        {"password": "x"},
        {"first_name": 3},
        {"first_name": "a\x00"},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "https://" + "a" * 2048},
        {"metadata": []},
        {"metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
    ],
)
def test_a_bad_update_is_invalid_data(client, admin, auth, body):
    user_id = auth.create_user("sam@example.com")
    response = client.post(f"/admin/users/{user_id}", json=body, headers=admin)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_updating_a_missing_user_is_not_found(client, admin):
    assert client.post("/admin/users/user_01NOTHERE", json={"first_name": "x"}, headers=admin).status_code == 404


# -- delete ---------------------------------------------------------------------------------------


def test_deleting_a_user_ends_all_its_access(app, client, admin, auth):
    user_id = auth.create_user("leaving@example.com")
    their_token = auth.login("leaving@example.com")
    browser = app.test_client()
    start_session(browser, their_token)
    assert browser.get("/admin/users/me").status_code == 200

    response = client.delete(f"/admin/users/{user_id}", headers=admin)

    assert response.get_json() == {"id": user_id, "object": "user", "deleted": True}
    assert client.get(f"/admin/users/{user_id}", headers=admin).status_code == 404
    assert browser.get("/admin/users/me").status_code == 401  # the session ended
    assert client.post("/auth/token/refresh", headers=auth.bearer(their_token)).status_code == 401
    # The identity stays (it may shop too) but is no admin any more: signing in gives a registration token.
    relogin = client.post("/auth/user/emailpass", json={"email": "leaving@example.com", "password": PASSWORD})
    again = relogin.get_json()["token"]
    assert client.get("/admin/users", headers=auth.bearer(again)).status_code == 401
    with app.app_context():
        identity = db.session.execute(db.select(AuthIdentity)).scalars().all()
        assert all(i.app_metadata.get("user_id") != user_id for i in identity)


def test_an_admin_cannot_delete_themself_nor_the_last_user(app, client, auth):
    me = auth.create_user("me@example.com")
    token = auth.bearer(auth.login("me@example.com"))
    own = client.delete(f"/admin/users/{me}", headers=token)
    assert own.status_code == 400 and own.get_json()["type"] == "not_allowed"
    other = auth.create_user("other@example.com")
    assert client.delete(f"/admin/users/{other}", headers=token).status_code == 200
    # Alone now: an API key (or another route to this) cannot remove the last admin either.
    with app.app_context():
        from medusa_auth.admin.user_service import delete_user
        from medusa_auth.errors import ApiError

        with pytest.raises(ApiError) as refused:
            delete_user(me, None)
        assert refused.value.message == "The last user cannot be deleted"


def test_deleting_a_missing_user_is_not_found(client, admin):
    assert client.delete("/admin/users/user_01NOTHERE", headers=admin).status_code == 404


# -- auth providers and a reset token --------------------------------------------------------------


def test_a_users_auth_providers(client, admin, auth):
    user_id = auth.create_user("sam@example.com")
    assert client.get(f"/admin/users/{user_id}/auth-providers", headers=admin).get_json() == {
        "providers": ["emailpass"]
    }
    assert client.get("/admin/users/user_01NOTHERE/auth-providers", headers=admin).status_code == 404


def test_a_reset_token_sets_the_password_once_and_replaces_the_earlier_one(client, admin, auth):
    user_id = auth.create_user("sam@example.com")
    first = client.post(f"/admin/users/{user_id}/reset-password", headers=admin).get_json()["token"]
    second = client.post(f"/admin/users/{user_id}/reset-password", headers=admin).get_json()["token"]

    def update(token: str):
        return client.post("/auth/user/emailpass/update", json={"password": NEW_PASSWORD}, headers=auth.bearer(token))

    assert update(first).status_code == 401  # replaced
    assert update(second).get_json() == {"success": True}
    assert update(second).status_code == 401  # used
    auth.login("sam@example.com", NEW_PASSWORD)


# -- list: q, email, order ------------------------------------------------------------------------


@pytest.fixture
def people(client, admin, auth) -> dict[str, str]:
    """Four users (admin@ first); names set through the API."""
    names = {
        "ada@example.com": ("Ada", "Lovelace"),
        "bob@example.com": ("Bob", "Ross"),
        "zoe@example.com": ("Zoë", "Ada"),
    }
    ids = {}
    for email, (first, last) in names.items():
        ids[email] = auth.create_user(email)
        client.post(f"/admin/users/{ids[email]}", json={"first_name": first, "last_name": last}, headers=admin)
    return ids


def emails(client, admin, query: str) -> list[str]:
    response = client.get(f"/admin/users?{query}", headers=admin)
    assert response.status_code == 200, response.get_json()
    return [u["email"] for u in response.get_json()["users"]]


def test_q_finds_text_in_the_email_or_a_name(client, admin, people):
    assert emails(client, admin, "q=ada") == ["ada@example.com", "zoe@example.com"]
    assert emails(client, admin, "q=ROSS") == ["bob@example.com"]
    assert emails(client, admin, "q=%25") == []  # a literal %, not a wildcard
    assert client.get("/admin/users?q=ada", headers=admin).get_json()["count"] == 2


def test_order_by_allowed_fields(client, admin, people):
    everyone = ["admin@example.com", "ada@example.com", "bob@example.com", "zoe@example.com"]
    assert emails(client, admin, "") == everyone
    assert emails(client, admin, "order=-created_at") == everyone[::-1]
    assert emails(client, admin, "order=email") == sorted(everyone)
    assert emails(client, admin, "order=-email&limit=2") == sorted(everyone, reverse=True)[:2]


@pytest.mark.parametrize(
    "query", ["order=password_hash", "order=--email", "order=", "order=-created_at&after=user_01X"]
)
def test_a_bad_order_is_invalid_data(client, admin, query):
    response = client.get(f"/admin/users?{query}", headers=admin)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


# -- one's own password ----------------------------------------------------------------------------


def change(client, headers: dict[str, str], current: str = PASSWORD, password: str = NEW_PASSWORD, actor: str = "user"):
    body = {"current_password": current, "password": password}
    return client.post(f"/auth/{actor}/emailpass/update", json=body, headers=headers)


def test_a_signed_in_user_changes_their_password_with_a_token(app, client, auth):
    auth.create_user("me@example.com")
    token = auth.login("me@example.com")
    elsewhere = app.test_client()
    start_session(elsewhere, auth.login("me@example.com"))

    response = change(client, auth.bearer(token))

    assert response.status_code == 200, response.get_json()
    fresh = response.get_json()["token"]
    assert response.get_json()["success"] is True
    assert client.post("/auth/token/refresh", headers=auth.bearer(token)).status_code == 401  # the old one ended
    assert client.post("/auth/token/refresh", headers=auth.bearer(fresh)).status_code == 200  # this one goes on
    assert elsewhere.get("/admin/users/me").status_code == 401  # other sessions ended
    auth.login("me@example.com", NEW_PASSWORD)
    old = client.post("/auth/user/emailpass", json={"email": "me@example.com", "password": PASSWORD})
    assert old.status_code == 401


def test_a_signed_in_browser_changes_the_password_and_stays_signed_in(app, client, auth):
    auth.create_user("me@example.com")
    start_session(client, auth.login("me@example.com"))
    other = app.test_client()
    start_session(other, auth.login("me@example.com"))
    origin = {"Origin": "http://localhost:9000"}

    response = change(client, origin)

    assert response.get_json() == {"success": True}
    assert client.get("/admin/users/me").status_code == 200  # a new session for this browser
    assert other.get("/admin/users/me").status_code == 401
    cross_site = change(client, {"Origin": "https://evil.example"}, NEW_PASSWORD, "another one entirely")
    assert cross_site.status_code == 403


def test_a_wrong_current_password_changes_nothing(client, auth):
    auth.create_user("me@example.com")
    token = auth.login("me@example.com")
    refused = change(client, auth.bearer(token), current="not my password")
    assert (
        refused.status_code == 400 and refused.get_json()["message"] == "current_password is not the current password"
    )
    assert client.post("/auth/token/refresh", headers=auth.bearer(token)).status_code == 200
    auth.login("me@example.com")
    short = change(client, auth.bearer(token), password="short")
    assert short.status_code == 400


def test_wrong_current_passwords_are_throttled_like_logins(client, auth):
    auth.create_user("me@example.com")
    token = auth.login("me@example.com")
    statuses = [change(client, auth.bearer(token), current=f"guess {n}").status_code for n in range(6)]
    assert statuses == [400] * 5 + [429]


def test_a_customer_changes_their_own_password_on_their_route_only(client, auth):
    from tests.helpers import bearer

    registered = client.post("/auth/customer/emailpass/register", json={"email": "c@example.com", "password": PASSWORD})
    reg = registered.get_json()["token"]
    client.post("/store/customers", json={"email": "c@example.com"}, headers=bearer(reg))
    token = client.post("/auth/customer/emailpass", json={"email": "c@example.com", "password": PASSWORD}).get_json()[
        "token"
    ]
    assert change(client, bearer(token), actor="user").status_code == 401  # a customer's token on the user route
    assert change(client, bearer(token), actor="customer").status_code == 200


# -- the page -------------------------------------------------------------------------------------


def test_the_password_page_changes_it_and_keeps_this_browser_signed_in(app, client, auth):
    auth.create_user("me@example.com")
    start_session(client, auth.login("me@example.com"))
    other = app.test_client()
    start_session(other, auth.login("me@example.com"))
    assert 'href="/app/password"' in client.get("/app/").get_data(as_text=True)

    wrong = {"current_password": "not it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    refused = client.post("/app/password", data={**wrong, "csrf_token": csrf_token(client, "/app/password")})
    assert refused.status_code == 400 and "That is not your current password." in refused.get_data(as_text=True)
    right = {**wrong, "current_password": PASSWORD, "csrf_token": csrf_token(client, "/app/password")}
    done = client.post("/app/password", data=right)

    assert done.status_code == 302 and done.headers["Location"] == "/app/"
    assert client.get("/app/").status_code == 200  # still signed in, with a new session
    assert other.get("/admin/users/me").status_code == 401
    auth.login("me@example.com", NEW_PASSWORD)


def test_the_password_page_needs_a_session_and_its_csrf_token(client, auth):
    assert client.get("/app/password").headers["Location"].startswith("/app/login?next=")
    auth.create_user("me@example.com")
    start_session(client, auth.login("me@example.com"))
    body = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post("/app/password", data=body).status_code == 400  # no CSRF token
    auth.login("me@example.com")  # unchanged
