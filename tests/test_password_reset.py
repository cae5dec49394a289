"""Password reset (Medusa's API): 201 always, a mailed single-use 15-minute link, sessions ended."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from medusa_auth import clock
from medusa_auth.auth.reset import RESET_LIFETIME_SECONDS
from medusa_auth.database import db
from medusa_auth.models import PasswordReset
from tests.helpers import PASSWORD, FakeClock, start_session
from tests.web_fixtures import html_part, link_in, text_part, token_of

BACKEND = "https://auth.example.com"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def settings(settings, mailbox):
    return {**settings, **mailbox.settings(), "MEDUSA_BACKEND_URL": BACKEND}


def request_reset(client, identifier: str = "admin@example.com"):
    return client.post("/auth/user/emailpass/reset-password", json={"identifier": identifier})


def reset_token(client, mailbox, count: int = 1) -> str:
    assert request_reset(client).status_code == 201
    return token_of(link_in(mailbox.wait_for(count)[-1]))


def update(client, token: str, password: str = NEW_PASSWORD):
    return client.post(
        "/auth/user/emailpass/update", json={"password": password}, headers={"Authorization": f"Bearer {token}"}
    )


def test_reset_mails_a_link_built_from_the_backend_url_not_the_host_header(auth, client, mailbox):
    auth.create_user()
    response = client.post(
        "/auth/user/emailpass/reset-password",
        json={"identifier": "Admin@Example.com"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 201
    [message] = mailbox.wait_for(1)
    assert message["To"] == "admin@example.com" and message["From"] == "auth@example.com"
    link = link_in(message)
    assert link.startswith(f"{BACKEND}/app/reset-password/confirm?token=")
    assert link.replace("&", "&amp;") in html_part(message)
    assert f"{RESET_LIFETIME_SECONDS // 60} minutes" in text_part(message)


def test_unknown_email_gets_the_same_201_and_no_mail(client, mailbox):
    response = request_reset(client, "nobody@example.com")
    assert response.status_code == 201 and response.data == b""
    with pytest.raises(pytest.fail.Exception):
        mailbox.wait_for(1, timeout=1.0)


@pytest.mark.parametrize("body", [None, {}, {"identifier": 5}, {"identifier": ""}, {"identifier": "x" * 400}])
def test_a_malformed_request_is_a_400(client, body):
    response = client.post("/auth/user/emailpass/reset-password", json=body)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_the_token_sets_a_new_password_once(auth, client, mailbox):
    auth.create_user()
    token = reset_token(client, mailbox)
    first = update(client, token)
    assert first.status_code == 200 and first.get_json() == {"success": True}
    assert auth.login(password=NEW_PASSWORD)
    again = update(client, token, "yet another passphrase")
    assert again.status_code == 401 and again.get_json()["type"] == "unauthorized"
    assert auth.login(password=NEW_PASSWORD)


def test_racing_uses_of_one_token_change_the_password_once(app, auth, mailbox):
    auth.create_user()
    token = reset_token(app.test_client(), mailbox)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda n: update(app.test_client(), token, f"password number {n}").status_code, range(8))
        )
    assert sorted(statuses) == [200] + [401] * 7


def test_a_newer_reset_replaces_the_older_link(auth, client, mailbox):
    auth.create_user()
    older = reset_token(client, mailbox, 1)
    newer = reset_token(client, mailbox, 2)
    assert update(client, older).status_code == 401
    assert update(client, newer).status_code == 200


def test_the_token_expires_after_15_minutes(auth, client, mailbox, frozen_clock: FakeClock):
    auth.create_user()
    token = reset_token(client, mailbox)
    now = frozen_clock()
    frozen_clock.move_to(now + RESET_LIFETIME_SECONDS + clock.LEEWAY_SECONDS + 1)
    assert update(client, token).status_code == 401
    frozen_clock.move_to(now)
    assert auth.login(password=PASSWORD)


def test_the_database_keeps_only_a_hash_of_the_jti(app, auth, client, mailbox):
    auth.create_user()
    token = reset_token(client, mailbox)
    with app.app_context():
        stored = db.session.execute(db.select(PasswordReset.jti_hash)).scalar_one()
    assert len(stored) == 64 and stored not in token


def test_using_the_token_ends_every_session_of_the_user(app, auth, client, mailbox):
    access = auth.token()
    browser = app.test_client()
    start_session(browser, access)
    assert browser.get("/admin/users/me").status_code == 200
    assert update(client, reset_token(client, mailbox)).status_code == 200
    assert browser.get("/admin/users/me").status_code == 401


def test_a_short_password_is_refused_and_the_token_still_works(auth, client, mailbox):
    auth.create_user()
    token = reset_token(client, mailbox)
    short = update(client, token, "short")
    assert short.status_code == 400 and short.get_json()["type"] == "invalid_data"
    assert update(client, token).status_code == 200


def test_other_tokens_are_not_reset_tokens_and_reset_tokens_are_not_bearer_tokens(auth, client, mailbox):
    access = auth.token()
    # An access token is a signed-in person changing their own password: that needs the current one.
    refused = update(client, access)
    assert refused.status_code == 400 and "current_password" in refused.get_json()["message"]
    auth.login()  # the password did not change
    token = reset_token(client, mailbox)
    assert client.get("/admin/users/me", headers=auth.bearer(token)).status_code == 401
    assert client.post("/auth/token/refresh", headers=auth.bearer(token)).status_code == 401
