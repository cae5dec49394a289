"""End to end: the real gunicorn (two workers, preloaded app) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medusa_auth.errors import error_type
from tests.live import (
    ROOT,
    LiveServer,
    free_port,
    live_server,
    read_until_closed,
    rsa_private_pem,
    server_environment,
    stalled_client,
    start_gunicorn,
    stop_process,
    write_private_file,
)
from tests.web_fixtures import Mailbox, running_mailbox

pytestmark = pytest.mark.slow

EMAIL = "live-admin@example.com"
PASSWORD = "correct horse battery staple"
THREADS = 8
REQUESTS = 40
ROUNDS = 5
SLOW_CLIENTS = 4  # a handful: fewer than the threads of one worker, so whichever worker /health reaches is free
SLOW_EMAIL = "slow-client@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live"), user=(EMAIL, PASSWORD)) as running:
        yield running


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return server.login(EMAIL, PASSWORD)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_over_http_then_me_with_the_bearer_token(server, token):
    me = server.get("/admin/users/me", headers=bearer(token))
    assert me.status == 200, me.body
    assert me.headers.get_content_type() == "application/json"
    assert me.json()["user"]["email"] == EMAIL
    assert me.headers["Cache-Control"] == "no-store"


def test_concurrent_requests_all_succeed_across_both_workers(server, token):
    def call(_: int) -> tuple[int, str]:
        response = server.get("/admin/users/me", headers=bearer(token))
        return response.status, response.json()["user"]["email"]

    workers = server.worker_pids()
    assert len(workers) == 2, workers
    served: set[int] = set()
    for _ in range(ROUNDS):  # one round almost always reaches both workers; a few more make it certain
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(call, range(REQUESTS)))
        assert results == [(200, EMAIL)] * REQUESTS
        served = _workers_with_open_database(server, workers)
        if served == workers:
            break
    assert served == workers, f"only {served} of the workers {workers} answered"
    # Logins at once too: each verifies a password against the shared database and signs its own token.
    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(lambda _: server.login(EMAIL, PASSWORD), range(4)))
    assert len(set(tokens)) == 4
    assert server.worker_pids() == workers  # no worker crashed and was replaced


def _body_of(length: int) -> bytes:
    """A JSON login body for an account nobody has, padded to exactly ``length`` bytes."""
    body = json.dumps({"email": SLOW_EMAIL, "password": "not the password"}).encode()
    return body[:-1] + b" " * (length - len(body)) + b"}"


def _slow_login(body_length: int) -> bytes:
    """Headers that declare a body, then its first byte only (finding 7's slow client)."""
    head = (
        f"POST /auth/user/emailpass HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {body_length}\r\n\r\n"
    )
    return head.encode() + _body_of(body_length)[:1]


def _nothing_received_yet(sock: socket.socket) -> bool:
    """The server has neither answered nor closed this connection."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)  # b"": closed
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def test_a_handful_of_slow_clients_do_not_hold_up_health(server):
    """Clients that send headers and one byte of body (finding 7) leave /health answering, not waiting."""
    body_length = 200
    with contextlib.ExitStack() as clients:
        slow = [
            clients.enter_context(stalled_client(server.base_url, _slow_login(body_length)))
            for _ in range(SLOW_CLIENTS)
        ]
        time.sleep(0.5)  # not a measurement: lets the workers take the slow connections before /health comes
        health = server.get("/health", timeout=120.0)
        assert health.status == 200
        # /health answered while every slow client was still being waited for: none was answered or dropped.
        assert [_nothing_received_yet(sock) for sock in slow] == [True] * SLOW_CLIENTS
        for sock in slow:  # then each body completes and is answered as any other request
            sock.sendall(_body_of(body_length)[1:])
        answers = [read_until_closed(sock, timeout=30.0) for sock in slow]
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 401 UNAUTHORIZED"] * SLOW_CLIENTS


@dataclass
class SlowMailbox(Mailbox):
    """An SMTP server that takes ``delay`` seconds to accept each message, as a distant relay may."""

    delay: float = 3.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_a_worker_stopped_in_an_orderly_way_first_sends_the_reset_mail_it_owes(tmp_path):
    """A deploy's SIGTERM right after a reset was answered 201: the mail, a job of that worker's background
    thread, still goes (gunicorn.conf.py's worker_exit waits for it), instead of dying with the interpreter."""
    with running_mailbox(SlowMailbox("127.0.0.1", free_port())) as mailbox:
        with live_server(tmp_path / "drain", extra_env=mailbox.settings(), user=(EMAIL, PASSWORD)) as server:
            answer = server.post("/auth/user/emailpass/reset-password", json_body={"identifier": EMAIL})
            assert answer.status == 201 and not mailbox.messages  # the relay takes 3 s to accept it
            os.killpg(server.process.pid, signal.SIGTERM)
            assert server.process.wait(30) == 0
            logs = server.stderr()
        [message] = mailbox.wait_for(1, timeout=1.0)  # delivered before the worker exited
    assert message["To"] == EMAIL and "dropped at exit" not in logs


def test_a_body_that_stops_arriving_gets_408_json_at_its_deadline_and_the_worker_lives_on(tmp_path):
    """A body must arrive within half the worker timeout (here 1 s of 2): the thread is freed, nothing is killed."""
    extra_env = {"GUNICORN_CMD_ARGS": "--timeout 2"}
    with live_server(tmp_path / "deadline", extra_env=extra_env) as server:
        workers = server.worker_pids()
        with stalled_client(server.base_url, _slow_login(200)) as slow:
            answer = read_until_closed(slow, timeout=30.0)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b"\r\n", 1)[0] == b"HTTP/1.1 408 REQUEST TIMEOUT"
        assert json.loads(body) == {"type": error_type(408), "message": "The request body did not arrive within 1 s"}
        assert server.get("/health").status == 200
        assert server.worker_pids() == workers
        logs = server.stderr()
    assert "WORKER TIMEOUT" not in logs and "Traceback" not in logs


def _workers_with_open_database(server: LiveServer, workers: set[int]) -> set[int]:
    """Workers holding a connection to the SQLite file: each opened it to answer a request.

    The master never holds it (checked), so a worker that does has served a request that read it.
    """
    database = str(server.tmp_dir / "live.sqlite3")
    assert not _holds_file(server.process.pid, database), "the master holds a database connection"
    return {pid for pid in workers if _holds_file(pid, database)}


def _holds_file(pid: int, path: str) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == path:
                return True
        except OSError:
            continue  # closed while we looked
    return False


def test_jwks_is_cacheable_and_answers_304_to_if_none_match(server):
    first = server.get("/.well-known/jwks.json")
    assert first.status == 200
    assert "max-age=" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    assert etag
    [key] = first.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key
    again = server.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["ETag"] == etag


def test_bad_token_is_401_json_with_www_authenticate(server, token):
    for bad in ("not-a-token", token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), token + "x"):
        response = server.get("/admin/users/me", headers=bearer(bad))
        assert response.status == 401, (bad, response.body)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"type": "unauthorized", "message": "Invalid auth token provided"}
    missing = server.get("/admin/users/me")
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"


