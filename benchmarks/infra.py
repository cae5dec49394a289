"""Private PostgreSQL, Redis and SMTP servers on 127.0.0.1 for `make soak` and `make bench-scale`.

The machine's own PostgreSQL (5432) and Redis (6379) may be serving other people's tests, so these
measurements never touch them: each run starts its own PostgreSQL cluster (``initdb`` in a temporary
directory, as the ``postgres`` user when run as root, since initdb refuses root), its own
``redis-server`` and an aiosmtpd sink, each on a free port, and can restart them at will. Everything
is stopped and deleted when the block ends.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import glob
import os
import pwd
import re
import runpy
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiosmtpd.controller import Controller

from tests.live import free_port

START_TIMEOUT = 60
_TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9._~%-]+)")


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no initdb found: install PostgreSQL (apt-get install postgresql)")
    return Path(initdb).parent


class PostgresCluster:
    """A throwaway PostgreSQL cluster: trust authentication, 127.0.0.1 only, a free port."""

    def __init__(self, root: Path, settings: dict[str, str] | None = None):
        self.bin = _postgres_bin()
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.dir), **(settings or {})}
        self.dir.mkdir(parents=True)
        self._owner = "postgres" if os.geteuid() == 0 else None
        if self._owner is not None:
            account = pwd.getpwnam(self._owner)
            for path in (root, self.dir):
                os.chown(path, account.pw_uid, account.pw_gid)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout, cwd=self.dir)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT),
            "-o", f"-p {self.port} {options}", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT), "stop")

    def restart(self) -> None:
        """Fast shutdown (open connections are terminated), then start with the same options."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", str(START_TIMEOUT), "restart"
        )

    def accepts(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False, timeout=10
        )
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)


class RedisServer:
    """A ``redis-server`` of our own (no persistence), restartable on the same port."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.log = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ping(self) -> bool:
        result = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "ping"], capture_output=True, check=False, timeout=5
        )
        return result.stdout.strip() == b"PONG"


@dataclass(frozen=True)
class ReceivedMail:
    at: float  # time.monotonic() when the sink accepted it
    to: str
    subject: str
    token: str | None  # the token of the first link in the text part


class _Recorder:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        match = _TOKEN_IN_LINK.search(text)
        for to in envelope.rcpt_tos:
            self.sink.received(
                ReceivedMail(time.monotonic(), to.lower(), str(message["Subject"]), match and unquote(match[1]))
            )
        return "250 OK"


class SmtpSink:
    """An SMTP server that keeps every message's recipient, subject and link token; it can be stopped a while."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def received(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.mails.append(mail)

    def start(self) -> None:
        self._controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port, ready_timeout=30)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mails_to(self, address: str, subject: str, since: float = 0.0) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.mails if m.to == address.lower() and m.subject == subject and m.at >= since]


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A temporary directory that the postgres user may enter; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster(root: Path, settings: dict[str, str] | None = None) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(root, settings)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop("immediate")


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[RedisServer]:
    server = RedisServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def worker_model(conf: Path, workers: int | None = None) -> str:
    """The worker model a gunicorn config file sets: "2 gthread workers x 8 threads", or "2 sync workers";
    ``workers`` when the command line overrides the file's count."""
    settings = runpy.run_path(str(conf))
    model = f"{workers or settings['workers']} {settings['worker_class']} workers"
    return model if settings["worker_class"] == "sync" else f"{model} x {settings['threads']} threads"


def machine_line() -> str:
    """Cores, CPU model and load: the machine these figures came from (it may be shared)."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), load average {load}"
