"""What login throttling costs per attempt, on each store, next to the password check it guards.

Run with ``make bench-throttle``. For each store (SQLite file, PostgreSQL when BENCH_POSTGRES_URL is
set, Redis when BENCH_REDIS_URL answers) it times a failed attempt's throttle work (``check``: three
atomic charges) and a successful one's (``check`` + ``record_success``: a clear and two refunds), and
one argon2id verification with the production parameters, all in the same run; it prints medians and
the ratio to the password check. Nothing is asserted: this is a measurement.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import flask_migrate
import redis

from medusa_auth import create_app
from medusa_auth.auth import throttle
from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.keys.material import generate_private_key, private_key_pem
from medusa_auth.passwords import OWASP_MIN, Passwords

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))
HASH_ROUNDS = 20


def median_ms(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def stores(workdir: Path) -> list[tuple[str, dict[str, str]]]:
    found = [("database: SQLite file", {"DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"})]
    if os.environ.get("BENCH_POSTGRES_URL"):
        found.append(("database: PostgreSQL", {"DATABASE_URL": os.environ["BENCH_POSTGRES_URL"]}))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        prefix = f"medusa_auth_bench_{uuid.uuid4().hex}"
        sqlite = {"DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"}
        found.append(("Redis", {**sqlite, "REDIS_URL": redis_url, "RATELIMIT_KEY_PREFIX": prefix}))
    except redis.RedisError:
        print(f"(Redis at {redis_url} does not answer: skipped)", file=sys.stderr)
    return found


def measure(settings: dict[str, str]) -> tuple[float, float]:
    app = create_app({"APP_ENV": "test", "JWT_SECRET_KEY": PEM, "COOKIE_SECRET": "b" * 40, **settings})
    with app.app_context():
        flask_migrate.upgrade()
    client_number = iter(range(10**9))

    def failed() -> None:
        # A fresh client address and email each time, so no counter reaches its limit.
        n = next(client_number)
        with app.test_request_context(environ_base={"REMOTE_ADDR": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}):
            throttle.check(f"bench{n}@example.com")

    def succeeded() -> None:
        n = next(client_number)
        with app.test_request_context(environ_base={"REMOTE_ADDR": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}):
            throttle.check(f"bench{n}@example.com")
            throttle.record_success(f"bench{n}@example.com")

    result = median_ms(failed, ROUNDS), median_ms(succeeded, ROUNDS)
    with app.app_context():
        if settings.get("REDIS_URL"):
            medusa_auth().throttle.storage.reset()  # only this run's prefix; database rows expire
        db.engine.dispose()
    return result


PEM = private_key_pem(generate_private_key("RSA"))


def main() -> None:
    passwords = Passwords(**OWASP_MIN)
    password_hash = passwords.hash("correct horse battery staple")
    verify_ms = median_ms(lambda: passwords.verify(password_hash, "wrong password"), HASH_ROUNDS)
    print(f"argon2id verify (OWASP parameters), median of {HASH_ROUNDS}: {verify_ms:.2f} ms")
    with tempfile.TemporaryDirectory() as workdir:
        for name, settings in stores(Path(workdir)):
            failed_ms, succeeded_ms = measure(settings)
            print(
                f"{name:<24} failed attempt {failed_ms:6.2f} ms ({failed_ms / verify_ms:5.1%} of a verify), "
                f"successful {succeeded_ms:6.2f} ms ({succeeded_ms / verify_ms:5.1%}); median of {ROUNDS}"
            )


if __name__ == "__main__":
    main()
