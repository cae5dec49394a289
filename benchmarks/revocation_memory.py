"""What a worker spends to hold N ended sign-in sessions in memory (README: "Signing out").

Measures, with tracemalloc, one ``EndedSessions`` snapshot built from N real-looking sids (``sess_`` +
a ULID, as the service makes them): the frozenset the per-request check reads and the feed document
kept beside it; then the worker's periodic re-read of those N rows from a SQLite file (``ended_sids``,
as every REVOCATION_REFRESH_SECONDS). ``python -m benchmarks.revocation_memory [N]`` (default 10,000).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert

from medusa_auth.clock import now_datetime
from medusa_auth.database import db
from medusa_auth.models import AuthIdentity, SignInSession, new_id
from medusa_auth.revocation import EndedSessions, ended_sids

RELOADS = 20


def measure(count: int) -> tuple[int, int, float]:
    """Bytes held by the snapshot, bytes of its feed document, and microseconds per membership check."""
    tracemalloc.start()
    sids = [new_id("sess") for _ in range(count)]  # as a database read hands them over: new strings
    snapshot = EndedSessions.of(sids)
    del sids  # what stays is what a worker holds: the snapshot, its strings and its feed document
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    probe, rounds = new_id("sess"), 1_000_000
    started = time.perf_counter()
    for _ in range(rounds):
        _ = probe in snapshot.sids
    return held, len(snapshot.body), (time.perf_counter() - started) / rounds * 1e6


def reload_ms(count: int) -> float:
    """The median milliseconds of one re-read of ``count`` ended sessions (unchanged, so no new snapshot)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'ended.sqlite3'}")
        db.metadata.create_all(engine)
        now = now_datetime()
        with engine.begin() as connection:
            connection.execute(insert(AuthIdentity), [{"id": "authid_bench", "app_metadata": {}}])
            session = {"auth_identity_id": "authid_bench", "actor_type": "user", "auth_provider": "emailpass"}
            times = {"created_at": now, "expires_at": now + timedelta(hours=12), "ended_at": now}
            rows = [{"id": new_id("sess"), **session, **times} for _ in range(count)]
            connection.execute(insert(SignInSession), rows)
        current = ended_sids(engine, 86_400)
        assert len(current.sids) == count
        samples = []
        for _ in range(RELOADS):
            started = time.perf_counter()
            current = ended_sids(engine, 86_400, current)
            samples.append(time.perf_counter() - started)
        engine.dispose()
    return statistics.median(samples) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    held, body, lookup_us = measure(count)
    print(
        f"{count:,} ended sign-in sessions: {held / 2**20:.2f} MiB per worker "
        f"({held / count:.0f} bytes each, of which the feed document {body / 2**20:.2f} MiB); "
        f"one membership check {lookup_us * 1000:.0f} ns"
    )
    reload = reload_ms(count)
    print(
        f"re-reading them (SQLite, median of {RELOADS}): {reload:.1f} ms, "
        f"every 2 s (REVOCATION_REFRESH_SECONDS' default) that is {reload / 2000:.2%} of a core per worker"
    )


if __name__ == "__main__":
    main()
