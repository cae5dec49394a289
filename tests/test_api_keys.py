"""API keys (SPEC §13): Medusa's routes and shapes, HTTP Basic on /admin, publishable keys on /store, the CLI."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time

import pytest

from medusa_auth.database import db
from medusa_auth.guard import PUBLISHABLE_KEY_INVALID, PUBLISHABLE_KEY_REQUIRED, SECRET_KEY_AS_BEARER
from medusa_auth.models import ApiKey
from tests.helpers import PASSWORD, api_key_attacks, bearer

REFUSED = {"type": "unauthorized", "message": "Invalid auth token provided"}
PEOPLE_ONLY = {"type": "not_allowed", "message": "An API key cannot do this: an admin's session or token must"}


@pytest.fixture
def admin(auth) -> dict[str, str]:
    return auth.bearer(auth.token())


def create(client, admin, kind: str = "secret", title: str = "ci") -> dict:
    response = client.post("/admin/api-keys", json={"title": title, "type": kind}, headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["api_key"]


def basic(token: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:{password}".encode()).decode()}


def publishable(token: str) -> dict[str, str]:
    return {"x-publishable-api-key": token}


# -- the routes ---------------------------------------------------------------------------------


def test_a_secret_key_is_shown_once_and_stored_as_a_keyed_hash(app, client, admin):
    key = create(client, admin, "secret", "deploy bot")
    token = key["token"]
    assert re.fullmatch(r"sk_[0-9a-f]{64}", token)
    assert key["id"].startswith("apk_")
    assert key["redacted"] == f"{token[:6]}***{token[-3:]}"
    assert (key["title"], key["type"], key["revoked_at"], key["last_used_at"]) == ("deploy bot", "secret", None, None)
    assert set(key) == {
        *("id", "token", "redacted", "title", "type", "last_used_at", "created_by", "revoked_by", "revoked_at"),
        *("created_at", "updated_at", "deleted_at"),
    }
    assert key["created_by"].startswith("user_")
    assert client.get(f"/admin/api-keys/{key['id']}", headers=admin).get_json()["api_key"]["token"] == ""
    listed = client.get("/admin/api-keys", headers=admin).get_json()
    assert [k["token"] for k in listed["api_keys"]] == [""]
    with app.app_context():
        row = db.session.get(ApiKey, key["id"])
        assert row.token is None
        assert token not in row.token_hash and row.token_hash != hashlib.sha256(token.encode()).hexdigest()


def test_a_publishable_key_stays_readable(client, admin):
    key = create(client, admin, "publishable", "storefront")
    assert re.fullmatch(r"pk_[0-9a-f]{64}", key["token"])
    assert client.get(f"/admin/api-keys/{key['id']}", headers=admin).get_json()["api_key"]["token"] == key["token"]


def test_keys_are_listed_in_pages_by_type_and_title(client, admin):
    create(client, admin, "secret", "Deploy bot")
    create(client, admin, "publishable", "EU storefront")
    create(client, admin, "publishable", "US storefront")
    everything = client.get("/admin/api-keys?limit=2", headers=admin).get_json()
    assert (everything["count"], everything["limit"], len(everything["api_keys"])) == (3, 2, 2)
    assert [k["title"] for k in everything["api_keys"]] == ["Deploy bot", "EU storefront"]
    stores = client.get("/admin/api-keys?type=publishable&q=storefront", headers=admin).get_json()
    assert [k["title"] for k in stores["api_keys"]] == ["EU storefront", "US storefront"]
    assert client.get("/admin/api-keys?q=eu%20STORE", headers=admin).get_json()["count"] == 1
    assert client.get("/admin/api-keys?q=%25", headers=admin).get_json()["count"] == 0  # a literal %
    assert client.get("/admin/api-keys?type=admin", headers=admin).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "type": "admin"},
        {"title": "x"},
        {"type": "secret"},
        {"title": "", "type": "secret"},
        {"title": "x" * 256, "type": "secret"},
        {"title": "a\x00b", "type": "publishable"},
        {"title": ["x"], "type": "secret"},
    ],
)
def test_a_bad_key_body_is_invalid_data(client, admin, body):
    response = client.post("/admin/api-keys", json=body, headers=admin)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_rename_revoke_then_delete(client, admin, auth):
    key = create(client, admin, "publishable")
    renamed = client.post(f"/admin/api-keys/{key['id']}", json={"title": "renamed"}, headers=admin)
    assert renamed.get_json()["api_key"]["title"] == "renamed"
    not_revoked = client.delete(f"/admin/api-keys/{key['id']}", headers=admin)
    assert not_revoked.status_code == 400
    assert not_revoked.get_json() == {
        "type": "not_allowed",
        "message": f"Cannot delete api keys that are not revoked - {key['id']}",
    }
    revoked = client.post(f"/admin/api-keys/{key['id']}/revoke", headers=admin).get_json()["api_key"]
    assert revoked["revoked_at"] is not None and revoked["revoked_by"] == key["created_by"]
    again = client.post(f"/admin/api-keys/{key['id']}/revoke", headers=admin)
    assert again.status_code == 400 and again.get_json()["type"] == "invalid_data"
    deleted = client.delete(f"/admin/api-keys/{key['id']}", headers=admin)
    assert deleted.get_json() == {"id": key["id"], "object": "api_key", "deleted": True}
    assert client.get(f"/admin/api-keys/{key['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_key_is_not_found(client, admin, method):
    path = "/admin/api-keys/apk_01NOTHERE" if method != "POST" else "/admin/api-keys/apk_01NOTHERE/revoke"
    response = client.open(path, method=method, headers=admin)
    assert response.status_code == 404 and response.get_json()["type"] == "not_found"


def test_the_routes_need_an_admin(client, auth):
    assert client.get("/admin/api-keys").status_code == 401
    assert client.post("/admin/api-keys", json={"title": "x", "type": "secret"}).status_code == 401


# -- a secret key opens /admin over HTTP Basic ----------------------------------------------------


def test_a_secret_key_opens_admin_over_basic_as_medusa_and_its_sdk_send_it(client, admin):
    token = create(client, admin)["token"]
    assert client.get("/admin/users", headers=basic(token)).status_code == 200
    raw = client.get("/admin/users", headers={"Authorization": f"Basic {token}"})  # Medusa takes it unencoded too
    assert raw.status_code == 200
    assert client.get("/admin/users", headers={"Authorization": f"basic {token}:"}).status_code == 200


def test_a_request_opened_by_a_key_acts_as_the_key(client, admin):
    key = create(client, admin, "secret")
    made = client.post("/admin/api-keys", json={"title": "shop", "type": "publishable"}, headers=basic(key["token"]))
    assert made.status_code == 200
    assert made.get_json()["api_key"]["created_by"] == key["id"]
    assert client.get("/admin/users/me", headers=basic(key["token"])).get_json() == PEOPLE_ONLY


def test_a_secret_key_sent_as_a_bearer_is_told_to_use_basic(client, admin):
    token = create(client, admin)["token"]
    response = client.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json() == {"type": "unauthorized", "message": SECRET_KEY_AS_BEARER}


def test_every_credential_that_is_not_a_live_secret_key_gets_the_one_401(client, admin, caplog):
    secret = create(client, admin, "secret")["token"]
    publishable_token = create(client, admin, "publishable")["token"]
    old = create(client, admin, "secret", "old")
    client.post(f"/admin/api-keys/{old['id']}/revoke", headers=admin)
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    for name, header in api_key_attacks(secret, publishable_token, old["token"]).items():
        response = client.get("/admin/users", headers={"Authorization": header})
        assert response.status_code == 401, name
        assert response.get_json() == REFUSED, name
    assert client.get("/admin/users", headers=basic(secret)).status_code == 200  # the control
    for token in (secret, publishable_token, old["token"]):
        assert token not in caplog.text and token[3:] not in caplog.text


def test_a_secret_key_opens_nothing_outside_admin(client, admin):
    token = create(client, admin)["token"]
    assert client.post("/auth/token/refresh", headers=basic(token)).status_code == 401
    assert client.post("/auth/session", headers=basic(token)).status_code == 401
    assert client.get("/store/customers/me", headers=basic(token)).status_code == 401
    accept = client.post("/admin/invites/accept?token=x", json={}, headers=basic(token))
    assert accept.status_code == 401 and accept.get_json() == REFUSED


def test_a_revoked_key_stops_at_once_here_and_within_the_bound_elsewhere(app, client, admin, app_factory):
    key = create(client, admin)
    other = app_factory(REVOCATION_REFRESH_SECONDS=1).test_client()  # another instance on the same database
    assert other.get("/admin/users", headers=basic(key["token"])).status_code == 200
    client.post(f"/admin/api-keys/{key['id']}/revoke", headers=admin)
    assert client.get("/admin/users", headers=basic(key["token"])).status_code == 401
    deadline = time.monotonic() + 3
    while other.get("/admin/users", headers=basic(key["token"])).status_code == 200:
        assert time.monotonic() < deadline, "the other instance still takes the revoked key"
        time.sleep(0.1)


def test_last_used_at_is_written_at_the_next_refresh_not_per_request(app, client, admin):
    key = create(client, admin)
    assert client.get("/admin/users", headers=basic(key["token"])).status_code == 200
    live = app.extensions["medusa_auth"].api_keys
    live.forget()
    assert client.get("/admin/users", headers=basic(key["token"])).status_code == 200
    used = client.get(f"/admin/api-keys/{key['id']}", headers=admin).get_json()["api_key"]
    assert used["last_used_at"] is not None
    assert used["updated_at"] == key["updated_at"]  # a use is not an update


# -- what a secret key may not do -----------------------------------------------------------------


def test_a_secret_key_cannot_manage_secret_keys_or_people(client, admin, auth):
    key = create(client, admin, "secret")
    other = create(client, admin, "publishable")
    machine = basic(key["token"])
    someone = auth.create_user("someone@example.com")
    refused = [
        client.post("/admin/api-keys", json={"title": "mine", "type": "secret"}, headers=machine),
        client.post(f"/admin/api-keys/{key['id']}/revoke", headers=machine),
        client.post(f"/admin/api-keys/{key['id']}", json={"title": "renamed"}, headers=machine),
        client.post(f"/admin/users/{someone}/reset-password", headers=machine),
        client.delete(f"/admin/users/{someone}", headers=machine),
        client.post("/admin/invites", json={"email": "new@example.com"}, headers=machine),
    ]
    for response in refused:
        assert (response.status_code, response.get_json()) == (403, PEOPLE_ONLY), response.request.path
    # Reading, and publishable keys, are a machine's to manage.
    assert client.get("/admin/api-keys", headers=machine).status_code == 200
    assert client.post(f"/admin/api-keys/{other['id']}/revoke", headers=machine).status_code == 200
    assert client.post(f"/admin/users/{someone}", json={"first_name": "Sam"}, headers=machine).status_code == 200
    assert client.get("/admin/users", headers=basic(key["token"])).status_code == 200  # the key still works


# -- publishable keys on /store -------------------------------------------------------------------


@pytest.fixture
def shopper(client) -> dict[str, str]:
    """A customer's bearer token, made before any publishable key exists."""
    credentials = {"email": "shopper@example.com", "password": PASSWORD}
    registration = client.post("/auth/customer/emailpass/register", json=credentials).get_json()["token"]
    created = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(registration))
    assert created.status_code == 200, created.get_json()
    return bearer(client.post("/auth/customer/emailpass", json=credentials).get_json()["token"])


