"""The one source of "now" for tokens, invites and sessions, so tests can move time in one place."""

import time

# Clock skew tolerated between this service and whoever signed or checks a token (RFC 8725 §3.10).
LEEWAY_SECONDS = 30


def now() -> int:
    """Seconds since the epoch, as JWT's NumericDate."""
    return int(time.time())
