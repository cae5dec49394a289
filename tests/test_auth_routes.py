"""/auth routes: emailpass login, registration, refresh."""

from __future__ import annotations

import json
import statistics
import time

import pytest
from argon2 import PasswordHasher

from medusa_auth.database import db
from medusa_auth.models import ProviderIdentity
from tests.helpers import PASSWORD, claims_of

INVALID_CREDENTIALS = {"type": "unauthorized", "message": "Invalid email or password"}


def test_login_returns_an_access_token_for_the_user(auth, client):
    user_id = auth.create_user()
    response = client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 200
    claims = claims_of(response.get_json()["token"])
    assert claims["actor_id"] == user_id
    assert claims["actor_type"] == "user"
    assert claims["app_metadata"] == {"user_id": user_id}
    assert claims["auth_identity_id"].startswith("authid_")
    assert response.headers["Cache-Control"] == "no-store"


def test_login_ignores_the_case_of_the_email(auth, client):
    auth.create_user("Mixed.Case@Example.com")
    assert auth.login("mixed.case@EXAMPLE.COM")


def test_unknown_email_and_wrong_password_get_the_same_answer(auth, client):
    auth.create_user()
    unknown = client.post("/auth/user/emailpass", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": "wrong password"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json() == INVALID_CREDENTIALS
    assert unknown.headers.get("WWW-Authenticate") == wrong.headers.get("WWW-Authenticate")


@pytest.mark.real_hasher
def test_unknown_email_takes_as_long_as_a_wrong_password(auth, client):
    """A dummy argon2id check runs for unknown emails, so timing does not reveal who has an account."""
    auth.create_user()

    def seconds(email: str, n: int) -> float:
        started = time.perf_counter()
        body = {"email": email, "password": "wrong password"}
        # Each from its own address, so login throttling never answers instead (a fast 429).
        client.post("/auth/user/emailpass", json=body, environ_overrides={"REMOTE_ADDR": f"192.0.2.{n + 1}"})
        return time.perf_counter() - started

    client.post("/auth/user/emailpass", json={"email": "warm@example.com", "password": "x"})  # build the dummy hash
    # Alternating samples: a burst of load on a shared machine slows both kinds alike.
    unknown, known = [], []
    for n in range(9):
        unknown.append(seconds("nobody@example.com", n))
        known.append(seconds("admin@example.com", n + 100))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, ratio


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        [],
        {},
        {"email": "admin@example.com"},
        {"password": PASSWORD},
        {"email": 5, "password": PASSWORD},
        {"email": "admin@example.com", "password": ["x"]},
        {"email": "", "password": PASSWORD},
        {"email": "a" * 400 + "@example.com", "password": PASSWORD},
        {"email": "admin@example.com", "password": "p" * 2000},
    ],
)
def test_malformed_login_bodies_get_invalid_data(client, body):
    if isinstance(body, str) or body is None:
        response = client.post("/auth/user/emailpass", data=body or "", content_type="application/json")
    else:
        response = client.post("/auth/user/emailpass", json=body)
    assert response.status_code == 400
    assert response.get_json()["type"] == "invalid_data"


def test_register_returns_a_registration_token(client):
    response = client.post("/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD})
    assert response.status_code == 200
    claims = claims_of(response.get_json()["token"])
    assert claims["actor_id"] == ""
    assert claims["app_metadata"] == {}
    assert claims["auth_identity_id"].startswith("authid_")


def test_register_twice_is_refused_with_medusas_message(client):
    body = {"email": "new@example.com", "password": PASSWORD}
    assert client.post("/auth/user/emailpass/register", json=body).status_code == 200
    again = client.post("/auth/user/emailpass/register", json={**body, "email": "NEW@example.com"})
    assert again.status_code == 401
    assert again.get_json() == {"type": "unauthorized", "message": "Identity with email already exists"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "new@example.com", "password": "short"}, "password"),
    ],
)
def test_register_checks_email_and_password(client, body, problem):
    response = client.post("/auth/user/emailpass/register", json=body)
    assert response.status_code == 400
    assert problem in response.get_json()["message"]


def test_a_registered_identity_logs_in_to_a_registration_token(client):
    body = {"email": "new@example.com", "password": PASSWORD}
    client.post("/auth/user/emailpass/register", json=body)
    token = client.post("/auth/user/emailpass", json=body).get_json()["token"]
    assert claims_of(token)["actor_id"] == ""


def test_refresh_rereads_the_identity(app, auth, client):
    registration = client.post("/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD})
    token = registration.get_json()["token"]
    identity_id = claims_of(token)["auth_identity_id"]
    with app.app_context():
        from medusa_auth.models import AuthIdentity, User

        user = User(email="new@example.com")
        db.session.add(user)
        db.session.flush()
        db.session.get(AuthIdentity, identity_id).app_metadata = {"user_id": user.id}
        db.session.commit()
        user_id = user.id
    refreshed = client.post("/auth/token/refresh", headers=auth.bearer(token))
    assert refreshed.status_code == 200
    assert claims_of(refreshed.get_json()["token"])["actor_id"] == user_id
    me = client.get("/admin/users/me", headers=auth.bearer(refreshed.get_json()["token"]))
    assert me.get_json()["user"]["id"] == user_id


def test_refresh_needs_a_token(client):
    response = client.post("/auth/token/refresh")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_refresh_of_a_deleted_identity_is_refused(app, auth, client):
    token = auth.token()
    with app.app_context():
        from medusa_auth.models import AuthIdentity

        db.session.execute(db.delete(AuthIdentity))
        db.session.commit()
    assert client.post("/auth/token/refresh", headers=auth.bearer(token)).status_code == 401


@pytest.mark.real_hasher
def test_hashes_are_argon2id_with_their_parameters_recorded(app, auth):
    auth.create_user()
    with app.app_context():
        stored = db.session.execute(db.select(ProviderIdentity.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


@pytest.mark.settings(PASSWORD_HASH_TIME_COST=1, PASSWORD_HASH_MEMORY_COST=64)
def test_login_rehashes_a_hash_made_with_other_parameters(app, auth):
    auth.create_user()
    with app.app_context():
        provider = db.session.execute(db.select(ProviderIdentity)).scalar_one()
        provider.password_hash = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1).hash(PASSWORD)
        db.session.commit()
    auth.login()
    with app.app_context():
        rehashed = db.session.execute(db.select(ProviderIdentity.password_hash)).scalar_one()
    assert "m=64,t=1,p=1" in rehashed
    auth.login()  # the new hash still verifies


def test_failed_and_successful_logins_are_logged_without_secrets(auth, client, caplog):
    auth.create_user()
    caplog.set_level("INFO", logger="medusa_auth.security")
    caplog.clear()
    client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": "wrong password"})
    token = auth.login()
    events = [json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "medusa_auth.security"]
    assert events == ["login_failed", "login_succeeded", "sign_in_session_started"]
    assert "wrong password" not in caplog.text
    assert PASSWORD not in caplog.text
    assert token not in caplog.text
