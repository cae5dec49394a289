"""Login throttling, in process on both stores (the database and the Redis on 127.0.0.1).

Across gunicorn workers and instances: tests/test_throttle_live.py.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth.auth import throttle
from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.models import RateLimitCounter
from tests.helpers import PASSWORD, AuthActions

EMAIL = "victim@example.com"
WRONG = "not the password"
PAIR_LIMIT = throttle.ACCOUNT_AND_ADDRESS.amount
ACCOUNT_LIMIT = throttle.ACCOUNT.amount
ADDRESS_LIMIT = throttle.ADDRESS.amount
WINDOW = throttle.ACCOUNT_AND_ADDRESS.get_expiry()


@pytest.fixture
def throttled(app_factory: Any, app: Flask, store_settings: dict[str, Any]) -> Flask:
    """An app on the store under test (the ``app`` fixture empties the database afterwards)."""
    return app_factory(**store_settings)


@pytest.fixture
def client(throttled: Flask) -> FlaskClient:
    return throttled.test_client()


@pytest.fixture
def victim(throttled: Flask, client: FlaskClient) -> AuthActions:
    actions = AuthActions(throttled, client)
    actions.create_user(EMAIL)
    return actions


def login(client: FlaskClient, email: str = EMAIL, password: str = WRONG, address: str = "192.0.2.10", **headers: str):
    return client.post(
        "/auth/user/emailpass",
        json={"email": email, "password": password},
        environ_overrides={"REMOTE_ADDR": address},
        headers=headers,
    )


def fail(client: FlaskClient, times: int, **kwargs: Any) -> None:
    for n in range(times):
        response = login(client, **kwargs)
        assert response.status_code == 401, (n, response.get_json())


def assert_throttled(response: Any) -> int:
    assert response.status_code == 429, response.get_json()
    assert response.get_json() == {"type": "too_many_requests", "message": throttle.TOO_MANY_ATTEMPTS}
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


def test_the_limits_are_bounded_windows():
    for limit in (throttle.ACCOUNT_AND_ADDRESS, throttle.ACCOUNT, throttle.ADDRESS):
        assert limit.get_expiry() == 15 * 60  # a refusal never outlasts 15 minutes
    assert PAIR_LIMIT < ACCOUNT_LIMIT <= 25  # ASVS 2.2.1: at most 100 failures an hour on one account


def test_429_after_the_limit_even_with_the_right_password(victim, client):
    fail(client, PAIR_LIMIT)
    assert_throttled(login(client))
    assert_throttled(login(client, password=PASSWORD))  # no password check: guessing stops here


def test_unknown_email_is_throttled_exactly_like_a_known_one(victim, client):
    fail(client, PAIR_LIMIT, email="nobody@example.com", address="192.0.2.20")
    fail(client, PAIR_LIMIT, address="192.0.2.21")
    unknown = login(client, email="nobody@example.com", address="192.0.2.20")
    known = login(client, address="192.0.2.21")
    assert_throttled(unknown)
    assert (known.status_code, known.get_data()) == (unknown.status_code, unknown.get_data())


def test_the_email_is_counted_case_insensitively(victim, client):
    # Surrounding spaces are no longer trimmed: such an email is refused (400) before any counting.
    for n in range(PAIR_LIMIT):
        fail(client, 1, email=[EMAIL, EMAIL.upper(), EMAIL.title()][n % 3])
    assert_throttled(login(client, email="Victim@Example.COM"))


def test_a_successful_login_clears_its_own_failures(victim, client):
    fail(client, PAIR_LIMIT - 1)
    assert login(client, password=PASSWORD).status_code == 200
    fail(client, PAIR_LIMIT - 1)  # would be 429 at the fifth had the success not cleared the count
    assert login(client, password=PASSWORD).status_code == 200


def test_another_address_still_logs_in_when_one_address_is_throttled(victim, client):
    fail(client, PAIR_LIMIT, address="198.51.100.7")
    assert_throttled(login(client, address="198.51.100.7", password=PASSWORD))
    assert login(client, address="192.0.2.44", password=PASSWORD).status_code == 200


def test_failures_from_many_addresses_throttle_the_account(victim, client):
    for n in range(ACCOUNT_LIMIT):
        fail(client, 1, address=f"203.0.113.{n + 1}")
    assert_throttled(login(client, address="203.0.113.200", password=PASSWORD))


def test_failures_over_many_accounts_throttle_the_address(victim, client):
    for n in range(ADDRESS_LIMIT):
        fail(client, 1, email=f"user{n}@example.com", address="192.0.2.99")
    assert_throttled(login(client, address="192.0.2.99", password=PASSWORD))
    assert login(client, address="192.0.2.98", password=PASSWORD).status_code == 200


def test_x_forwarded_for_is_ignored_without_trusted_proxies(victim, client):
    """Rotating the header must not reset the count: with TRUSTED_PROXIES=0 the peer address is the client."""
    for n in range(PAIR_LIMIT):
        fail(client, 1, **{"X-Forwarded-For": f"10.0.0.{n}"})
    assert_throttled(login(client, **{"X-Forwarded-For": "10.0.0.250"}))


@pytest.mark.settings(TRUSTED_PROXIES="1")
def test_behind_one_proxy_the_client_is_the_address_that_proxy_saw(victim, client):
    proxy = "10.1.1.1"
    for n in range(PAIR_LIMIT):  # a spoofed first entry changes nothing: only the proxy's own entry counts
        fail(client, 1, address=proxy, **{"X-Forwarded-For": f"6.6.6.{n}, 198.51.100.20"})
    assert_throttled(login(client, address=proxy, **{"X-Forwarded-For": "198.51.100.20"}))
    assert login(client, address=proxy, password=PASSWORD, **{"X-Forwarded-For": "198.51.100.21"}).status_code == 200


def test_one_ipv6_client_is_its_slash_64(victim, client):
    for n in range(PAIR_LIMIT):
        fail(client, 1, address=f"2001:db8:1:2::{n + 1:x}")
    assert_throttled(login(client, address="2001:db8:1:2:ffff:ffff:ffff:ffff"))
    assert login(client, address="2001:db8:1:3::1", password=PASSWORD).status_code == 200


def test_the_store_never_holds_the_email(victim, client, throttled, store_settings):
    fail(client, 1)
    if store_settings["REDIS_URL"]:
        store = redis.Redis.from_url(store_settings["REDIS_URL"])
        keys = [k.decode() for k in store.scan_iter(f"{store_settings['RATELIMIT_KEY_PREFIX']}*")]
        store.close()
    else:
        with throttled.app_context():
            keys = list(db.session.execute(db.select(RateLimitCounter.key)).scalars())
    assert len(keys) == 3
    assert not any("victim" in key or "example.com" in key for key in keys)


def test_a_throttled_login_is_one_security_event_without_the_email(victim, client, caplog):
    fail(client, PAIR_LIMIT)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    assert_throttled(login(client))
    [event] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "medusa_auth.security"]
    assert event["event"] == "login_throttled"
    assert event["limits"] == ["account_and_address"]
    assert event["client"] == "192.0.2.10"
    assert EMAIL not in caplog.text and WRONG not in caplog.text


@pytest.mark.parametrize("store_settings", ["database"], indirect=True)
def test_the_refusal_ends_with_its_window(victim, client, monkeypatch: pytest.MonkeyPatch):
    fail(client, PAIR_LIMIT)
    retry_after = assert_throttled(login(client))
    later = time.time() + retry_after + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert login(client, password=PASSWORD).status_code == 200


@pytest.mark.settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_redis_refuses_logins_with_503_not_500(app: Flask):
    """Fail closed: without the shared counter, a login would be an uncounted guess."""
    response = app.test_client().post("/auth/user/emailpass", json={"email": EMAIL, "password": WRONG})
    assert response.status_code == 503
    assert response.get_json()["type"] == "unexpected_state"
    assert response.headers["Retry-After"].isdigit()


@pytest.mark.settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_redis_leaves_every_other_route_answering(app: Flask, auth):
    """Only sign-in needs the counters: keys, verification and the admin API do not wait on Redis."""
    client = app.test_client()
    assert client.get("/.well-known/jwks.json").status_code == 200
    assert client.get("/health").status_code == 200
    with app.app_context():
        token = medusa_auth().tokens.issue_auth_token("authid_1", "user_1", {})
    assert client.get("/admin/users/me", headers=auth.bearer(token)).status_code == 404  # verified; no such user


def test_registrations_are_limited_per_client_address(throttled, client):
    limit = throttle.REGISTRATIONS.amount
    for n in range(limit):
        body = {"email": f"new{n}@example.com", "password": PASSWORD}
        response = client.post(
            "/auth/user/emailpass/register", json=body, environ_overrides={"REMOTE_ADDR": "192.0.2.30"}
        )
        assert response.status_code == 200, (n, response.get_json())
    refused = client.post(
        "/auth/user/emailpass/register",
        json={"email": "one-more@example.com", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": "192.0.2.30"},
    )
    assert_throttled(refused)
    other = client.post(
        "/auth/user/emailpass/register",
        json={"email": "one-more@example.com", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": "192.0.2.31"},
    )
    assert other.status_code == 200
