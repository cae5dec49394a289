"""`make bench-scale`: the service on a database of a million users, against the same requests on a small one.

A private PostgreSQL cluster (benchmarks/infra.py; the machine's own is not touched) holds two databases,
both migrated with the project's Alembic revisions. The large one gets SCALE_USERS users (default
1,000,000) with their identities, as many browser sessions and a tenth as many invites, written by
INSERT ... SELECT generate_series inside PostgreSQL with one precomputed argon2id hash. The small one
(the baseline, "empty" but for what the answers show) holds the 101 of those users around the middle
one, so that every page a case reads is as full on both and only the size of the tables differs. Both
hold the benchmark's admin and one invite, made through the service's own CLI.

Two gunicorn instances (2 sync workers each, the project's settings, access log off) serve one
database each; the cases take turns between them for BENCH_ROUNDS rounds (default 7) of BENCH_SLICE
seconds (default 2) with two client threads, so each ratio (rate on the large database over the rate
on the small one) is the median of per-round ratios measured seconds apart. The goal is 0.8 for every
case but the offset deep page, shown beside the keyset one it is compared with.

It also prints what PostgreSQL plans for each case's query (EXPLAIN ANALYZE on the large database),
how long seeding took, and how long `flask --app wsgi purge` takes over a million sessions.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from benchmarks.infra import machine_line, postgres_cluster, workspace
from medusa_auth.passwords import OWASP_MIN, Passwords
from tests.live import (
    FLASK,
    GUNICORN,
    ROOT,
    free_port,
    http_request,
    run_command,
    server_environment,
    stop_process,
)

USERS = int(os.environ.get("SCALE_USERS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SLICE_SECONDS = float(os.environ.get("BENCH_SLICE", "2"))
CLIENT_THREADS = 2
GOAL = 0.8
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "bench-admin@example.com"
INVITEE_EMAIL = "bench-invitee@example.com"
# A Postgres fit for a benchmark of plans, not of durability: nothing here needs to survive a crash.
CLUSTER_SETTINGS = {
    "shared_buffers": "512MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


def user_id(n: int) -> str:
    """The seeded users' ids: ULID-shaped (26 characters), sorting in creation order like real ULIDs."""
    return f"user_01{n:024d}"


SMALL_USERS = 100  # the baseline database's users (and one more): enough for every page to be full


def middle_user() -> int:
    return USERS // 2


# -- seeding ---------------------------------------------------------------------------------------------

SEED_STATEMENTS = (
    # Seeded users were created over the past months, ten seconds apart, oldest first.
    """INSERT INTO "user" (id, email, first_name, last_name, created_at, updated_at)
       SELECT 'user_01' || lpad(g::text, 24, '0'), 'user' || g || '@example.com', 'First' || g, 'Last' || g,
              timestamptz '2026-01-01' + g * interval '10 seconds', timestamptz '2026-01-01' + g * interval '10 seconds'
       FROM generate_series(%(first)s::int, %(last)s::int) AS g""",
    """INSERT INTO auth_identity (id, app_metadata, created_at, updated_at)
       SELECT 'authid_01' || lpad(g::text, 24, '0'), json_build_object('user_id', 'user_01' || lpad(g::text, 24, '0')),
              timestamptz '2026-01-01' + g * interval '10 seconds', timestamptz '2026-01-01' + g * interval '10 seconds'
       FROM generate_series(%(first)s::int, %(last)s::int) AS g""",
    """INSERT INTO provider_identity (id, entity_id, provider, auth_identity_id, password_hash, created_at, updated_at)
       SELECT 'provid_01' || lpad(g::text, 24, '0'), 'user' || g || '@example.com', 'emailpass',
              'authid_01' || lpad(g::text, 24, '0'), %(hash)s,
              timestamptz '2026-01-01' + g * interval '10 seconds', timestamptz '2026-01-01' + g * interval '10 seconds'
       FROM generate_series(%(first)s::int, %(last)s::int) AS g""",
)
SESSIONS = """INSERT INTO browser_session (id_hash, user_id, auth_identity_id, created_at, last_seen_at, expires_at)
       SELECT encode(sha256(('session' || g)::bytea), 'hex'), 'user_01' || lpad(g::text, 24, '0'),
              'authid_01' || lpad(g::text, 24, '0'), now(), now(), now() + interval '12 hours'
       FROM generate_series(%(first)s::int, %(last)s::int) AS g"""
