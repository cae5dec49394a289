"""`make bench`: each case under wrk against a real server on 127.0.0.1, printed as one table of ratios.

Servers: the service (benchmarks/app.py: the real app plus a plain and a protected route), bare Flask
with the identical plain route (benchmarks/bare_flask.py, issue 11's baseline) and the
flask-jwt-extended peer, all under the same gunicorn settings (benchmarks/gunicorn.conf.py: the
service's worker model); the guide's Node.js middleware on express (one process, as the guide runs
it). All four run at once and the cases take turns: every round runs each case for a short slice, so
a baseline and its case are measured seconds apart, and a ratio is the median of its per-round ratios
(the spread across rounds is printed beside it). Knobs: BENCH_ROUNDS (default 4), BENCH_SLICE
(seconds per case per round, default 2), BENCH_CONNECTIONS (default 16), BENCH_THREADS (wrk threads,
default 2), BENCH_WORKER_CLASS=sync (the previous worker model) and GUNICORN_THREADS.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, insert, select

from benchmarks import infra, inprocess
from benchmarks.micro import describe, measure, service_tokens
from medusa_auth.clock import now_datetime
from medusa_auth.keys.material import generate_private_key, private_key_pem
from medusa_auth.models import AuthIdentity, SignInSession, new_id
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
    write_private_file,
)

BENCH = ROOT / "benchmarks"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
SLICE_SECONDS = int(os.environ.get("BENCH_SLICE", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WARMUP_SECONDS = 1
LOGIN_SECONDS = 5
STARTUP_TIMEOUT = 30.0
EMAIL, PASSWORD = "bench@example.com", "correct horse battery staple"
SHOPPER = "bench-shopper@example.com"
MICRO_TOKENS = 6000
ENDED_SIGN_INS = 10_000  # held in memory by each worker of the "ended" service (issue 15)
IN_PROCESS_BARE = "bare Flask, the same plain route (baseline)"
SERVICE, BARE = "medusa_auth", "bare flask"


@dataclass(frozen=True)
class Sample:
    """One wrk run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: Mapping[str, int]  # wrk's kinds: connect, read, write, timeout, status (an answer not 2xx or 3xx)
    tokens_wrapped: bool

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass
class Case:
    """A route on a server, and its samples (one per round)."""

    name: str
    server: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    fresh_tokens: bool = False
    method: str = ""
    body: str = ""
    samples: list[Sample] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return sum(s.requests for s in self.samples) / sum(s.seconds for s in self.samples)

    @property
    def errors(self) -> Counter[str]:
        return sum((Counter(s.errors) for s in self.samples), Counter())

    def ratio_to(self, baseline: Case) -> list[float]:
        """This case's rate over the baseline's, round by round."""
        return [mine.rate / theirs.rate for mine, theirs in zip(self.samples, baseline.samples, strict=True)]


@dataclass(frozen=True)
class Goal:
    what: str
    ratios: list[float]  # one per round
    goal: float
    best_rounds: float | None = None  # the micro-benchmark's ratio of best rounds, used instead of the median
    at_most: bool = False  # a ratio of times: the goal is a ceiling

    @property
    def measured(self) -> float:
        return statistics.median(self.ratios) if self.best_rounds is None else self.best_rounds

    @property
    def met(self) -> bool:
        return self.measured <= self.goal if self.at_most else self.measured >= self.goal

    def verdict(self) -> str:
        if self.met:
            return "met"
        return f"MISSED by {abs(self.goal - self.measured):.2f} ({self.measured / self.goal:.0%} of it)"


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]


