"""Security headers on every response, bounded and well-typed bodies, and a database that is down."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask import Flask, Response, g

from medusa_auth import ConfigError, create_app
from medusa_auth.extension import medusa_auth
from medusa_auth.pipeline import API_CSP, HSTS, PAGE_CSP
from medusa_auth.settings import DEFAULTS
from tests.helpers import PASSWORD
from tests.live import free_port

LOGIN = "/auth/user/emailpass"
MAX_CONTENT_LENGTH = DEFAULTS["MAX_CONTENT_LENGTH"]


def every_kind_of_response(app: Flask, client: Any, auth: Any) -> list[Any]:
    token = auth.token()
    return [
        client.get("/health"),
        client.get("/.well-known/jwks.json"),
        client.get("/openapi.json"),
        client.get("/admin/users/me", headers=auth.bearer(token)),
        client.get("/admin/users/me"),
        client.get("/admin/users/user_nope", headers=auth.bearer(token)),
        client.get("/no/such/path"),
        client.delete(LOGIN),
        client.post(LOGIN, data="x" * (MAX_CONTENT_LENGTH + 1), content_type="application/json"),
        client.post(LOGIN, json={"email": "a@example.com", "password": "wrong"}),
    ]


# -- headers -------------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(app, client, auth):
    responses = every_kind_of_response(app, client, auth)
    assert {r.status_code for r in responses} >= {200, 401, 404, 405, 413}
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == API_CSP
        assert "Strict-Transport-Security" not in response.headers  # plain http


def test_html_pages_get_the_strict_page_policy(app, client):
    app.add_url_rule("/page", "page", lambda: Response("<p>hello</p>", mimetype="text/html"))
    response = client.get("/page")
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
        assert directive in PAGE_CSP
    assert "unsafe-inline" not in PAGE_CSP and "unsafe-eval" not in PAGE_CSP


def test_a_view_that_sets_its_own_policy_keeps_it(app, client):
    own = "default-src 'self'"
    app.add_url_rule(
        "/own", "own", lambda: Response("<p>x</p>", mimetype="text/html", headers={"Content-Security-Policy": own})
    )
    assert client.get("/own").headers["Content-Security-Policy"] == own


def test_hsts_only_over_https(client):
    assert client.get("/health", base_url="https://auth.example.com").headers["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in client.get("/health").headers


def test_a_forwarded_proto_header_is_not_believed_without_trusted_proxies(client):
    response = client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.settings(TRUSTED_PROXIES="1")
def test_behind_a_trusted_proxy_that_terminates_tls_hsts_is_sent(client):
    response = client.get("/health", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"})
    assert response.headers["Strict-Transport-Security"] == HSTS


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "99"])
def test_a_bad_trusted_proxies_stops_startup_naming_it(settings, value):
    with pytest.raises(ConfigError, match="^TRUSTED_PROXIES="):
        create_app({**settings, "TRUSTED_PROXIES": value})


def test_a_bad_redis_url_stops_startup_without_echoing_its_password(settings):
    with pytest.raises(ConfigError, match="^REDIS_URL") as raised:
        create_app({**settings, "REDIS_URL": "http://:hunter2-secret@127.0.0.1:6379/0"})
    assert "hunter2" not in str(raised.value)


# -- bodies --------------------------------------------------------------------------------------


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.get_data()[:200]
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == {"type", "message"}


@pytest.mark.parametrize(
    "data,content_type",
    [
        ('{"email": "a@example.com", "password": "x"}', "text/plain"),
        ("email=a%40example.com&password=x", "application/x-www-form-urlencoded"),
        ('{"email": "a@example.com", "password": ', "application/json"),
        ("[]", "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ('{"email": 5, "password": "x"}', "application/json"),
        ('{"email": "a@example.com", "password": ["x"]}', "application/json"),
        ("", "application/json"),
        ("{}", "application/json; charset=latin-1"),
    ],
    ids=[
        "text-plain",
        "form",
        "cut-json",
        "array",
        "string",
        "null",
        "not-utf8",
        "email-number",
        "password-list",
        "empty",
        "empty-object",
    ],
)
@pytest.mark.parametrize("path", [LOGIN, f"{LOGIN}/register"])
def test_a_body_of_the_wrong_type_or_not_json_is_400_json(client, path, data, content_type):
    assert_json_error(client.post(path, data=data, content_type=content_type), 400)


@pytest.mark.parametrize("path", [LOGIN, f"{LOGIN}/register", "/auth/token/refresh"])
def test_a_body_over_64_kib_is_413_json(client, auth, path):
    body = json.dumps({"email": "a@example.com", "password": "x", "padding": "p" * MAX_CONTENT_LENGTH})
    headers = auth.bearer(auth.token()) if path.endswith("refresh") else {}
    assert_json_error(client.post(path, data=body, content_type="application/json", headers=headers), 413)


def test_a_body_just_under_the_limit_is_read(client, auth):
    auth.create_user()
    body = {"email": "admin@example.com", "password": PASSWORD, "padding": "p" * (MAX_CONTENT_LENGTH - 200)}
    assert client.post(LOGIN, json=body).status_code == 200


# -- the database down ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite-missing-directory", "postgresql-closed-port"])
def database_down(request, app_factory) -> Flask:
    """The same keys and settings, on a database that cannot be reached (a real driver, a real failure)."""
    url = {
        "sqlite-missing-directory": "sqlite:////nonexistent-directory/medusa_auth.sqlite3",
        "postgresql-closed-port": f"postgresql://postgres@127.0.0.1:{free_port()}/medusa_auth?connect_timeout=2",
    }[request.param]
    app = app_factory(DATABASE_URL=url)
    app.add_url_rule("/admin/echo", "echo", lambda: dict(g.auth_context))
    return app


def access_token(app: Flask) -> str:
    with app.app_context():
        return medusa_auth().tokens.issue_auth_token("authid_1", "user_1", {})


def test_routes_that_need_the_database_answer_503_json(database_down, caplog):
    client, token = database_down.test_client(), access_token(database_down)
    bearer = {"Authorization": f"Bearer {token}"}
    caplog.set_level(logging.ERROR, logger="medusa_auth")
    responses = [
        client.post(LOGIN, json={"email": "a@example.com", "password": "a secret password"}),
        client.post(f"{LOGIN}/register", json={"email": "b@example.com", "password": "a secret password"}),
        client.post("/auth/token/refresh", headers=bearer),
        client.get("/admin/users/me", headers=bearer),
        client.get("/admin/users", headers=bearer),
    ]
    for response in responses:
        assert_json_error(response, 503)
        assert response.get_json()["type"] == "database_error"
        assert response.headers["Retry-After"].isdigit()
    assert "database unavailable" in caplog.text
    assert "a secret password" not in caplog.text and "a@example.com" not in caplog.text
    assert "Traceback" not in caplog.text


def test_keys_and_token_verification_keep_answering_without_the_database(database_down):
    """The keys answer; a token is checked as far as it can be: a forged one is a 401, a good one a 503, since
    which sign-ins have ended cannot be read (fail closed, without telling the client its token is bad)."""
    client, token = database_down.test_client(), access_token(database_down)
    assert client.get("/.well-known/jwks.json").status_code == 200
    assert client.get("/.well-known/openid-configuration").status_code == 200
    assert client.get("/health").status_code == 200
    unchecked = client.get("/admin/echo", headers={"Authorization": f"Bearer {token}"})
    assert_json_error(unchecked, 503)
    assert unchecked.get_json()["type"] == "database_error" and unchecked.headers["Retry-After"].isdigit()
    refused = client.get("/admin/users/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert refused.status_code == 401
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["database"] is False
