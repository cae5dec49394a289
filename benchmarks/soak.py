"""`make soak`: two gunicorn instances on PostgreSQL with Redis under mixed traffic while faults are injected.

Everything runs on 127.0.0.1 and is private to the run (benchmarks/infra.py): a PostgreSQL cluster, a
redis-server and an aiosmtpd sink, each started here on a free port, so restarting them disturbs
nobody else. Two instances (`gunicorn wsgi:app` with the project's gunicorn.conf.py, 2 workers each)
share the database, Redis and the managed key ring, and sit behind a pretend proxy
(``TRUSTED_PROXIES=1``: each request carries its own client address, as behind a load balancer).

Client threads (``SOAK_CLIENTS``, default 6) each own a few users and loop over a weighted mix: log in,
protected calls, refresh, cookie session sign-in / call / sign-out, invite create + register + accept,
and password reset (request, read the link from the SMTP sink, set a new password, log in with it).
Faults on a schedule over ``SOAK_SECONDS`` (default 180): SIGKILL one worker every 20 s (alternating
instances), restart PostgreSQL once, restart Redis once, stop the SMTP server for 30 s.

It prints the requests per kind with statuses and p50/p99, each fault with the time until the service
served again, and the invariants checked at the end; it exits 1 if any invariant failed.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import platform
import random
import re
import secrets
import signal
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from benchmarks.infra import (
    PostgresCluster,
    RedisServer,
    SmtpSink,
    machine_line,
    postgres_cluster,
    redis_server,
    smtp_sink,
    worker_model,
    workspace,
)
from medusa_auth.auth import throttle
from medusa_auth.settings import DEFAULTS
from tests.live import (
    FLASK,
    ROOT,
    WORKERS,
    HttpResponse,
    LiveServer,
    ServerFailed,
    free_port,
    http_request,
    run_command,
    server_environment,
    start_gunicorn,
    stop_process,
    wait_until_healthy,
)

DURATION = float(os.environ.get("SOAK_SECONDS", "180"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "6"))
KILL_EVERY = 20.0
SMTP_DOWN_SECONDS = 30.0
RECOVERY_GOAL = 5.0  # seconds after a fault ends by which the service must serve again
THINK_SECONDS = 0.05  # between a client's scenarios: the machine is shared, the soak need not saturate it
USERS_PER_CLIENT = 3
REQUEST_TIMEOUT = 15.0
MAIL_WAIT_SECONDS = 8.0
# The service's reset limit per account: a client asks no more often, as a person would not, so every reset it
# asks for must be mailed (a throttled one would wait MAIL_WAIT_SECONDS for nothing).
RESETS_PER_ACCOUNT, RESET_WINDOW_SECONDS = throttle.RESETS_PER_ACCOUNT.amount, throttle.RESETS_PER_ACCOUNT.get_expiry()
# An ended sign-in's tokens are refused on every worker of every instance within REVOCATION_REFRESH_SECONDS.
REVOCATION_BOUND_SECONDS = DEFAULTS["REVOCATION_REFRESH_SECONDS"] + 0.5
RESET_THROTTLED = '"event": "reset_throttled"'
# A reset's mail is a background job of the worker that answered (medusa_auth/background.py): queued jobs die
# with it. A reset answered this long before a worker of its instance was killed may have lost its mail.
RESET_JOB_SECONDS = 2.0
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "soak-admin@example.com"
PROBE_EMAIL = "soak-probe@example.com"
RESET_SUBJECT = "Reset your password"
INVITE_SUBJECT = "You are invited"
MAIL_NOT_SENT = re.compile(r"mail not sent: subject='([^']*)'")
SESSION_COOKIE = "__Host-medusa_session"
# Kinds whose route charges a throttle (login's, or the reset request's), so they need Redis as well as the database.
THROTTLED_KINDS = frozenset(
    {"login", "register", "login after reset", "old password refused", "final login", "reset request"}
)
PROBE = "probe"


# -- what every request did ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str
    instance: int
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection dropped or refused)
    expected: bool
    retry_after: bool
    detail: str = ""

    @property
    def milliseconds(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class Fault:
    name: str
    kind: str  # "worker", "postgres", "redis", "smtp"
    started: float
    ended: float = 0.0  # when the component was back (for a worker kill: the kill itself)
    instance: int | None = None
    recovered: float | None = None  # when a probe first saw the service whole again
    detail: str = ""


@dataclass
class Account:
    """A user one client thread owns, so only that thread changes its password."""

    email: str
    password: str
    user_id: str | None = None
    token: str | None = None
    other_password: str | None = None  # set when a password change got no answer: either may hold
    resets: list[float] = field(default_factory=list)  # when this client asked for its resets (monotonic)


@dataclass
class Ledger:
    """Everything the invariants are checked against, filled by every thread."""

    outcomes: list[Outcome] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    registered: set[str] = field(default_factory=set)  # emails whose registration answered 200
    registration_unknown: set[str] = field(default_factory=set)  # no answer: may or may not exist
    accepted: dict[str, str] = field(default_factory=dict)  # email -> user id, accept answered 200
    invites_mailed: set[str] = field(default_factory=set)  # create answered email.sent: true
    invites_unsent: int = 0  # create answered email.sent: false (SMTP down): the admin shares the link by hand
    resets_answered: int = 0  # 201 for a known email
    resets_unanswered: int = 0  # no answer: the mail may or may not have gone
    wrong_answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


# -- the two instances -----------------------------------------------------------------------------------


class Service:
    """Two instances on one database; requests go to one of them, chosen at random."""

    def __init__(self, servers: list[LiveServer], ledger: Ledger):
        self.servers, self.ledger = servers, ledger

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        token: str | None = None,
        cookie: str | None = None,
        json_body: Any = None,
        instance: int | None = None,
    ) -> HttpResponse | None:
        """One request, recorded; None when no HTTP answer came back."""
        index = random.randrange(len(self.servers)) if instance is None else instance
        headers = {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        started = time.monotonic()
        try:
            response: HttpResponse | None = http_request(
                self.servers[index].base_url, method, path, json_body=json_body, headers=headers,
                timeout=REQUEST_TIMEOUT,
            )  # fmt: skip
            detail = ""
        except (OSError, http.client.HTTPException) as error:
            response, detail = None, type(error).__name__
        status = response.status if response is not None else 0
        retry_after = response is not None and "Retry-After" in response.headers
        if response is not None and status >= 500:
            detail = response.body[:120].decode(errors="replace")
        self.ledger.record(
            Outcome(kind, index, started, time.monotonic(), status, status in expect, retry_after, detail)
        )
        return response


def session_cookie(response: HttpResponse) -> str | None:
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        if name == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    return None


# -- client threads ----------------------------------------------------------------------------------------


class Client(threading.Thread):
    """One simulated user agent (and an admin who invites): a weighted mix of scenarios until told to stop."""

    def __init__(self, number: int, service: Service, sink: SmtpSink, accounts: list[Account], stop: threading.Event):
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.service, self.sink, self.accounts, self.stop = number, service, sink, accounts, stop
        self.admin = Account(ADMIN_EMAIL, PASSWORD)
        self.invites_made = 0
        self.rng = random.Random(number)
        self.ended_tokens: list[tuple[str, float]] = []  # tokens of sign-ins this client ended, and when
        self.scenarios: list[tuple[Callable[[], None], int]] = [
            (self.protected, 8),
            (self.login_scenario, 3),
            (self.refresh, 3),
            (self.browser_session, 2),
            (self.ended_token, 1),
            (self.invite, 1),
            (self.reset, 1),
        ]

    def run(self) -> None:
        functions, weights = zip(*self.scenarios, strict=True)
        while not self.stop.is_set():
            self.rng.choices(functions, weights)[0]()
            self.stop.wait(THINK_SECONDS)

    # Each scenario stops at its first step without the expected answer (the outcome is recorded).

    def login(self, account: Account, kind: str = "login") -> str | None:
        for password in (account.password, account.other_password):
            if password is None:
                continue
            expect = (200, 401) if account.other_password else (200,)
            body = {"email": account.email, "password": password}
            response = self.service.call(kind, "POST", "/auth/user/emailpass", json_body=body, expect=expect)
            if response is None or response.status not in (200, 401):
                return None
            if response.status == 200:
                account.password, account.other_password = password, None
                account.token = response.json()["token"]
                return account.token
        return None

    def token_of(self, account: Account) -> str | None:
        return account.token or self.login(account)

    def pick(self) -> Account:
        return self.rng.choice(self.accounts)

    def login_scenario(self) -> None:
        self.login(self.pick())

    def protected(self) -> None:
        account = self.pick()
        token = self.token_of(account)
        if token is None:
            return
        if self.rng.random() < 0.25:
            self.service.call("users list", "GET", "/admin/users?limit=10", token=token)
            return
        response = self.service.call("me by bearer", "GET", "/admin/users/me", token=token)
        if response is not None and response.status == 200 and response.json()["user"]["email"] != account.email:
            self.service.ledger.wrong_answers.append(f"/admin/users/me for {account.email} named another user")

    def refresh(self) -> None:
        account = self.pick()
        token = self.token_of(account)
        if token is None:
            return
        response = self.service.call("refresh", "POST", "/auth/token/refresh", token=token)
        if response is not None and response.status == 200:
            account.token = response.json()["token"]

    def browser_session(self) -> None:
        account = self.pick()
        token = self.token_of(account)
        if token is None:
            return
        response = self.service.call("session sign-in", "POST", "/auth/session", token=token)
        cookie = session_cookie(response) if response is not None and response.status == 200 else None
        if cookie is None:
            return
        self.service.call("me by cookie", "GET", "/admin/users/me", cookie=cookie)
        response = self.service.call("session sign-out", "DELETE", "/auth/session", cookie=cookie)
        if response is not None and response.status == 200:
            self.service.call("me after sign-out", "GET", "/admin/users/me", cookie=cookie, expect=(401,))
            self.sign_in_ended(account)  # signing the browser out ends the sign-in its bearer token belongs to

    def sign_in_ended(self, account: Account) -> None:
        """The account's token stops working (checked by ``ended_token`` once the bound has passed)."""
        if account.token is not None:
            self.ended_tokens.append((account.token, time.monotonic()))
            account.token = None

    def ended_token(self) -> None:
        """A token of an ended sign-in, past the revocation bound: refused on whichever instance gets it."""
        if self.ended_tokens and time.monotonic() - self.ended_tokens[0][1] >= REVOCATION_BOUND_SECONDS:
            token, _ = self.ended_tokens.pop(0)
            self.service.call("ended sign-in's token", "GET", "/admin/users/me", token=token, expect=(401,))

    def invite(self) -> None:
        token = self.token_of(self.admin)
        if token is None:
            return
        self.invites_made += 1
        email = f"soak-{self.number}-{self.invites_made}-{secrets.token_hex(3)}@example.com"
        ledger = self.service.ledger
        response = self.service.call("invite create", "POST", "/admin/invites", token=token, json_body={"email": email})
        if response is None or response.status != 200:
            return
        created = response.json()
        if created["email"]["sent"]:
            ledger.invites_mailed.add(email)
        else:
            with ledger.lock:
                ledger.invites_unsent += 1
        body = {"email": email, "password": PASSWORD}
        response = self.service.call("register", "POST", "/auth/user/emailpass/register", json_body=body)
        if response is None or response.status != 200:
            if response is None or response.status >= 500:
                ledger.registration_unknown.add(email)
            return
        ledger.registered.add(email)
        path = f"/admin/invites/accept?token={quote(created['invite']['token'])}"
        registration = response.json()["token"]
        response = self.service.call("invite accept", "POST", path, token=registration, json_body={"first_name": "S"})
        if response is not None and response.status == 200:
            user_id = response.json()["user"]["id"]
            ledger.accepted[email] = user_id
            self.accounts.append(Account(email, PASSWORD, user_id))

    def reset(self) -> None:
        account = self.pick()
        started = time.monotonic()
        account.resets = [at for at in account.resets if started - at < RESET_WINDOW_SECONDS]
        if len(account.resets) >= RESETS_PER_ACCOUNT:
            return
        if account.other_password is not None and self.login(account) is None:
            return  # settle an unanswered change first, so the expected password is known
        account.resets.append(started)
        body = {"identifier": account.email}
        response = self.service.call(
            "reset request", "POST", "/auth/user/emailpass/reset-password", json_body=body, expect=(201,)
        )
        ledger = self.service.ledger
        if response is None or response.status != 201:
            if response is None:
                with ledger.lock:
                    ledger.resets_unanswered += 1
            return
        with ledger.lock:
            ledger.resets_answered += 1
        reset_token = self.wait_for_mail(account.email, started)
        if reset_token is None:
            return  # not mailed (SMTP down): the service logged it; checked at the end
        new_password = f"{PASSWORD} {secrets.token_hex(4)}"
        response = self.service.call(
            "reset update",
            "POST",
            "/auth/user/emailpass/update",
            token=reset_token,
            json_body={"password": new_password},
        )
        if response is None or response.status >= 500:
            # The change may or may not have committed, and with it the end of the account's sign-ins.
            account.other_password, account.token = new_password, None
            return
        if response.status != 200:
            return
        self.sign_in_ended(account)  # a new password ends every sign-in of the identity
        old, account.password = account.password, new_password
        if self.login(account, "login after reset") is not None:
            body = {"email": account.email, "password": old}
            self.service.call("old password refused", "POST", "/auth/user/emailpass", json_body=body, expect=(401,))

    def wait_for_mail(self, email: str, since: float) -> str | None:
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        while time.monotonic() < deadline and not self.stop.is_set():
            mails = self.sink.mails_to(email, RESET_SUBJECT, since)
            if mails:
                return mails[-1].token
            time.sleep(0.05)
        return None