def wrk(case: Case, seconds: int, tokens_file: Path | None = None, tokens_start: int = 0) -> Sample:
    """One wrk run of ``case`` for ``seconds``; fresh tokens from line ``tokens_start`` of ``tokens_file``."""
    env = {
        **os.environ,
        "BENCH_THREADS": str(THREADS),
        "BENCH_METHOD": case.method,
        "BENCH_BODY": case.body,
        "BENCH_TOKENS": str(tokens_file or ""),
        "BENCH_TOKENS_START": str(tokens_start),
    }
    header_args = [arg for name, value in case.headers.items() for arg in ("-H", f"{name}: {value}")]
    args = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", str(BENCH / "wrk.lua")]
    completed = subprocess.run(
        [*args, *header_args, case.url], env=env, capture_output=True, text=True, timeout=seconds + 30, check=True
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(
        result["requests"],
        result["duration_us"] / 1e6,
        result["p50_us"] / 1000,
        result["p99_us"] / 1000,
        {kind: count for kind, count in result["errors"].items() if count},
        bool(result["tokens_wrapped"]),
    )


# -- servers ------------------------------------------------------------------------------------


def wait_for(base_url: str, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``path`` answers, bounded; the server's log in the error if it exits or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited {process.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if http_request(base_url, "GET", path, timeout=2.0).status == 200:
                time.sleep(1.0)  # gunicorn forks its second worker a moment after the first answers
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.args!r} did not answer {path} in {STARTUP_TIMEOUT} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def serve(args: list[str], env: Mapping[str, str], port: int, ready_path: str, log: Path) -> Iterator[Server]:
    """A server in its own process group on 127.0.0.1:``port``, stopped (TERM, then KILL) at the end."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            args, cwd=ROOT, env=dict(env), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        wait_for(server.base_url, ready_path, process, log)
        yield server
    finally:
        stop_process(process)


def worker_model() -> str:
    """The gunicorn worker model every Python server runs under, as benchmarks/gunicorn.conf.py sets it."""
    return f"gunicorn {infra.worker_model(BENCH / 'gunicorn.conf.py')}"


def gunicorn(app: str, env: Mapping[str, str], tmp: Path, name: str) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    args = [GUNICORN, "-c", str(BENCH / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", app]
    return serve(args, env, port, "/bench/plain", tmp / f"{name}.log")


# -- the run ------------------------------------------------------------------------------------


def sign_batch(private_pem: str, start: int, count: int) -> list[str]:
    """``count`` access tokens signed as the service signs them, each for its own user."""
    tokens = service_tokens(private_pem)
    return [tokens.issue_auth_token(f"authid_bench_{n}", f"user_bench_{n}", {}) for n in range(start, start + count)]


def fresh_tokens(private_pem: str, count: int, path: Path) -> Path:
    """A file of ``count`` distinct tokens, signed on two processes."""
    half = count // 2 + 1
    with ProcessPoolExecutor(2) as pool:
        batches = pool.map(sign_batch, [private_pem] * 2, [0, half], [half, half])
        path.write_text("\n".join(token for batch in batches for token in batch) + "\n")
    return path


def end_sign_ins(database_url: str, count: int) -> None:
    """``count`` ended sign-in sessions, recent enough that every worker keeps them all in memory."""
    engine = create_engine(database_url)
    now = now_datetime()
    with engine.begin() as connection:
        identity = connection.execute(select(AuthIdentity.id).limit(1)).scalar_one()
        rows = [
            {"id": new_id("sess"), "auth_identity_id": identity, "actor_type": "user", "auth_provider": "emailpass",
             "created_at": now, "expires_at": now + timedelta(hours=12), "ended_at": now, "ended_reason": "signed_out"}
            for _ in range(count)
        ]  # fmt: skip
        connection.execute(insert(SignInSession), rows)
    engine.dispose()


def server_log_excerpt(tmp: Path, per_server: int = 5) -> str:
    """Why a server answered an error, where its log says: its last warnings, errors and refusals."""
    worth_reading = ("WARNING", "ERROR", "CRITICAL", "Traceback", '_refused"', '"token_unchecked"')  # 401s, 503s
    excerpts = []
    for log in sorted(tmp.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if any(w in line for w in worth_reading)]
        excerpts += [f"  {log.stem}: {line}" for line in lines[-per_server:]]
    return "\n".join(excerpts)


def password_hash_ms() -> float:
    """The median time of one argon2id verification with the service's default (OWASP) parameters."""
    passwords = Passwords(**OWASP_MIN)
    hashed = passwords.hash(PASSWORD)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        passwords.verify(hashed, PASSWORD)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def run(tmp: Path) -> tuple[list[Case], dict[str, Case], list[Goal], dict[str, str]]:
    private_pem = private_key_pem(generate_private_key("RSA"))
    key_file = write_private_file(tmp / "jwt-private.pem", private_pem)
    public_file = tmp / "jwt-public.pem"
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_file.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    env = server_environment(
        {
            "APP_ENV": "production",
            "JWT_SECRET_KEY_FILE": str(key_file),
            "COOKIE_SECRET": "bench-cookie-secret-" + "x" * 32,
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "BENCH_PUBLIC_KEY_FILE": str(public_file),
            "STOREFRONT_URL": "https://shop.example.com",  # else each server's log opens with a warning about it
            "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", ""),
        }
    )
    run_command([FLASK, "--app", "wsgi", "db", "upgrade"], env)
    run_command([FLASK, "--app", "wsgi", "users", "create", "--email", EMAIL, "--password", PASSWORD], env)
    run_command([FLASK, "--app", "wsgi", "customers", "create", "--email", SHOPPER, "--password", PASSWORD], env)
    # A second service on a copy of the database that also holds ENDED_SIGN_INS ended sign-in sessions.
    ended_database = tmp / "ended.sqlite3"
    shutil.copyfile(tmp / "bench.sqlite3", ended_database)
    end_sign_ins(f"sqlite:///{ended_database}", ENDED_SIGN_INS)
    ended_env = {**env, "DATABASE_URL": f"sqlite:///{ended_database}"}
    secret_key = run_command(
        [FLASK, "--app", "wsgi", "api-keys", "create", "--title", "bench", "--type", "secret"], env
    ).strip()
    basic_credentials = base64.b64encode(f"{secret_key}:".encode()).decode()
    node_port = free_port()

    with contextlib.ExitStack() as servers:
        service = servers.enter_context(gunicorn("benchmarks.app:build_app()", env, tmp, "service"))
        bare = servers.enter_context(gunicorn("benchmarks.bare_flask:app", env, tmp, "bare"))
        ended = servers.enter_context(gunicorn("benchmarks.app:build_app()", ended_env, tmp, "ended"))
        peer = servers.enter_context(gunicorn("benchmarks.peer_flask_jwt_extended:app", env, tmp, "peer"))
        node_env = {**os.environ, "PORT": str(node_port), "MEDUSA_BACKEND_URL": service.base_url}
        node_args = ["node", str(BENCH / "node" / "server.js")]
        node = servers.enter_context(serve(node_args, node_env, node_port, "/bench/plain", tmp / "node.log"))
        credentials = {"email": EMAIL, "password": PASSWORD}
        token = http_request(service.base_url, "POST", "/auth/user/emailpass", json_body=credentials).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        signed_in = http_request(ended.base_url, "POST", "/auth/user/emailpass", json_body=credentials)
        ended_token = signed_in.json()["token"]
        shopper = {"email": SHOPPER, "password": PASSWORD}
        customer_token = http_request(service.base_url, "POST", "/auth/customer/emailpass", json_body=shopper).json()[
            "token"
        ]
        customer_bearer = {"Authorization": f"Bearer {customer_token}"}
        basic = {"Authorization": f"Basic {basic_credentials}"}
        cases = {
            "bare": Case("the same plain route (baseline)", BARE, f"{bare.base_url}/bench/plain"),
            "plain": Case("plain route", SERVICE, f"{service.base_url}/bench/plain"),
            # The same request bytes as the protected case: what carrying a token costs, apart from checking it.
            "plain_bearer": Case("plain route, same Authorization header sent", SERVICE,
                                 f"{service.base_url}/bench/plain", bearer),
            "reused": Case("/admin route, one token reused", SERVICE,
                           f"{service.base_url}/admin/bench/protected", bearer),
            "ended": Case(f"/admin route, one token reused, {ENDED_SIGN_INS:,} ended sign-ins in memory", SERVICE,
                          f"{ended.base_url}/admin/bench/protected", {"Authorization": f"Bearer {ended_token}"}),
            "fresh": Case("/admin route, a fresh token per request", SERVICE,
                          f"{service.base_url}/admin/bench/protected", bearer, fresh_tokens=True),
            "api_key": Case("/admin route, a secret API key (HTTP Basic)", SERVICE,
                            f"{service.base_url}/admin/bench/protected", basic),
            "store": Case("/store/customers/me route, one customer token reused", SERVICE,
                          f"{service.base_url}/store/customers/me/bench", customer_bearer),
            "jwks": Case("GET /.well-known/jwks.json", SERVICE, f"{service.base_url}/.well-known/jwks.json"),
            "express": Case("bare express route (baseline)", "node", f"{node.base_url}/bench/plain"),
            "express_guide": Case("express + the guide's middleware, one token", "node",
                                  f"{node.base_url}/bench/protected", bearer),
            "fje_plain": Case("plain Flask route (baseline)", "flask-jwt-extended", f"{peer.base_url}/bench/plain"),
            "fje_fresh": Case("@jwt_required(), a fresh token per request", "flask-jwt-extended",
                              f"{peer.base_url}/bench/protected", bearer, fresh_tokens=True),
        }  # fmt: skip
        for case in cases.values():  # warm-up (the guide's middleware fetches the JWKS here), never fresh tokens
            wrk(case, WARMUP_SECONDS)
        # Enough distinct tokens that the service never sees one twice: the plain route's rate bounds its rate.
        estimate = wrk(cases["plain"], WARMUP_SECONDS).rate
        needed = int(estimate * SLICE_SECONDS * ROUNDS * 1.5) + 2000
        tokens_file = fresh_tokens(private_pem, needed, tmp / "tokens.txt")
        next_token = 0
        for _ in range(ROUNDS):
            for key, case in cases.items():
                # The service's cache must not see a token twice; the peer caches nothing, so it may.
                start = next_token if key == "fresh" else 0
                sample = wrk(case, SLICE_SECONDS, tokens_file if case.fresh_tokens else None, start)
                case.samples.append(sample)
                if key == "fresh":
                    next_token += sample.requests + 2 * CONNECTIONS  # requests in flight when wrk stopped
        login = Case("POST /auth/user/emailpass (login)", SERVICE, f"{service.base_url}/auth/user/emailpass",
                     method="POST", body=json.dumps(credentials))  # fmt: skip
        login.samples.append(wrk(login, LOGIN_SECONDS))

    all_tokens = tokens_file.read_text().split()
    micro = measure(private_pem, all_tokens[:MICRO_TOKENS])
    in_process_settings = ("APP_ENV", "COOKIE_SECRET", "DATABASE_URL", "STOREFRONT_URL")
    in_process = inprocess.measure(
        {name: env[name] for name in in_process_settings} | {"JWT_SECRET_KEY": private_pem},
        [
            inprocess.Route(IN_PROCESS_BARE, "/bench/plain", bare=True),
            inprocess.Route("plain route", "/bench/plain"),
            inprocess.Route("/admin route, one token reused", "/admin/bench/protected", itertools.repeat(token)),
            inprocess.Route("/admin route, a fresh token per request", "/admin/bench/protected", iter(all_tokens)),
            inprocess.Route(
                "/admin route, a secret API key (HTTP Basic)",
                "/admin/bench/protected",
                itertools.repeat(basic_credentials),
                scheme="Basic",
            ),
            inprocess.Route(
                "/store/customers/me route, one customer token reused",
                "/store/customers/me/bench",
                itertools.repeat(customer_token),
            ),
            inprocess.Route("GET /.well-known/jwks.json", "/.well-known/jwks.json"),
        ],
    )
    bare_us, plain_us = in_process[IN_PROCESS_BARE], in_process["plain route"]
    goals = [
        # Issue 11's goals: the service against bare Flask, measured in the same run.
        Goal("open route ÷ bare Flask", cases["plain"].ratio_to(cases["bare"]), 0.9),
        Goal("/admin, reused token ÷ bare Flask", cases["reused"].ratio_to(cases["bare"]), 0.85),
        Goal(
            f"/admin, reused token, {ENDED_SIGN_INS:,} ended sign-ins in memory ÷ bare Flask",
            cases["ended"].ratio_to(cases["bare"]),
            0.85,
        ),
        Goal("/admin, fresh tokens ÷ bare Flask", cases["fresh"].ratio_to(cases["bare"]), 0.75),
        # Issue 16: a secret API key costs what a bearer token does (one keyed hash and a lookup, no database).
        Goal("/admin, secret API key ÷ /admin, one token reused", cases["api_key"].ratio_to(cases["reused"]), 0.95),
        Goal("/store/customers/me, reused token ÷ bare Flask", cases["store"].ratio_to(cases["bare"]), 0.85),
        # The actor check costs nothing measurable: a customer's route against an admin's, both one token reused.
        Goal("/store/customers/me ÷ /admin, one token reused each", cases["store"].ratio_to(cases["reused"]), 0.95),
        Goal("JWKS ÷ bare Flask", cases["jwks"].ratio_to(cases["bare"]), 0.95),
        Goal("/admin, reused token ÷ Node.js guide middleware", cases["reused"].ratio_to(cases["express_guide"]), 1.5),
        Goal(
            "in-process, open route's time ÷ bare Flask's",
            [mine / theirs for mine, theirs in zip(plain_us, bare_us, strict=True)],
            1.5,
            at_most=True,
        ),
        # What the token check itself costs, apart from the rest of the request.
        Goal(
            "/admin, reused token ÷ plain route sent the same header (the check alone)",
            cases["reused"].ratio_to(cases["plain_bearer"]),
            0.9,
        ),
        Goal("/admin, fresh tokens ÷ flask-jwt-extended, fresh", cases["fresh"].ratio_to(cases["fje_fresh"]), 1.0),
        Goal("Tokens.verify ÷ raw cryptography RS256 (in-process, fresh)", micro.round_ratios, 0.6, micro.ratio),
    ]
    baselines = {"plain": "bare", "plain_bearer": "bare", "reused": "bare", "ended": "bare", "fresh": "bare",
                 "api_key": "bare",
                 "store": "bare", "jwks": "bare", "express_guide": "express", "fje_fresh": "fje_plain"}  # fmt: skip
    ratios = {key: _median_and_spread(cases[key].ratio_to(cases[base])) for key, base in baselines.items()}
    ratios["login"] = f"{login.rate / cases['bare'].rate:.3f}"
    extra = {
        "micro": describe(micro),
        "hash": f"{password_hash_ms():.0f} ms",
        "server_log": server_log_excerpt(tmp),
    }
    medians = {name: statistics.median(us) for name, us in in_process.items()}
    extra["in_process"] = "\n".join(
        f"  {name}: {us:.1f} µs/request, ÷ bare Flask's time {us / medians[IN_PROCESS_BARE]:.2f}"
        for name, us in medians.items()
    )
    cases["login"] = login
    return list(cases.values()), cases, goals, {**extra, **{f"ratio:{cases[k].name}": r for k, r in ratios.items()}}