INVITES = """INSERT INTO invite (id, email, accepted, jti_hash, expires_at, created_at, updated_at)
       SELECT 'invite_01' || lpad(g::text, 24, '0'), 'invitee' || g || '@example.com', false,
              encode(sha256(('invite' || g)::bytea), 'hex'), now() + interval '1 day',
              timestamptz '2026-01-01' + g * interval '100 seconds',
              timestamptz '2026-01-01' + g * interval '100 seconds'
       FROM generate_series(%(first)s::int, %(last)s::int) AS g"""


def seed_many(database_url: str, users: int, password_hash: str) -> float:
    """``users`` users with identities and sessions, ``users // 10`` invites; seconds it took."""
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as connection:
        for statement in SEED_STATEMENTS:
            connection.execute(statement, {"first": 1, "last": users, "hash": password_hash})
        connection.execute(SESSIONS, {"first": 1, "last": users})
        connection.execute(INVITES, {"first": 1, "last": users // 10})
        connection.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def seed_small(database_url: str, password_hash: str) -> None:
    """The baseline: the users around the middle one (the keyset page starts after it), so that every page
    the cases read is as full as on the large database and only the size of the tables differs."""
    middle = middle_user()
    bounds = {"first": middle - SMALL_USERS // 2, "last": middle + SMALL_USERS // 2, "hash": password_hash}
    with psycopg.connect(database_url, autocommit=True) as connection:
        for statement in SEED_STATEMENTS:
            connection.execute(statement, bounds)
        connection.execute(SESSIONS, bounds)
        connection.execute("ANALYZE")


def seed_with_the_service(env: Mapping[str, str]) -> None:
    """The admin and the invite through the service's own code (real ULIDs, created now: the newest rows)."""
    run_command([FLASK, "--app", "wsgi", "users", "create", "--email", ADMIN_EMAIL, "--password", PASSWORD], env)
    run_command([FLASK, "--app", "wsgi", "invites", "create", "--email", INVITEE_EMAIL], env)


def table_sizes(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname <> 'alembic_version' ORDER BY relname"
        ).fetchall()
    return {name: int(count) for name, count in rows}


# -- serving ----------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    base_url: str
    process: Any
    token: str = ""
    cookie: str = ""


@contextlib.contextmanager
def serve(root: Path, name: str, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    log = root / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [GUNICORN, "--config", str(ROOT / "benchmarks" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True,
        )  # fmt: skip
    server = Server(name, f"http://127.0.0.1:{port}", process)
    try:
        wait_for(server, log)
        server.token = login(server)
        server.cookie = session_cookie(server)
        yield server
    finally:
        stop_process(process)


def wait_for(server: Server, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn for {server.name} exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError):
            if http_request(server.base_url, "GET", "/ready", timeout=5).status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn for {server.name} did not become ready:\n{log.read_text(errors='replace')}")


def login(server: Server) -> str:
    response = http_request(
        server.base_url, "POST", "/auth/user/emailpass", json_body={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    if response.status != 200:
        raise RuntimeError(f"login on {server.name}: {response.status} {response.body!r}")
    token: str = response.json()["token"]
    return token


def session_cookie(server: Server) -> str:
    response = http_request(
        server.base_url, "POST", "/auth/session", headers={"Authorization": f"Bearer {server.token}"}
    )
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith("__Host-medusa_session="):
            return header.split(";", 1)[0]
    raise RuntimeError(f"no session cookie from {server.name}: {response.status}")


# -- cases -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    credential: str = "bearer"  # "bearer", "cookie" or "none"
    body: dict[str, Any] | None = None
    sql: str = ""  # the query that matters, for EXPLAIN
    goal: bool = True  # False: shown for comparison, not held to the goal


def cases() -> list[Case]:
    middle = user_id(middle_user())
    deep = middle_user()
    return [
        Case("login (POST /auth/user/emailpass)", "POST", "/auth/user/emailpass", "none",
             {"email": ADMIN_EMAIL, "password": PASSWORD},
             "SELECT * FROM provider_identity WHERE provider = 'emailpass' AND entity_id = 'user1@example.com'"),
        Case("refresh (POST /auth/token/refresh)", "POST", "/auth/token/refresh",
             sql="SELECT * FROM auth_identity WHERE id = 'authid_01000000000000000000000001'"),
        Case("/admin/users/me by bearer", "GET", "/admin/users/me",
             sql="SELECT * FROM \"user\" WHERE id = 'user_01000000000000000000000001'"),
        Case("/admin/users/me by cookie", "GET", "/admin/users/me", "cookie",
             sql="SELECT * FROM browser_session JOIN \"user\" ON \"user\".id = browser_session.user_id "
                 "WHERE id_hash = encode(sha256('session1'::bytea), 'hex')"),
        Case("/admin/users first page", "GET", "/admin/users?limit=50",
             sql='SELECT * FROM "user" ORDER BY created_at, id LIMIT 50'),
        Case(f"/admin/users deep page (offset={deep:,})", "GET", f"/admin/users?limit=50&offset={deep}",
             sql=f'SELECT * FROM "user" ORDER BY created_at, id LIMIT 50 OFFSET {deep}', goal=False),
        Case("/admin/users deep page (after=, keyset)", "GET", f"/admin/users?limit=50&after={middle}",
             sql=f"""SELECT * FROM "user" WHERE (created_at, id) > (SELECT created_at, id FROM "user"
                     WHERE id = '{middle}') ORDER BY created_at, id LIMIT 50"""),
        Case("/admin/users?email=", "GET", f"/admin/users?email={quote(ADMIN_EMAIL)}",
             sql=f"SELECT * FROM \"user\" WHERE email = '{ADMIN_EMAIL}'"),
        Case("/admin/invites?email=", "GET", f"/admin/invites?email={quote(INVITEE_EMAIL)}",
             sql=f"SELECT * FROM invite WHERE email = '{INVITEE_EMAIL}' ORDER BY created_at, id LIMIT 50"),
    ]  # fmt: skip


@dataclass
class Sample:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass
class Measured:
    case: Case
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"small": [], "large": []})

    def ratios(self) -> list[float]:
        return [f.rate / e.rate for e, f in zip(self.samples["small"], self.samples["large"], strict=True)]

    def rate(self, name: str) -> float:
        samples = self.samples[name]
        return sum(s.requests for s in samples) / sum(s.seconds for s in samples)

    def p50(self, name: str) -> float:
        return statistics.median([t for s in self.samples[name] for t in s.latencies]) * 1000

    def errors(self) -> int:
        return sum(s.errors for samples in self.samples.values() for s in samples)


def drive(server: Server, case: Case, seconds: float) -> Sample:
    """CLIENT_THREADS threads sending ``case`` back to back for ``seconds``."""
    headers = {"Connection": "close"}
    if case.credential == "bearer":
        headers["Authorization"] = f"Bearer {server.token}"
    elif case.credential == "cookie":
        headers["Cookie"] = server.cookie
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = http_request(server.base_url, case.method, case.path, json_body=case.body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors[0] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Sample(len(latencies), time.monotonic() - began, latencies, errors[0])


def check_answers(servers: dict[str, Server]) -> None:
    """Every case answers 200 on both databases before anything is timed; the deep pages are really deep."""
    for case in cases():
        for server in servers.values():
            headers = {"Authorization": f"Bearer {server.token}"} if case.credential == "bearer" else {}
            if case.credential == "cookie":
                headers["Cookie"] = server.cookie
            response = http_request(server.base_url, case.method, case.path, json_body=case.body, headers=headers)
            if response.status != 200:
                raise RuntimeError(f"{case.name} on {server.name}: {response.status} {response.body[:300]!r}")


def explain(database_url: str) -> list[str]:
    lines = []
    with psycopg.connect(database_url) as connection:
        for case in cases():
            plan = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {case.sql}").fetchall()
            lines.append(f"-- {case.name}")
            lines += [f"   {row[0]}" for row in plan]
        for what, sql in COUNTS.items():
            plan = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}").fetchall()
            lines.append(f"-- {what}")
            lines += [f"   {row[0]}" for row in plan]
    return lines


COUNTS = {
    "the users list's total, as the database keeps it (what the list reads)": (
        "SELECT row_count FROM table_row_count WHERE table_name = 'user'"
    ),
    "the count(*) it replaces": 'SELECT count(*) FROM "user"',
}


def purge_seconds(env: Mapping[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    output = run_command([FLASK, "--app", "wsgi", "purge"], env)
    return time.monotonic() - started, " ".join(output.split())


# -- the run ------------------------------------------------------------------------------------------------


def main() -> int:
    print(f"bench-scale: {USERS:,} users; machine: {machine_line()}", file=sys.stderr)
    hashing = Passwords(**OWASP_MIN)
    password_hash = hashing.hash(PASSWORD)
    with workspace("medusa-scale-") as root, postgres_cluster(root, CLUSTER_SETTINGS) as cluster:
        base = {
            "APP_ENV": "production",
            "COOKIE_SECRET": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY_FILE": str(write_key(root)),
            "LOG_LEVEL": "WARNING",
        }
        envs = {}
        for name in ("small", "large"):
            url = cluster.create_database(f"medusa_{name}")
            envs[name] = server_environment({**base, "DATABASE_URL": url})
            run_command([FLASK, "--app", "wsgi", "db", "upgrade"], envs[name])
        seed_seconds = seed_many(envs["large"]["DATABASE_URL"], USERS, password_hash)
        seed_small(envs["small"]["DATABASE_URL"], password_hash)
        for env in envs.values():
            seed_with_the_service(env)
        sizes = table_sizes(envs["large"]["DATABASE_URL"])
        with serve(root, "small", envs["small"]) as small, serve(root, "large", envs["large"]) as large:
            servers = {"small": small, "large": large}
            check_answers(servers)
            measured = [Measured(case) for case in cases()]
            for _ in range(ROUNDS):
                for item in measured:
                    for name in ("small", "large"):
                        item.samples[name].append(drive(servers[name], item.case, SLICE_SECONDS))
        plans = explain(envs["large"]["DATABASE_URL"])
        purge_time, purge_output = purge_seconds(envs["large"])
    print_report(measured, sizes, seed_seconds, plans, purge_time, purge_output)
    held = [m for m in measured if m.case.goal]
    return 0 if all(statistics.median(m.ratios()) >= GOAL and not m.errors() for m in held) else 1


def write_key(root: Path) -> Path:
    from medusa_auth.keys.material import generate_private_key, private_key_pem

    path = root / "jwt-private.pem"
    path.write_text(private_key_pem(generate_private_key("RSA")))
    path.chmod(0o600)
    return path


def print_report(
    measured: list[Measured], sizes: dict[str, int], seed_seconds: float, plans: list[str], purge: float, output: str
) -> None:
    print(
        f"machine: {machine_line()}, {platform.machine()}, CPython {platform.python_version()}; PostgreSQL "
        f"(private cluster); gunicorn 2 sync workers per database; {CLIENT_THREADS} client threads, "
        f"{ROUNDS} rounds of {SLICE_SECONDS:g} s per case and database"
    )
    tables = ", ".join(f"{name} {count:,}" for name, count in sizes.items())
    print(f"large database: {tables}; seeded in {seed_seconds:.0f} s")
    rows = [
        ("case", "small req/s", "large req/s", "small p50 ms", "large p50 ms", "large ÷ small (spread)", "goal ≥ 0.8")
    ]
    for item in measured:
        ratios = item.ratios()
        median = statistics.median(ratios)
        rows.append(
            (
                item.case.name,
                f"{item.rate('small'):,.0f}",
                f"{item.rate('large'):,.0f}",
                f"{item.p50('small'):.2f}",
                f"{item.p50('large'):.2f}",
                f"{median:.2f} ({min(ratios):.2f}–{max(ratios):.2f})",
                (("met" if median >= GOAL else "MISSED") if item.case.goal else "none: use after=")
                + (f", {item.errors()} errors" if item.errors() else ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("| " + " | ".join("-" * width for width in widths) + " |")
    print(f"\nflask --app wsgi purge on the large database: {purge:.1f} s ({output})")
    print("\nEXPLAIN ANALYZE on the large database:")
    print("\n".join(plans))
    print(json.dumps({"ratios": {m.case.name: round(statistics.median(m.ratios()), 3) for m in measured}}))


if __name__ == "__main__":
    sys.exit(main())