# -- faults ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    kills: tuple[float, ...]
    postgres: float
    redis: float
    smtp: float
    smtp_down: float


def schedule(duration: float) -> Schedule:
    """Kills every 20 s; the other faults each halfway between two kills, so each recovery is measured alone."""
    kills = tuple(float(t) for t in range(int(KILL_EVERY), int(duration - 5), int(KILL_EVERY)))
    slots = [t + KILL_EVERY / 2 for t in (0.0, *kills) if t + KILL_EVERY / 2 < duration - 10]
    if len(slots) >= 3:  # spread over the run: early, middle, late
        first = round(0.2 * (len(slots) - 1))
        second = max(first + 1, round(0.5 * (len(slots) - 1)))
        third = min(len(slots) - 1, max(second + 1, round(0.75 * (len(slots) - 1))))
        postgres, redis, smtp = slots[first], slots[second], slots[third]
    else:  # a short run (SOAK_SECONDS): faults may share a slot with a kill
        postgres, redis, smtp = (duration * f for f in (0.25, 0.45, 0.65))
    return Schedule(kills, postgres, redis, smtp, max(1.0, min(SMTP_DOWN_SECONDS, duration - smtp - 5)))


class Injector(threading.Thread):
    """Runs the schedule, and after each fault probes until the service is whole again."""

    def __init__(
        self,
        plan: Schedule,
        begin: float,
        service: Service,
        servers: list[LiveServer],
        cluster: PostgresCluster,
        redis: RedisServer,
        sink: SmtpSink,
        probe: Account,
        stop: threading.Event,
    ):
        super().__init__(name="faults", daemon=True)
        self.plan, self.begin, self.service, self.servers = plan, begin, service, servers
        self.cluster, self.redis, self.sink, self.probe, self.stop = cluster, redis, sink, probe, stop
        self.errors: list[str] = []

    def run(self) -> None:
        events: list[tuple[float, Callable[[], None]]] = [
            (t, lambda n=n: self.kill_worker(n % len(self.servers))) for n, t in enumerate(self.plan.kills)
        ]
        events += [(self.plan.postgres, self.restart_postgres), (self.plan.redis, self.restart_redis)]
        events += [(self.plan.smtp, self.stop_smtp), (self.plan.smtp + self.plan.smtp_down, self.start_smtp)]
        for at, action in sorted(events, key=lambda event: event[0]):
            if self.stop.wait(max(0.0, self.begin + at - time.monotonic())):
                return
            try:
                action()
            except Exception as error:  # a fault that could not be injected is reported, not hidden
                self.errors.append(f"{action}: {type(error).__name__}: {error}")

    def add(self, fault: Fault) -> Fault:
        with self.service.ledger.lock:
            self.service.ledger.faults.append(fault)
        return fault

    def kill_worker(self, index: int) -> None:
        server = self.servers[index]
        victim = random.choice(sorted(server.worker_pids()))
        fault = self.add(
            Fault(f"SIGKILL a worker of instance {'AB'[index]}", "worker", time.monotonic(), instance=index)
        )
        os.kill(victim, signal.SIGKILL)
        fault.ended = time.monotonic()
        fault.recovered = self.until(lambda: self.worker_back(server, victim) and self.ready(index))
        fault.detail = f"pid {victim}"

    @staticmethod
    def worker_back(server: LiveServer, victim: int) -> bool:
        pids = server.worker_pids()
        return len(pids) == WORKERS and victim not in pids

    def ready(self, index: int) -> bool:
        response = self.service.call(PROBE, "GET", "/ready", instance=index, expect=(200, 503))
        return response is not None and response.status == 200

    def restart_postgres(self) -> None:
        fault = self.add(Fault("restart PostgreSQL (pg_ctl restart -m fast)", "postgres", time.monotonic()))
        self.cluster.restart()
        fault.ended = time.monotonic()
        fault.recovered = self.until(lambda: all(self.serves_database(i) for i in range(len(self.servers))))

    def serves_database(self, index: int) -> bool:
        """Four answers in a row from the database on this instance (its workers' pools renewed)."""
        token = self.probe.token
        for _ in range(4):
            response = self.service.call(
                PROBE, "GET", "/admin/users/me", token=token, instance=index, expect=(200, 503)
            )
            if response is None or response.status != 200:
                return False
        return True

    def restart_redis(self) -> None:
        fault = self.add(Fault("restart Redis", "redis", time.monotonic()))
        self.redis.restart()
        fault.ended = time.monotonic()
        fault.recovered = self.until(lambda: all(self.logs_in(i) for i in range(len(self.servers))))

    def logs_in(self, index: int) -> bool:
        body = {"email": self.probe.email, "password": self.probe.password}
        response = self.service.call(PROBE, "POST", "/auth/user/emailpass", json_body=body, instance=index,
                                     expect=(200, 503))  # fmt: skip
        return response is not None and response.status == 200

    def stop_smtp(self) -> None:
        self.add(Fault(f"stop the SMTP server for {self.plan.smtp_down:.0f} s", "smtp", time.monotonic()))
        self.sink.stop()

    def start_smtp(self) -> None:
        [fault] = [f for f in self.service.ledger.faults if f.kind == "smtp"]
        self.sink.start()
        fault.ended = time.monotonic()
        fault.recovered = self.until(self.mails_again)

    def mails_again(self) -> bool:
        started = time.monotonic()
        body = {"identifier": self.probe.email}
        response = self.service.call(PROBE, "POST", "/auth/user/emailpass/reset-password", json_body=body,
                                     expect=(201, 503))  # fmt: skip
        if response is None or response.status != 201:
            return False
        with self.service.ledger.lock:
            self.service.ledger.resets_answered += 1
        deadline = started + 2.0
        while time.monotonic() < deadline:
            if self.sink.mails_to(self.probe.email, RESET_SUBJECT, started):
                return True
            time.sleep(0.02)
        return False

    def until(self, check: Callable[[], bool], limit: float = 60.0) -> float | None:
        """The moment ``check`` first holds, polled every 50 ms; None if not within ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if check():
                return time.monotonic()
            time.sleep(0.05)
        return None


# -- setting up --------------------------------------------------------------------------------------------


def seed(env: dict[str, str], emails: list[str]) -> dict[str, str]:
    """Users with PASSWORD, created in this process through the service's own code; email -> id."""
    from medusa_auth import create_app
    from medusa_auth.auth.identity_service import create_user
    from medusa_auth.database import db

    app = create_app({**{name: value for name, value in env.items() if value}, "LOG_LEVEL": "WARNING"})
    ids = {}
    with app.app_context():
        for email in emails:
            ids[email] = create_user(email, PASSWORD).id
        db.session.remove()
        db.engine.dispose()
    return ids


