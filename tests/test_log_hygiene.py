"""Every flow on this branch, once, with every log line captured: no secret in any line or error body.

Secrets: passwords (right and wrong), every token the service issued or was sent (whole, and its
payload and signature segments), the private key PEM (armour and every body line), the cookie secret,
and the password inside a Redis URL. Logging is set up as in production (``medusa_auth`` loggers at
the level LOG_LEVEL allows, here DEBUG; other libraries at their defaults), and the security events
must each be one JSON line. A second test reads a live gunicorn's access and error logs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from medusa_auth import clock
from medusa_auth.auth import throttle
from tests.helpers import PASSWORD
from tests.live import live_server, rsa_private_pem

WRONG_PASSWORD = "Wrong-Horse-Battery-9137"
REDIS_PASSWORD = "redis-secret-pass-5512"
SECURITY_EVENTS = {
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "identity_registered",
    "user_created",
    "token_refused",
    "login_throttle_unavailable",
    "key_generated",
}  # registration_throttled is asserted in test_throttle.py


def pem_pieces(pem: str) -> list[str]:
    return ["PRIVATE KEY", *(line for line in pem.splitlines() if line and not line.startswith("-----"))]


def token_pieces(token: str) -> list[str]:
    return [token, *(segment for segment in token.split(".")[1:] if len(segment) >= 16)]


class Secrets:
    """What must never be logged; tokens are added as the flows produce them."""

    def __init__(self, *values: str):
        self.values = [v for v in values if v]

    def add_token(self, token: str) -> str:
        self.values += token_pieces(token)
        return token

    def found_in(self, text: str) -> list[str]:
        return [value[:24] for value in self.values if value in text]


def drive_every_flow(
    app: Flask, client: Any, auth: Any, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    """Each route and outcome on this branch once; returns the error responses (non-2xx)."""
    responses = []

    def keep(response: Any) -> Any:
        responses.append(response)
        return response

    user_id = auth.create_user("admin@example.com", PASSWORD)  # the service's create_user (CLI path)
    token = secrets.add_token(auth.login("admin@example.com", PASSWORD))
    bearer = auth.bearer(token)
    registration = keep(
        client.post("/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD})
    )
    secrets.add_token(registration.get_json()["token"])
    secrets.add_token(keep(client.post("/auth/token/refresh", headers=bearer)).get_json()["token"])
    keep(client.post("/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD}))
    keep(client.post("/auth/user/emailpass", json={"email": "nobody@example.com", "password": WRONG_PASSWORD}))
    for _ in range(throttle.ACCOUNT_AND_ADDRESS.amount):
        keep(client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": WRONG_PASSWORD}))
    keep(client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": PASSWORD}))  # 429
    for path in ("/admin/users/me", "/admin/users?limit=5", f"/admin/users/{user_id}", "/admin/users/user_none"):
        keep(client.get(path, headers=bearer))
    keep(client.get("/admin/users?limit=0", headers=bearer))
    for bad in (token[:-4] + "AAAA", token + "x", "Bearer", f"{token} {token}", "x" * 9000):
        keep(client.get("/admin/users/me", headers={"Authorization": f"Bearer {bad}"}))
    keep(client.get("/admin/users/me", headers={"Authorization": token}))  # no scheme
    keep(client.get("/admin/users/me"))
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration", "/openapi.json", "/health", "/ready"):
        keep(client.get(path))
    keep(client.get("/nowhere"))
    keep(client.delete("/auth/user/emailpass"))
    keep(client.post("/auth/user/emailpass", data=f'{{"password": "{WRONG_PASSWORD}"', content_type="application/json"))
    keep(client.post("/auth/user/emailpass", data="p" * 70_000, content_type="application/json"))
    later = clock.now() + 3 * 86400
    monkeypatch.setattr(clock, "now", lambda: later)
    keep(client.get("/admin/users/me", headers=bearer))  # expired
    return [r for r in responses if r.status_code >= 400]


def test_no_secret_in_any_log_line_or_error_body(app, client, auth, rsa_pem, caplog, monkeypatch, app_factory, runner):
    secrets = Secrets(PASSWORD, WRONG_PASSWORD, REDIS_PASSWORD, app.config["SECRET_KEY"], *pem_pieces(rsa_pem))
    caplog.set_level(logging.DEBUG, logger="medusa_auth")

    errors = drive_every_flow(app, client, auth, secrets, monkeypatch)
    # The store and the database down, the CLI's commands, and a key file written by `keys generate`.
    redis_down = app_factory(REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0")
    errors.append(
        redis_down.test_client().post("/auth/user/emailpass", json={"email": "a@example.com", "password": PASSWORD})
    )
    db_down = app_factory(DATABASE_URL="sqlite:////nonexistent-directory/x.sqlite3")
    errors.append(
        db_down.test_client().post("/auth/user/emailpass", json={"email": "a@example.com", "password": PASSWORD})
    )
    key_file = Path(app.instance_path).parent / "log-hygiene-key.pem"
    outputs = [
        runner.invoke(args=["users", "create", "--email", "cli@example.com", "--password", PASSWORD]),
        runner.invoke(args=["users", "create", "--email", "cli@example.com", "--password", PASSWORD]),
        runner.invoke(args=["jwks", "export"]),
    ]
    try:
        outputs.append(runner.invoke(args=["keys", "generate", "--out", str(key_file)]))
        secrets.values += pem_pieces(key_file.read_text())
    finally:
        key_file.unlink(missing_ok=True)

    text = caplog.text
    assert secrets.found_in(text) == []
    for response in errors:
        assert secrets.found_in(response.get_data(as_text=True)) == [], (
            response.status_code,
            response.get_data()[:200],
        )
    for output in outputs:
        assert "PRIVATE KEY" not in output.output and PASSWORD not in output.output

    events = [r for r in caplog.records if r.name == "medusa_auth.security"]
    assert {json.loads(r.getMessage())["event"] for r in events} == SECURITY_EVENTS
    assert all("\n" not in r.getMessage() for r in events)
    assert {r.status_code for r in errors} >= {400, 401, 404, 405, 413, 429, 503}


@pytest.mark.slow
def test_gunicorn_logs_hold_no_token_even_from_a_query_string(tmp_path: Path):
    pem = rsa_private_pem()
    email, password = "live-logs@example.com", "correct horse battery staple"
    with live_server(tmp_path / "live", user=(email, password), private_key_pem=pem) as server:
        token = server.login(email, password)
        bearer = {"Authorization": f"Bearer {token}"}
        server.get(f"/admin/users/me?token={token}", headers=bearer)
        server.get(
            f"/admin/users/me?token={token}", headers={**bearer, "Referer": f"http://x.example/accept?token={token}"}
        )
        server.post("/auth/user/emailpass", json_body={"email": email, "password": "wrong " + password})
        too_long = server.get(f"/admin/users?token={token}&pad={'p' * 5000}", headers=bearer)
        too_large = server.get("/admin/users/me", headers={"Authorization": f"Bearer {token}{'A' * 100_000}"})
        server.get("/admin/users/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
        logs = server.stdout_file.read_text() + server.stderr()
    assert "/admin/users/me" in logs  # the access log is there to be read
    # gunicorn refuses these before the app, in Medusa's JSON error shape and without echoing the request.
    assert (too_long.status, too_long.json()["type"]) == (414, "invalid_data")
    assert too_large.status in (400, 431) and too_large.json()["type"] == "invalid_data"
    assert token not in (too_long.body + too_large.body).decode()
    for secret in [*token_pieces(token), password, *pem_pieces(pem)]:
        assert secret not in logs, secret[:24]