def _median_and_spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def print_report(cases: list[Case], goals: list[Goal], extra: dict[str, str]) -> None:
    print(
        f"\nmachine: {os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, node {_node_version()}; wrk -t{THREADS} -c{CONNECTIONS}, "
        f"{ROUNDS} rounds of {SLICE_SECONDS} s per case; {worker_model()}, node 1 process"
    )
    header = ("server", "route", "req/s", "p50 ms", "p99 ms", "errors", "÷ baseline (spread)")
    rows = [header]
    for case in cases:
        note = " [tokens repeated: too few generated]" if any(s.tokens_wrapped for s in case.samples) else ""
        rows.append(
            (
                case.server,
                case.name + note,
                f"{case.rate:,.0f}",
                f"{statistics.median(s.p50_ms for s in case.samples):.2f}",
                f"{statistics.median(s.p99_ms for s in case.samples):.2f}",
                str(case.errors.total()),
                extra.get(f"ratio:{case.name}", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in [rows[0], tuple("-" * w for w in widths), *rows[1:]]:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
    print("(baseline: bare Flask for medusa_auth's rows, bare express for node's, its plain route for the peer's)")
    for case in cases:
        if case.errors:
            print(f"errors, {case.server} {case.name}: " + ", ".join(f"{n} {k}" for k, n in case.errors.items()))
    if extra["server_log"]:
        print(f"warnings and refusals in the servers' logs (the last few of each):\n{extra['server_log']}")
    print(f"\nlogin: one argon2id verification with the default parameters {OWASP_MIN} takes {extra['hash']}")
    print(f"in-process, fresh tokens: {extra['micro']}")
    print(f"in-process through WSGI (no sockets; medians):\n{extra['in_process']}")
    print("\ngoals (median of the per-round ratios, Tokens.verify: best rounds; spread across rounds in brackets):")
    for goal in goals:
        spread = f"{min(goal.ratios):.2f}–{max(goal.ratios):.2f}"
        bound = "≤" if goal.at_most else "≥"
        print(f"  {goal.what}: {goal.measured:.2f} ({spread}), goal {bound} {goal.goal}: {goal.verdict()}")


def _node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    """Run every case and print the table."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (`make bench` installs it)")
    load = _load()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="medusa-auth-bench-") as tmp:
        cases, _, goals, extra = run(Path(tmp))
    print_report(cases, goals, extra)
    print(f"\n(load average before the run {load}, after {_load()}; {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