def test_malformed_json_login_body_is_400_json(server):
    response = server.post(
        "/auth/user/emailpass",
        body='{"email": "a@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert response.headers.get_content_type() == "application/json"
    assert response.json()["type"] == "invalid_data"


def test_wrong_password_is_401_invalid_email_or_password(server):
    response = server.post("/auth/user/emailpass", json_body={"email": EMAIL, "password": "wrong password!"})
    assert response.status == 401
    assert response.json() == {"type": "unauthorized", "message": "Invalid email or password"}


def test_ready(server):
    response = server.get("/ready")
    assert response.status == 200, response.body
    assert response.json()["status"] == "ready"


# -- startup failures --------------------------------------------------------------------------

STARTUP_FAILURE_TIMEOUT = 60


def _launch(launcher: str, env: dict[str, str], tmp_path) -> tuple[int, str]:
    """Exit status and stderr of a start that must fail; bounded, and the process group always ends."""
    if launcher == "import":
        result = subprocess.run(
            [sys.executable, "-c", "import wsgi"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP_FAILURE_TIMEOUT,
        )
        return result.returncode, result.stderr
    stderr_file = tmp_path / "gunicorn.err"
    with open(tmp_path / "gunicorn.out", "wb") as stdout, open(stderr_file, "wb") as stderr:
        process = start_gunicorn(free_port(), env, stdout, stderr)
    try:
        returncode = process.wait(STARTUP_FAILURE_TIMEOUT)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        stop_process(process)
    assert returncode is not None, f"gunicorn still running after {STARTUP_FAILURE_TIMEOUT} s with a bad setting"
    return returncode, stderr_file.read_text(errors="replace")


@pytest.mark.parametrize("launcher", ["gunicorn", "import"])
@pytest.mark.parametrize(
    "case,variable",
    [
        ("es256_with_rsa_key_file", "JWT_ALGORITHM"),
        ("es256_with_inline_rsa_key", "JWT_ALGORITHM"),  # the PEM itself in the environment
        ("no_key_in_production", "JWT_SECRET_KEY"),
        ("openid_provider_without_issuer", "OKTA_ISSUER"),  # a provider's own variables, from the environment
    ],
)
def test_bad_configuration_stops_startup_with_one_line(tmp_path, launcher, case, variable):
    pem = rsa_private_pem()
    key_file = write_private_file(tmp_path / "key.pem", pem)
    settings: dict[str, str | None] = {
        "APP_ENV": "production",
        "COOKIE_SECRET": "c" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fail.sqlite3'}",
    }
    if case == "es256_with_rsa_key_file":
        settings.update(JWT_SECRET_KEY_FILE=str(key_file), JWT_ALGORITHM="ES256")
    elif case == "es256_with_inline_rsa_key":
        settings.update(JWT_SECRET_KEY=pem, JWT_ALGORITHM="ES256")
    elif case == "openid_provider_without_issuer":
        settings.update(
            JWT_SECRET_KEY_FILE=str(key_file),
            AUTH_PROVIDERS="okta",
            OKTA_CLIENT_ID="0oa1",
            OKTA_CLIENT_SECRET="okta-client-secret",
            OKTA_CALLBACK_URL="https://shop.example.com/cb",
        )
    returncode, stderr = _launch(launcher, server_environment(settings), tmp_path)

    assert returncode != 0, stderr
    naming = [line for line in stderr.splitlines() if variable in line]
    assert len(naming) == 1, stderr
    assert "configuration error" in naming[0]
    assert "Traceback" not in stderr
    # No private key material: neither the PEM armour nor any line of its base64 body.
    assert "PRIVATE KEY" not in stderr
    body_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    assert not any(line in stderr for line in body_lines)
