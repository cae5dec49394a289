"""Login throttling across processes: two gunicorn instances (two workers each) on one shared store.

Failed logins alternate between the instances; the 429 comes right after the limit, from both, so the
count lives in the store (the database file, or Redis) and in no process. A burst of concurrent
attempts gets exactly the limit through. gunicorn's access log
names the worker process that answered each request, which shows that the failures were counted by
different processes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from medusa_auth.auth import throttle
from tests.live import LiveServer, free_port, live_server, start_gunicorn, stop_process, wait_until_healthy

pytestmark = pytest.mark.slow

EMAIL = "live-victim@example.com"
PASSWORD = "correct horse battery staple"
# The worker's pid, the request and the status, one line per request.
LIMIT = throttle.ACCOUNT_AND_ADDRESS.amount
BURST = 16  # four sync workers over two instances answer at once; the rest queue behind them
ACCESS_LOG = {"GUNICORN_CMD_ARGS": "--access-logformat 'pid=%(p)s %(m)s %(U)s %(s)s'"}
_LINE = re.compile(r"pid=<(\d+)> POST /auth/user/emailpass (\d{3})")


@contextlib.contextmanager
def second_instance(first: LiveServer) -> Iterator[LiveServer]:
    """Another gunicorn with the first one's environment (same key, database and store), on its own port."""
    port = free_port()
    out, err = first.tmp_dir / "second.out", first.tmp_dir / "second.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = start_gunicorn(port, first.env, stdout, stderr)
    server = replace(first, base_url=f"http://127.0.0.1:{port}", process=process, stdout_file=out, stderr_file=err)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop_process(process)


def login_status(server: LiveServer, password: str, email: str = EMAIL) -> tuple[int, str | None]:
    response = server.post("/auth/user/emailpass", json_body={"email": email, "password": password})
    return response.status, response.headers.get("Retry-After")


def burst(instances: list[LiveServer], email: str, attempts: int) -> list[int]:
    """``attempts`` wrong passwords at once, spread over the instances: every worker busy at the same time."""
    with ThreadPoolExecutor(attempts) as pool:
        results = pool.map(lambda n: login_status(instances[n % 2], "wrong password", email)[0], range(attempts))
        return sorted(results)


def answering_pids(*servers: LiveServer) -> dict[int, list[int]]:
    """Worker pid -> statuses of the logins it answered, read from each instance's access log."""
    pids: dict[int, list[int]] = {}
    for server in servers:
        for pid, status in _LINE.findall(server.stdout_file.read_text()):
            pids.setdefault(int(pid), []).append(int(status))
    return pids


@pytest.mark.parametrize("store", ["database", "redis"])
def test_429_after_the_limit_from_two_instances_and_their_workers(tmp_path: Path, request, store: str):
    extra = dict(ACCESS_LOG)
    if store == "redis":
        extra.update(
            REDIS_URL=request.getfixturevalue("redis_url"), RATELIMIT_KEY_PREFIX=request.getfixturevalue("redis_prefix")
        )
    with (
        live_server(tmp_path / "a", extra_env=extra, user=(EMAIL, PASSWORD)) as first,
        second_instance(first) as second,
    ):
        instances = [first, second]
        statuses = [
            login_status(instances[n % 2], "wrong password")[0] for n in range(throttle.ACCOUNT_AND_ADDRESS.amount)
        ]
        after = [login_status(server, password) for server in instances for password in ("wrong password", PASSWORD)]
        concurrent = burst(instances, "burst@example.com", BURST)
        pids = answering_pids(first, second)
        worker_sets = [first.worker_pids(), second.worker_pids()]

    assert statuses == [401] * throttle.ACCOUNT_AND_ADDRESS.amount
    assert [status for status, _ in after] == [429] * 4, after
    assert all(retry_after is not None and 1 <= int(retry_after) <= 900 for _, retry_after in after)
    # Charged before the password check, atomically: exactly the limit gets through, however many run at once.
    assert concurrent == [401] * LIMIT + [429] * (BURST - LIMIT), concurrent
    failing = {pid for pid, answered in pids.items() if 401 in answered}
    assert len(failing) >= 2, pids  # at least one worker of each instance counted a failure
    assert failing <= worker_sets[0] | worker_sets[1]
    assert failing & worker_sets[0] and failing & worker_sets[1]
    print(f"{store}: 401 from workers {sorted(failing)}, then 429 from both instances: {pids}")