def test_no_publishable_key_no_header_needed(client, shopper):
    assert client.get("/store/customers/me", headers=shopper).status_code == 200


def test_once_a_publishable_key_exists_store_needs_it(client, admin, shopper):
    token = create(client, admin, "publishable")["token"]
    missing = client.get("/store/customers/me", headers=shopper)
    assert missing.status_code == 400
    assert missing.get_json() == {"type": "not_allowed", "message": PUBLISHABLE_KEY_REQUIRED}
    for wrong in (f"pk_{'0' * 64}", token[:-1], token.upper(), "", "pk_", create(client, admin, "secret")["token"]):
        refused = client.get("/store/customers/me", headers={**shopper, **publishable(wrong)})
        assert refused.get_json() == {"type": "not_allowed", "message": PUBLISHABLE_KEY_INVALID}, wrong
    assert client.get("/store/customers/me", headers={**shopper, **publishable(token)}).status_code == 200
    assert client.get("/store/customers/me", headers=publishable(token)).get_json() == REFUSED  # a key is no login
    assert client.get("/store/customers/me").get_json() == REFUSED  # no credential: the 401 comes first
    assert client.get("/admin/users", headers=admin).status_code == 200  # /admin does not need one


def test_a_revoked_publishable_key_is_refused_and_the_last_one_revoked_lifts_the_rule(client, admin, shopper):
    first = create(client, admin, "publishable")
    second = create(client, admin, "publishable")
    client.post(f"/admin/api-keys/{first['id']}/revoke", headers=admin)
    refused = client.get("/store/customers/me", headers={**shopper, **publishable(first["token"])})
    assert refused.get_json()["message"] == PUBLISHABLE_KEY_INVALID
    assert client.get("/store/customers/me", headers={**shopper, **publishable(second["token"])}).status_code == 200
    client.post(f"/admin/api-keys/{second['id']}/revoke", headers=admin)
    assert client.get("/store/customers/me", headers=shopper).status_code == 200


# -- the command line -----------------------------------------------------------------------------


def test_the_cli_creates_lists_and_revokes(app, runner, client):
    created = runner.invoke(args=["api-keys", "create", "--title", "cron", "--type", "secret"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert re.fullmatch(r"sk_[0-9a-f]{64}", token)
    key_id = re.search(r"created (apk_\w+)", created.stderr).group(1)
    assert client.get("/admin/users", headers=basic(token)).status_code == 200
    listed = runner.invoke(args=["api-keys", "list"])
    assert key_id in listed.output and "live" in listed.output and token not in listed.output
    revoked = runner.invoke(args=["api-keys", "revoke", key_id])
    assert revoked.exit_code == 0 and f"revoked {key_id}" in revoked.output
    assert client.get("/admin/users", headers=basic(token)).status_code == 401
    assert runner.invoke(args=["api-keys", "revoke", key_id]).exit_code != 0
    assert runner.invoke(args=["api-keys", "revoke", "apk_01NOTHERE"]).exit_code != 0
    assert runner.invoke(args=["api-keys", "create", "--title", "x", "--type", "admin"]).exit_code != 0
