"""The one source of "now" for tokens, invites and sessions, so tests can move time in one place."""

import time
from datetime import UTC, datetime

# Clock skew tolerated between this service and whoever signed or checks a token (RFC 8725 §3.10).
LEEWAY_SECONDS = 30


def now() -> int:
    """Seconds since the epoch, as JWT's NumericDate."""
    return int(time.time())


def now_datetime() -> datetime:
    """``now()`` as an aware UTC datetime, for expiries stored in the database."""
    return datetime.fromtimestamp(now(), UTC)


def iso(moment: int) -> str:
    """A NumericDate as ISO 8601 UTC with a ``Z``, as Medusa writes times in JSON."""
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