@contextlib.contextmanager
def instances(root: Path, env: dict[str, str], ports: list[int]) -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    try:
        for number, port in enumerate(ports):
            folder = root / f"instance-{'ab'[number]}"
            folder.mkdir()
            out, err = folder / "gunicorn.out", folder / "gunicorn.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                process = start_gunicorn(port, env, stdout, stderr)
            server = LiveServer(f"http://127.0.0.1:{port}", env, folder, folder / "no-key", process, out, err)
            servers.append(server)
            wait_until_healthy(server, 60)
        yield servers
    finally:
        for server in servers:
            stop_process(server.process)


def ring_rows(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as connection:
        return list(connection.execute("SELECT kid, state FROM signing_key ORDER BY kid").fetchall())


# -- the invariants ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def caused_by(fault: Fault, outcome: Outcome) -> bool:
    """Whether this kind of fault produces this kind of failure (the time is judged by the caller)."""
    if outcome.expected:
        return False
    if fault.kind == "worker":
        return outcome.status == 0 and outcome.instance == fault.instance
    if outcome.status != 503:
        return False
    return fault.kind == "postgres" or (fault.kind == "redis" and outcome.kind in THROTTLED_KINDS)


def allowed_failure(outcome: Outcome, faults: list[Fault]) -> bool:
    """A failure a fault explains: a drop in flight on a killed worker; 503 + Retry-After while a store was
    down or within RECOVERY_GOAL seconds of its return."""
    for fault in faults:
        if not caused_by(fault, outcome):
            continue
        if fault.kind == "worker":
            if outcome.started <= fault.ended + 0.1 and outcome.ended >= fault.started - 0.1:
                return True
        elif outcome.retry_after and fault.started - 0.1 <= outcome.ended <= fault.ended + RECOVERY_GOAL:
            return True
    return False


def failures_of(fault: Fault, ledger: Ledger) -> list[Outcome]:
    """The traffic's failures this fault explains, up to the next fault."""
    later = [f.started for f in ledger.faults if f.started > fault.started]
    horizon = min(later, default=float("inf"))
    if fault.kind == "worker":
        return [o for o in ledger.outcomes if o.kind != PROBE and allowed_failure(o, [fault])]
    return [
        o
        for o in ledger.outcomes
        if o.kind != PROBE and caused_by(fault, o) and fault.started - 0.1 <= o.ended < horizon
    ]


def traffic_checks(ledger: Ledger) -> list[Check]:
    traffic = [o for o in ledger.outcomes if o.kind != PROBE]
    server_errors = [o for o in ledger.outcomes if o.status >= 500 and o.status != 503]
    unavailable = [o for o in ledger.outcomes if o.status == 503]
    unexplained_503 = [o for o in unavailable if not allowed_failure(o, ledger.faults)]
    drops = [o for o in ledger.outcomes if o.status == 0]
    unexplained_drops = [o for o in drops if not allowed_failure(o, ledger.faults)]
    wrong = [o for o in traffic if not o.expected and o.status not in (0, 503) and o.status < 500]

    def show(items: list[Outcome]) -> str:
        begin = min((o.started for o in ledger.outcomes), default=0.0)
        return "; ".join(f"{o.kind} {o.status} at {o.started - begin:.1f} s {o.detail}".strip() for o in items[:5])

    return [
        Check("no 500 (no 5xx but 503) ever", not server_errors, f"{len(server_errors)} {show(server_errors)}"),
        Check(
            "503 only while PostgreSQL (or, for what a throttle guards, Redis) was down, always with Retry-After",
            not unexplained_503,
            f"{len(unavailable)} answers 503, {len(unexplained_503)} unexplained {show(unexplained_503)}",
        ),
        Check(
            "connections dropped only for requests in flight on a killed worker",
            not unexplained_drops,
            f"{len(drops)} dropped, {len(unexplained_drops)} unexplained {show(unexplained_drops)}",
        ),
        Check(
            "every other answer as expected (right user, refreshed token works, signed-out cookie and token refused)",
            not wrong and not ledger.wrong_answers,
            f"{len(wrong)} unexpected {show(wrong)} {'; '.join(ledger.wrong_answers[:3])}",
        ),
    ]


def fault_checks(ledger: Ledger, injector_errors: list[str]) -> list[Check]:
    checks = []
    for fault in ledger.faults:
        recovery = recovery_seconds(fault, ledger)
        checks.append(
            Check(
                f"{fault.name}: serving again within {RECOVERY_GOAL:.0f} s",
                recovery is not None and recovery <= RECOVERY_GOAL,
                "never" if recovery is None else f"{recovery:.2f} s",
            )
        )
    if injector_errors:
        checks.append(Check("every fault injected", False, "; ".join(injector_errors)))
    return checks


def recovery_seconds(fault: Fault, ledger: Ledger) -> float | None:
    """From the fault's end (the component back, or the kill) to the probe's first success or the last
    failure it explains, whichever is later; a killed worker's recovery is its replacement serving."""
    if fault.recovered is None:
        return None
    if fault.kind == "worker":
        return fault.recovered - fault.ended
    last_failure = max((o.ended for o in failures_of(fault, ledger)), default=fault.ended)
    return max(fault.recovered, last_failure) - fault.ended


@dataclass(frozen=True)
class Stored:
    """What the database holds at the end of the run."""

    users: dict[str, str]  # email -> id
    duplicate_users: list[Any]
    not_linked_once: list[Any]  # users without exactly one identity (and one emailpass identity of their email)
    identities: set[str]  # emailpass entity ids (emails)
    identity_count: int
    accepted_invites: set[str]
    ring: list[tuple[str, str]]


def stored(database_url: str) -> Stored:
    with psycopg.connect(database_url) as connection:
        query = connection.execute
        identity_rows = query("SELECT entity_id FROM provider_identity").fetchall()
        return Stored(
            users=dict(query('SELECT email, id FROM "user"').fetchall()),
            duplicate_users=query('SELECT email FROM "user" GROUP BY email HAVING count(*) > 1').fetchall(),
            not_linked_once=query(
                """SELECT u.email, count(ai.id) FROM "user" u
                   LEFT JOIN auth_identity ai ON ai.app_metadata->>'user_id' = u.id
                   LEFT JOIN provider_identity p ON p.auth_identity_id = ai.id AND p.entity_id = u.email
                   GROUP BY u.email HAVING count(ai.id) != 1 OR count(p.id) != 1"""
            ).fetchall(),
            identities={row[0] for row in identity_rows},
            identity_count=len(identity_rows),
            accepted_invites={row[0] for row in query("SELECT email FROM invite WHERE accepted").fetchall()},
            ring=ring_rows(database_url),
        )


def database_checks(
    database_url: str, ledger: Ledger, seeded: dict[str, str], ring_before: list[tuple[str, str]], jwks: list[Any]
) -> list[Check]:
    now = stored(database_url)
    accepted = now.accepted_invites
    problems = {
        "accepted invite without its user": [e for e in accepted if e not in now.users],
        "user without seed or accepted invite": [e for e in now.users if e not in seeded and e not in accepted],
        "accept answered 200 but not stored": [
            e for e, uid in ledger.accepted.items() if now.users.get(e) != uid or e not in accepted
        ],
        "duplicate user": now.duplicate_users,
        "user not linked to exactly one identity": now.not_linked_once,
    }
    known_identities = set(seeded) | ledger.registered
    extra = now.identity_count - len(known_identities)
    same_jwks = all(document == jwks[0] for document in jwks)
    published = {key["kid"] for key in jwks[0]["keys"]}
    losses = {
        "seeded user lost or changed": [e for e, uid in seeded.items() if now.users.get(e) != uid],
        "acknowledged identity lost": sorted(known_identities - now.identities),
        "identities beyond the unanswered registrations": []
        if 0 <= extra <= len(ledger.registration_unknown)
        else [extra],
        "key ring changed": [] if now.ring == ring_before else [now.ring],
        "JWKS differs between instances or from the ring": []
        if same_jwks and published == {kid for kid, state in now.ring if state in ("standby", "active")}
        else [published],
    }
    return [
        Check(
            "every accepted invite made exactly one user (linked to one identity of its email)",
            not any(problems.values()),
            f"{len(accepted)} accepted in the database, {len(ledger.accepted)} answered 200"
            + "".join(f"; {name}: {found[:3]}" for name, found in problems.items() if found),
        ),
        Check(
            "no user, identity or key lost or duplicated",
            not any(losses.values()),
            f"{len(now.users)} users ({len(seeded)} seeded + {len(accepted)} invited), {now.identity_count} "
            f"identities ({len(known_identities)} acknowledged, {extra} from {len(ledger.registration_unknown)} "
            f"unanswered registrations), {len(now.ring)} keys unchanged, one JWKS on both instances"
            + "".join(f"; {name}: {found[:3]}" for name, found in losses.items() if found),
        ),
    ]


def mail_checks(ledger: Ledger, sink: SmtpSink, servers: list[LiveServer]) -> list[Check]:
    logged = Counter()
    for server in servers:
        for match in MAIL_NOT_SENT.finditer(server.stderr()):
            logged[match[1]] += 1
    mailed = sum(1 for mail in sink.mails if mail.subject == RESET_SUBJECT)
    accounted = mailed + logged[RESET_SUBJECT]
    throttled = sum(server.stderr().count(RESET_THROTTLED) for server in servers)
    lost = len(resets_before_a_kill(ledger))
    missing_invites = [e for e in ledger.invites_mailed if not sink.mails_to(e, INVITE_SUBJECT)]
    return [
        Check(
            f"no reset throttled (each account asks at most {RESETS_PER_ACCOUNT} times in "
            f"{RESET_WINDOW_SECONDS // 60} minutes)",
            throttled == 0,
            f"{throttled} 'reset_throttled' lines",
        ),
        Check(
            "every reset answered 201 mailed its link or logged that it could not",
            ledger.resets_answered - lost <= accounted <= ledger.resets_answered + ledger.resets_unanswered,
            f"{ledger.resets_answered} answered 201 ({ledger.resets_unanswered} unanswered): {mailed} mailed, "
            f"{logged[RESET_SUBJECT]} logged 'mail not sent'; {lost} answered less than {RESET_JOB_SECONDS:.0f} s "
            "before a worker of their instance was killed (its queued jobs go with it)",
        ),
        Check(
            "every invite answered email.sent=true reached the SMTP server",
            not missing_invites,
            f"{len(ledger.invites_mailed)} said sent, {len(missing_invites)} missing",
        ),
    ]


def resets_before_a_kill(ledger: Ledger) -> list[Outcome]:
    """Resets answered 201 shortly before a worker of the instance that answered was killed: their mail may be lost."""
    kills = [fault for fault in ledger.faults if fault.kind == "worker"]
    return [
        outcome
        for outcome in ledger.outcomes
        if outcome.kind in ("reset request", PROBE)
        and outcome.status == 201
        and any(k.instance == outcome.instance and 0 <= k.started - outcome.ended <= RESET_JOB_SECONDS for k in kills)
    ]


def password_check(clients: list[Client]) -> Check:
    """Every account signs in with the password its owner last set (a change with no answer: one of two)."""
    failed = []
    total = 0
    for client in clients:
        for account in client.accounts:
            total += 1
            if client.login(account, "final login") is None:
                failed.append(account.email)
    changed = sum(1 for o in clients[0].service.ledger.outcomes if o.kind == "reset update" and o.status == 200)
    return Check(
        "every password change took effect (each account signs in with its last password)",
        not failed,
        f"{total} accounts, {changed} passwords changed, {len(failed)} refused {failed[:3]}",
    )


# -- the report --------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def traffic_table(ledger: Ledger, seconds: float) -> list[str]:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in ledger.outcomes:
        by_kind[outcome.kind].append(outcome)
    rows = [("kind", "requests", "statuses", "p50 ms", "p99 ms")]
    order = sorted(by_kind, key=lambda kind: (kind == PROBE, -len(by_kind[kind])))
    for kind in order:
        outcomes = by_kind[kind]
        statuses = Counter("dropped" if o.status == 0 else str(o.status) for o in outcomes)
        text = " ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
        times = [o.milliseconds for o in outcomes]
        rows.append(
            (kind, str(len(outcomes)), text, f"{statistics.median(times):.1f}", f"{percentile(times, 0.99):.1f}")
        )
    total = sum(len(v) for k, v in by_kind.items() if k != PROBE)
    rows.append(("all traffic", str(total), f"{total / seconds:.1f} req/s", "", ""))
    return markdown(rows)


def fault_table(ledger: Ledger, begin: float) -> list[str]:
    rows = [("at s", "fault", "down s", "failed requests", "recovered after s")]
    for fault in ledger.faults:
        failed = Counter("dropped" if o.status == 0 else str(o.status) for o in failures_of(fault, ledger))
        if fault.kind == "smtp":
            failed[f"(invites answered email.sent=false: {ledger.invites_unsent})"] = 0
        recovery = recovery_seconds(fault, ledger)
        rows.append(
            (
                f"{fault.started - begin:.1f}",
                fault.name,
                f"{fault.ended - fault.started:.2f}",
                " ".join(f"{s}×{n}" if n else s for s, n in sorted(failed.items())) or "none",
                "never" if recovery is None else f"{recovery:.2f}",
            )
        )
    return markdown(rows)


def markdown(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return lines


# -- the run -----------------------------------------------------------------------------------------------


def main() -> int:
    plan = schedule(DURATION)
    print(f"soak: {DURATION:.0f} s, {CLIENTS} clients; machine: {machine_line()}", file=sys.stderr)
    with (
        workspace("medusa-soak-") as root,
        postgres_cluster(root) as cluster,
        redis_server(root) as redis,
        smtp_sink() as sink,
    ):
        database_url = cluster.create_database("medusa_soak")
        ports = [free_port(), free_port()]
        env = server_environment(
            {
                "APP_ENV": "production",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis.url,
                "COOKIE_SECRET": secrets.token_urlsafe(32),
                "JWT_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "MEDUSA_BACKEND_URL": f"http://127.0.0.1:{ports[0]}",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(sink.port),
                "MAIL_FROM": "soak@example.com",
                "TRUSTED_PROXIES": "1",
            }
        )
        run_command([FLASK, "--app", "wsgi", "db", "upgrade"], env)
        run_command([FLASK, "--app", "wsgi", "keys", "rotate"], env)
        owned = [[f"soak-user-{c}-{u}@example.com" for u in range(USERS_PER_CLIENT)] for c in range(CLIENTS)]
        seeded = seed(env, [ADMIN_EMAIL, PROBE_EMAIL, *(e for emails in owned for e in emails)])
        ring_before = ring_rows(database_url)
        ledger = Ledger()
        with instances(root, env, ports) as servers:
            service = Service(servers, ledger)
            stop = threading.Event()
            probe = Account(PROBE_EMAIL, PASSWORD, seeded[PROBE_EMAIL])
            clients = [
                Client(n, service, sink, [Account(e, PASSWORD, seeded[e]) for e in owned[n]], stop)
                for n in range(CLIENTS)
            ]
            Client(CLIENTS, service, sink, [probe], stop).login(probe, PROBE)
            begin = time.monotonic()
            injector = Injector(plan, begin, service, servers, cluster, redis, sink, probe, stop)
            for thread in (*clients, injector):
                thread.start()
            stop.wait(DURATION)
            stop.set()
            for thread in (*clients, injector):
                thread.join(REQUEST_TIMEOUT * 4)
            seconds = time.monotonic() - begin
            time.sleep(1.0)  # the last background mails
            checks = traffic_checks(ledger) + fault_checks(ledger, injector.errors)
            jwks = [json.loads(http_request(s.base_url, "GET", "/.well-known/jwks.json").body) for s in servers]
            checks.append(password_check(clients))
            checks += mail_checks(ledger, sink, servers)
            checks += database_checks(database_url, ledger, seeded, ring_before, jwks)
            print_report(ledger, begin, seconds, checks, servers)
    return 0 if all(check.passed for check in checks) else 1


def print_report(ledger: Ledger, begin: float, seconds: float, checks: list[Check], servers: list[LiveServer]) -> None:
    print(
        f"machine: {machine_line()}, {platform.machine()}, CPython {platform.python_version()}; "
        f"2 gunicorn instances × {worker_model(ROOT / 'gunicorn.conf.py', WORKERS)}, private PostgreSQL + Redis "
        "+ aiosmtpd; "
        f"{CLIENTS} clients for {seconds:.0f} s"
    )
    print("\ntraffic (probe: the fault injector's own requests)")
    print("\n".join(traffic_table(ledger, seconds)))
    print("\nfaults")
    print("\n".join(fault_table(ledger, begin)))
    print("\ninvariants")
    print("\n".join(markdown([("invariant", "result", "detail")] + [
        (c.name, "held" if c.passed else "FAILED", c.detail) for c in checks
    ])))  # fmt: skip
    unhandled = sum(server.stderr().count("unhandled error") for server in servers)
    if unhandled:
        print(f"\n{unhandled} 'unhandled error' lines in the instances' logs; first tracebacks:")
        for server in servers:
            text = server.stderr()
            at = text.find("unhandled error")
            if at >= 0:
                print(text[at : at + 3000])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServerFailed as failure:
        print(f"soak: {failure}", file=sys.stderr)
        sys.exit(2)
