"""Every flow on this branch, once, with every log line captured: no secret in any line or error body.

Secrets: passwords (right and wrong), every token the service issued or was sent (whole, and its
payload and signature segments), the private key PEM (armour and every body line), the cookie secret,
and the password inside a Redis URL. Logging is set up as in production (``medusa_auth`` loggers at
the level LOG_LEVEL allows, here DEBUG; other libraries at their defaults), and the security events
must each be one JSON line. A second test reads a live gunicorn's access and error logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from flask import Flask

from medusa_auth import clock
from medusa_auth.auth import throttle
from tests.helpers import PASSWORD
from tests.live import (
    FLASK,
    HttpResponse,
    LiveServer,
    live_server,
    raw_exchange,
    read_until_closed,
    rsa_private_pem,
    run_command,
    stalled_client,
)

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
    "sign_in_session_started",
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


# -- a live gunicorn driven on every route, with secrets in every place a client can put them ---------------

LIVE_EMAIL = "live-logs@example.com"
# URL-safe, so a log holding one holds it verbatim (the forms below add the percent-encoded spellings anyway).
LIVE_PASSWORD = "Live-Logs_Password-7731"
LIVE_WRONG_PASSWORD = "Wrong-Live_Password-0452"
JWT_SHAPE = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.")
QUERY_STRING = re.compile(r"\?[^\s\"'\\]*=")
# A placeholder of the service's id shape for each path parameter, and the converter-free spelling of the rule.
PLAUSIBLE_ID = "user_01JZZZZZZZZZZZZZZZZZZZZZZZ"
WORKER_TIMEOUT = 2  # seconds: gunicorn's --timeout; a request body gets half of it
WORKER_MODELS = {
    "configured": "",  # what gunicorn.conf.py chooses
    "sync": "--worker-class sync --threads 1",  # what the README allows behind a buffering proxy
}


@dataclass
class Planted:
    """The live run's secrets, each sent in every place a client can put it."""

    token: str  # the admin's access token
    registration: str
    invite: str  # an invite token, and the link that carries it
    link: str
    cookie_name: str
    cookie: str  # the session cookie's value
    values: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for token in (self.token, self.registration, self.invite):
            self.values += token_pieces(token)
        self.values += [self.link, self.cookie, LIVE_PASSWORD, LIVE_WRONG_PASSWORD]

    def query(self) -> str:
        return urlencode(
            {"token": self.invite, "access_token": self.token, "password": LIVE_PASSWORD, "next": self.link}
        )

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Referer": self.link,
            "Cookie": f"{self.cookie_name}={self.cookie}; token={self.registration}",
            "User-Agent": f"client/{self.invite}",
            "Origin": f"http://{LIVE_PASSWORD}.example",
            "X-Forwarded-For": self.token,
            "X-Password": LIVE_PASSWORD,
        }

    def json_body(self) -> dict[str, str]:
        return {"email": LIVE_EMAIL, "password": LIVE_PASSWORD, "token": self.token, "next": self.link}

    def form_body(self) -> str:
        return urlencode({"email": LIVE_EMAIL, "password": LIVE_WRONG_PASSWORD, "token": self.invite})

    def found_in(self, text: str) -> list[str]:
        """The secrets in ``text``, in any spelling a log could give them (raw, percent-encoded, escaped)."""
        return [value[:24] for value in self.values if any(form in text for form in _spellings(value))]


def _spellings(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], repr(value.encode())[2:-1]}


def _route_paths(app: Flask, secret: str) -> list[tuple[str, str, str]]:
    """(method, plausible path, path carrying ``secret`` in each parameter) for every route of the app."""
    routes = []
    for rule in app.url_map.iter_rules():
        plausible = re.sub(r"<[^>]+>", PLAUSIBLE_ID, rule.rule)
        carrying = re.sub(r"<[^>]+>", secret, rule.rule) if "<" in rule.rule else f"{rule.rule.rstrip('/')}/{secret}"
        routes += [(method, plausible, carrying) for method in sorted(rule.methods - {"HEAD"})]
    return routes


