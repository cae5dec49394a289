"""A real gunicorn on 127.0.0.1 for end-to-end tests (a helper module, not a test file).

``live_server(tmp_dir, ...)`` writes a fresh RSA private key, migrates a fresh SQLite database with
``flask --app wsgi db upgrade``, optionally creates a user with ``flask --app wsgi users create``,
starts ``gunicorn --bind 127.0.0.1:<free port> --workers 2 wsgi:app`` with an explicit environment,
waits (bounded) for ``GET /health`` and yields a ``LiveServer``. On exit gunicorn gets SIGTERM, then
SIGKILL if it has not stopped within a bound. HTTP goes through ``http.client`` only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from medusa_auth.settings import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GUNICORN = str(BIN / "gunicorn")
FLASK = str(BIN / "flask")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
WORKERS = 2
COMMAND_TIMEOUT = 120.0
# Variables of the parent that must not leak into the server (besides every JWT_* and MAIL_*).
_INHERITED_NOT = {
    *ENVIRONMENT_VARIABLES,
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_CMD_ARGS",
    "FLASK_APP",
}


class ServerFailed(RuntimeError):
    """gunicorn, or a command run before it, failed; the message carries its captured output."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """One request on its own connection; any status (4xx, 5xx) is returned, never raised."""
    host_port = base_url.removeprefix("http://")
    host, _, port = host_port.partition(":")
    sent_headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body)
        sent_headers.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=sent_headers)
        response = connection.getresponse()
        return HttpResponse(response.status, response.headers, response.read())
    finally:
        connection.close()


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    tmp_dir: Path
    key_file: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    stdout_file: Path = field(repr=False)
    stderr_file: Path = field(repr=False)

    def request(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        return http_request(self.base_url, method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, **kwargs)

    def login(self, email: str, password: str) -> str:
        response = self.post("/auth/user/emailpass", json_body={"email": email, "password": password})
        if response.status != 200:
            raise AssertionError(f"login failed: {response.status} {response.body!r}")
        token: str = response.json()["token"]
        return token

    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        """The gunicorn master's children, that is its workers (read from /proc)."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
            if ppid == self.process.pid:
                children.add(int(stat.parent.name))
        return children


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rsa_private_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def server_environment(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The parent's environment without any of the service's variables, then ``extra`` (None removes).

    The service's variables the caller does not set are set empty: the service treats an empty value
    as unset, and python-dotenv never overrides a variable that exists, so a developer's ``.env``
    cannot change what a test runs with.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _INHERITED_NOT and not name.startswith(("JWT_", "MAIL_", "JWKS_"))
    }
    env.update(dict.fromkeys(ENVIRONMENT_VARIABLES, ""))
    env["FLASK_SKIP_DOTENV"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_command(args: list[str], env: Mapping[str, str], timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a command in the project directory; ``ServerFailed`` with its output if it fails."""
    try:
        result = subprocess.run(args, cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ServerFailed(f"{' '.join(args[:4])} did not finish in {timeout} s") from exc
    if result.returncode != 0:
        raise ServerFailed(f"{' '.join(args[:4])} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start_gunicorn(
    port: int, env: Mapping[str, str], stdout: Any, stderr: Any, app: str = "wsgi:app", config: str | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn in its own session, so that it and its workers can be stopped as one group."""
    settings = ["--config", config] if config else []  # else the project's gunicorn.conf.py
    return subprocess.Popen(
        [GUNICORN, *settings, "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), app],
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the process group we started, then SIGKILL after ``timeout`` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Workers left behind by a master that died or was killed belong to the same group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout)


def wait_until_healthy(server: LiveServer, timeout: float = STARTUP_TIMEOUT) -> None:
    """Until /health answers 200 and every worker has been forked (gunicorn spawns them one by one)."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"gunicorn exited {server.process.returncode} during startup:\n{server.stderr()}")
        try:
            response = server.get("/health", timeout=2.0)
            workers = len(server.worker_pids())
            if response.status == 200 and workers == WORKERS:
                return
            last_error = f"/health answered {response.status} with {workers} of {WORKERS} workers"
        except OSError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise ServerFailed(f"gunicorn did not answer /health within {timeout} s ({last_error}):\n{server.stderr()}")


@contextlib.contextmanager
def live_server(
    tmp_dir: Path,
    *,
    extra_env: Mapping[str, str | None] | None = None,
    user: tuple[str, str] | None = None,
    private_key_pem: str | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    commands: Sequence[Sequence[str]] = (),
    port: int | None = None,
) -> Iterator[LiveServer]:
    """A migrated database, an optional user, and gunicorn serving the app until the block ends."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    key_file = write_private_file(tmp_dir / "jwt-private.pem", private_key_pem or rsa_private_pem())
    port = port or free_port()  # a given port: a server restarted where its clients already point
    base_url = f"http://127.0.0.1:{port}"
    env = server_environment(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY_FILE": str(key_file),
            "COOKIE_SECRET": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{tmp_dir / 'live.sqlite3'}",
            "MEDUSA_BACKEND_URL": base_url,
            **(extra_env or {}),
        }
    )
    run_command([FLASK, "--app", "wsgi", "db", "upgrade"], env)
    if user is not None:
        email, password = user
        run_command([FLASK, "--app", "wsgi", "users", "create", "--email", email, "--password", password], env)
    for command in commands:  # e.g. ("keys", "rotate") before a managed-ring server can start
        run_command([FLASK, "--app", "wsgi", *command], env)
    stdout_file, stderr_file = tmp_dir / "gunicorn.out", tmp_dir / "gunicorn.err"
    with open(stdout_file, "wb") as stdout, open(stderr_file, "wb") as stderr:
        process = start_gunicorn(port, env, stdout, stderr)
    server = LiveServer(base_url, env, tmp_dir, key_file, process, stdout_file, stderr_file)
    try:
        wait_until_healthy(server, startup_timeout)
        yield server
    finally:
        stop_process(process)


def _address(base_url: str) -> tuple[str, int]:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return host, int(port)


def raw_exchange(base_url: str, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` as is on a new connection, then read until the server closes it or ``timeout``."""
    with socket.create_connection(_address(base_url), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes the connection; stops quietly at ``timeout`` seconds."""
    received = b""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError):  # a timeout or a reset ends the reading, not the test
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


@contextlib.contextmanager
def stalled_client(base_url: str, sent: bytes) -> Iterator[socket.socket]:
    """A connection that has sent ``sent`` (say headers and part of a body) and then sends nothing more."""
    sock = socket.create_connection(_address(base_url), timeout=STARTUP_TIMEOUT)
    try:
        sock.sendall(sent)
        yield sock
    finally:
        sock.close()
