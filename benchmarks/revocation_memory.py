"""What a worker spends to hold N ended sign-in sessions in memory (README: "Signing out").

Measures, with tracemalloc, one ``EndedSessions`` snapshot built from N real-looking sids (``sess_`` +
a ULID, as the service makes them): the frozenset the per-request check reads and the feed document
kept beside it. ``python -m benchmarks.revocation_memory [N]`` (default 10,000).
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from medusa_auth.models import new_id
from medusa_auth.revocation import EndedSessions


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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    held, body, lookup_us = measure(count)
    print(
        f"{count:,} ended sign-in sessions: {held / 2**20:.2f} MiB per worker "
        f"({held / count:.0f} bytes each, of which the feed document {body / 2**20:.2f} MiB); "
        f"one membership check {lookup_us * 1000:.0f} ns"
    )


if __name__ == "__main__":
    main()