def _plant(server: LiveServer) -> Planted:
    """Sign in, register, open a cookie session and invite someone: real secrets of every kind."""
    token = server.login(LIVE_EMAIL, LIVE_PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    registration = server.post(
        "/auth/user/emailpass/register", json_body={"email": "new-live@example.com", "password": LIVE_PASSWORD}
    ).json()["token"]
    session = server.post("/auth/session", headers=bearer)
    cookie_name, _, rest = session.headers["Set-Cookie"].partition("=")
    # The CLI prints the accept link without mailing it (the mail server here never answers).
    link = run_command([FLASK, "--app", "wsgi", "invites", "create", "--email", "invitee-live@example.com"], server.env)
    link = link.strip().splitlines()[-1]
    return Planted(token, registration, link.partition("token=")[2], link, cookie_name, rest.split(";")[0])


@contextlib.contextmanager
def silent_mail_server(hold_seconds: float) -> Iterator[int]:
    """A port where a mail server accepts connections and says nothing, closing each after ``hold_seconds``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                held.append(connection)
                threading.Timer(hold_seconds, connection.close).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()


def _drive_every_route(server: LiveServer, app: Flask, planted: Planted) -> None:
    """Each route and method with the secrets in the query, the headers and the body, then in the path."""
    for method, plausible, carrying in _route_paths(app, planted.invite):
        server.request(
            method, f"{plausible}?{planted.query()}", headers=planted.headers(), json_body=planted.json_body()
        )
        server.request(
            method,
            carrying,
            body=planted.form_body(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": planted.link},
        )
    for path in (f"/{LIVE_PASSWORD}/{planted.token}", f"/admin/users/{LIVE_PASSWORD}", f"/app/{planted.registration}"):
        server.get(path, headers={"Authorization": f"Bearer {planted.token}"})
    # The flows themselves, right and wrong.
    server.post("/auth/user/emailpass", json_body={"email": LIVE_EMAIL, "password": LIVE_WRONG_PASSWORD})
    server.post("/auth/user/emailpass/reset-password", json_body={"identifier": LIVE_EMAIL})
    server.post(f"/auth/user/emailpass/update?token={planted.invite}", json_body={"password": LIVE_PASSWORD})
    server.post(
        f"/admin/invites/accept?token={planted.invite}",
        headers={"Authorization": f"Bearer {planted.registration}"},
        json_body={"first_name": LIVE_PASSWORD},
    )
    server.get(f"/app/invite?token={planted.invite}")
    server.get(f"/app/reset-password/confirm?token={planted.invite}")


def _gunicorn_refusals(planted: Planted) -> list[bytes]:
    """Requests gunicorn refuses before the app, each holding secrets where gunicorn reads and reports."""
    token, password = planted.token, LIVE_PASSWORD
    host = b"Host: 127.0.0.1\r\n"
    return [
        f"GET /admin/users?token={token}&pad={'p' * 5000} HTTP/1.1\r\n".encode() + host + b"\r\n",  # line too long
        f"GET /admin/users/me HTTP/1.1\r\nAuthorization: Bearer {token}{'A' * 9000}\r\n".encode() + host + b"\r\n",
        b"GET /health HTTP/1.1\r\n" + host + b"".join(f"X-{n}: {token}\r\n".encode() for n in range(120)) + b"\r\n",
        f"GET /?token={token} HTTP/1.1 {password}\r\n".encode() + host + b"\r\n",  # malformed request line
        f"G{password.lower()} /?token={token} HTTP/1.1\r\n".encode() + host + b"\r\n",  # bad method
        f"GET /?token={token} HTTP/{password}\r\n".encode() + host + b"\r\n",  # bad version
        f"GET /health HTTP/1.1\r\nX-Bad({password}): {token}\r\n".encode() + host + b"\r\n",  # bad header name
        f"GET /health HTTP/1.1\r\nX-Token: {token}\x00{password}\r\n".encode() + host + b"\r\n",  # bad value
        f"POST /auth/user/emailpass?token={token} HTTP/1.1\r\nContent-Length: {password}\r\n".encode() + host + b"\r\n",
        f"POST /?token={token} HTTP/1.1\r\nTransfer-Encoding: {password}\r\n".encode() + host + b"\r\n",
        f"POST /?t={token} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n".encode() + host + f"\r\nz{token}\r\n".encode(),
        f"GET /health HTTP/1.1\r\nX-A: a\r\n {token}\r\n".encode() + host + b"\r\n",  # obsolete line folding
        f"POST /?token={token} HTTP/1.1\r\nExpect: 100-{password}\r\nContent-Length: 2\r\n".encode() + host + b"\r\n{}",
    ]


def _request_held_by_the_mail_server(server: LiveServer, planted: Planted) -> HttpResponse:
    """An invite whose mail the server never takes: past the worker timeout (the sync worker is killed).

    Signed in afresh: driving every route signed the planted token out (``/auth/logout``, ``DELETE
    /auth/session``), and a worker refuses it once it has re-read the ended sign-ins (within 2 s; sooner or
    later, by the machine's load)."""
    bearer = f"Bearer {server.login(LIVE_EMAIL, LIVE_PASSWORD)}"
    return server.post(
        f"/admin/invites?token={planted.invite}&password={LIVE_PASSWORD}",
        headers={**planted.headers(), "Authorization": bearer},
        json_body={"email": "held-by-mail@example.com", "metadata": {"next": planted.link}},
        timeout=30.0,
    )


def _stalled_requests(planted: Planted) -> list[bytes]:
    """Clients that stop sending: after part of a body (the worker-timeout path), or inside the headers."""
    body = json.dumps(planted.json_body()).encode()
    head = (
        f"POST /auth/user/emailpass?token={planted.invite}&password={LIVE_PASSWORD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {planted.token}\r\nReferer: {planted.link}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) + 100}\r\n\r\n"
    ).encode()
    return [head + body, head[: head.index(b"Referer")]]


@pytest.mark.slow
@pytest.mark.parametrize("worker_model", WORKER_MODELS)
def test_no_gunicorn_log_line_holds_what_a_client_sent(tmp_path: Path, app: Flask, worker_model: str):
    pem = rsa_private_pem()
    with silent_mail_server(hold_seconds=4 * WORKER_TIMEOUT) as mail_port:
        extra_env = {
            "LOG_LEVEL": "DEBUG",
            "GUNICORN_CMD_ARGS": f"--log-level debug --timeout {WORKER_TIMEOUT} {WORKER_MODELS[worker_model]}",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail_port),
        }
        user = (LIVE_EMAIL, LIVE_PASSWORD)
        with live_server(tmp_path / "live", user=user, private_key_pem=pem, extra_env=extra_env) as server:
            planted = _plant(server)
            _drive_every_route(server, app, planted)
            refused = [raw_exchange(server.base_url, request) for request in _gunicorn_refusals(planted)]
            held = _request_held_by_the_mail_server(server, planted)
            with contextlib.ExitStack() as clients:
                sent = _stalled_requests(planted)
                stalled = [clients.enter_context(stalled_client(server.base_url, request)) for request in sent]
                # The stalled body is answered once the server gives up on it; the client stalled inside its
                # headers then goes away, as clients do.
                answer = read_until_closed(stalled[0], timeout=15.0)
            with stalled_client(server.base_url, sent[0][:-10]):  # a client that leaves half-way through its body
                time.sleep(0.2)
            server.get("/health")  # every line before this one has been written
    logs = server.stdout_file.read_text() + server.stderr()

    assert "/admin/users/me" in logs and "Invalid request from ip=" in logs  # the logs are there to be read
    assert [line[:300] for line in logs.splitlines() if planted.found_in(line)] == []
    assert pem_pieces(pem)[1] not in logs
    assert JWT_SHAPE.findall(logs) == []  # nor any token the test did not plant (a reset token sent by mail)
    assert [line for line in logs.splitlines() if QUERY_STRING.search(line)] == []
    for response in [answer, *refused]:
        assert planted.found_in(response.decode("latin-1")) == [], response[:200]
    # The paths that were driven: a worker killed while the mail server held its request (sync), or the
    # request answered once the send failed (threads); the stalled body refused at its deadline.
    if worker_model == "sync":
        assert "WORKER TIMEOUT" in logs and "Error handling request POST /admin/invites" in logs
    else:
        assert held.status == 200 and held.json()["invite"]["email"] == "held-by-mail@example.com"
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
