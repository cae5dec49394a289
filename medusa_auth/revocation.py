"""Ended sign-in sessions, kept per process: the ``sid``s whose tokens every request must refuse.

An issuer instance reads them from its database (``ended_sids``); a remote verifier
polls the issuer's feed (``GET /.well-known/revoked-sessions``). Either way the set is one immutable
``EndedSessions`` snapshot, swapped whole every ``refresh_seconds`` by whichever request notices it is
due (the others keep reading the current one), the way the key ring refreshes. Requests only read it:
the check is a set lookup, no database or network round trip per request.

Fail closed: a snapshot that could not be refreshed for ``max_staleness`` seconds (the database or the
feed is down) accepts no token, since a session ended meanwhile would go unnoticed: every check raises
``VerificationUnavailable`` (a 503 with Retry-After, not a 401 that would make clients drop their tokens).
Nothing here knows about Flask requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from . import clock
from .keys.remote import BodyTooLarge, bounded_get, check_jwks_url
from .models import SignInSession
from .strict_json import reject_constant, reject_duplicate_members
from .tokens import VerificationUnavailable

log = logging.getLogger(__name__)

ENDED = "signed out (sign-in session ended)"
UNKNOWN = "ended sign-in sessions unknown for too long (fail closed)"
# The issuer's own bound: its database unreadable this long, its tokens are refused.
ISSUER_MAX_STALENESS_SECONDS = 30.0
LOAD_WAIT_SECONDS = 5.0  # a request with no usable snapshot waits this long for the load in flight
FEED_MEMBER = "ended_sessions"
_MAX_SID_LENGTH = 64


@dataclass(frozen=True)
class EndedSessions:
    """One snapshot: the ended sids, and the feed document that publishes them (built once per change)."""

    sids: frozenset[str]
    body: bytes
    etag: str

    @classmethod
    def of(cls, sids: Iterable[str]) -> EndedSessions:
        ordered = sorted(set(sids))
        body = json.dumps({FEED_MEMBER: ordered}, separators=(",", ":")).encode()
        return cls(frozenset(ordered), body, hashlib.sha256(body).hexdigest()[:32])


Load = Callable[["EndedSessions | None"], EndedSessions]


class RefreshingEndedSessions:
    """The process's snapshot, re-loaded every ``refresh_seconds``; ``refusal(sid)`` is the per-request check.

    ``load`` gets the current snapshot (a feed client revalidates its ETag) and returns the next one;
    whatever it raises keeps the current snapshot (logged), retried after ``refresh_seconds``, until
    ``max_staleness`` seconds after the last good load, when every token is refused.
    """

    def __init__(
        self,
        load: Load,
        refresh_seconds: float,
        max_staleness: float,
        monotonic: Callable[[], float] = time.monotonic,
        unavailable_type: str = "unexpected_state",
    ):
        self._load, self._monotonic = load, monotonic
        self.refresh_seconds, self.max_staleness = refresh_seconds, max_staleness
        self.unavailable_type = unavailable_type  # the 503's error type: what cannot be read
        self._lock = threading.Lock()
        self._current: EndedSessions | None = None  # loaded on first use: the CLI may run before `db upgrade`
        self._loaded_at = self._tried_at = -float("inf")

    def refusal(self, sid: str | None) -> str | None:
        """Why a token of sign-in session ``sid`` (None: a token without one) must be refused, or None;
        ``VerificationUnavailable`` while the snapshot is stale past the bound."""
        current = self.current
        if current is None:
            raise VerificationUnavailable(UNKNOWN, self.unavailable_type)
        if sid is not None and sid in current.sids:
            return ENDED
        return None

    @property
    def current(self) -> EndedSessions | None:
        """The snapshot, or None when none was loaded within ``max_staleness`` (fail closed)."""
        if self._past_bound():
            # Nothing to answer from (the first use, or a worker quiet for longer than the bound): every reader
            # waits for the load in flight, or its failure, rather than refusing while it runs.
            self._refresh_if_due(wait=True)
        elif self._monotonic() - self._tried_at >= self.refresh_seconds:
            self._refresh_if_due(wait=False)
        return None if self._past_bound() else self._current

    def _past_bound(self) -> bool:
        return self._monotonic() - self._loaded_at > self.max_staleness

    def refresh(self) -> None:
        """Load now (waiting for a load in progress first)."""
        with self._lock:
            self._reload()

    def _refresh_if_due(self, wait: bool) -> None:
        """Load, unless another thread is loading or just did. While it loads, keep answering from the current
        snapshot, or with ``wait`` (nothing to answer from) wait for it, at most ``LOAD_WAIT_SECONDS``: a
        database that hangs makes a 503, not a worker whose every thread is stuck behind one load."""
        if not self._lock.acquire(blocking=wait, timeout=LOAD_WAIT_SECONDS if wait else -1):
            return
        try:
            if self._monotonic() - self._tried_at >= self.refresh_seconds:
                self._reload()
        finally:
            self._lock.release()

    def _reload(self) -> None:
        self._tried_at = self._monotonic()
        try:
            self._current = self._load(self._current)
        except Exception as error:  # the database or the feed is down: the last snapshot holds, for a while
            log.warning(
                "ended sign-in sessions not refreshed (%s: %s); every token is refused %.0f s after the last good load",
                type(error).__name__,
                error,
                self.max_staleness,
            )
        else:
            self._loaded_at = self._monotonic()


def ended_sids(engine: Engine, token_lifetime: int, current: EndedSessions | None = None) -> EndedSessions:
    """The issuer's ``load``: sessions ended whose tokens may still be live, i.e. ended within ``token_lifetime``
    (plus the leeway) and not past their absolute end (no token of theirs expires later). A connection of
    its own: a refresh in the middle of a request must not touch the request's transaction. An unchanged
    set keeps ``current`` (its feed document is not rebuilt)."""
    now = clock.now_datetime()
    leeway = timedelta(seconds=clock.LEEWAY_SECONDS)
    query = select(SignInSession.id).where(
        SignInSession.ended_at > now - timedelta(seconds=token_lifetime) - leeway,
        SignInSession.expires_at > now - leeway,
    )
    connection = engine.connect()
    try:
        sids = frozenset(connection.execute(query).scalars())
    finally:
        # A connection the database drops after the read (its ROLLBACK on return fails): the read stands,
        # and SQLAlchemy has already invalidated the connection (the pool replaces it).
        with contextlib.suppress(OperationalError, InterfaceError):
            connection.close()
    return current if current is not None and current.sids == sids else EndedSessions.of(sids)


class FeedError(Exception):
    """The feed's answer cannot be used."""


@dataclass(frozen=True)
class FeedPolicy:
    """A verifier's bounds for the issuer's revocation feed (``JWT_REVOCATION_*``)."""

    refresh_seconds: float = 5.0
    max_staleness: float = 60.0
    timeout: float = 5.0  # for the whole exchange
    max_bytes: int = 8 * 1024 * 1024  # about 200,000 sids


def feed_loader(url: str, policy: FeedPolicy, tls: ssl.SSLContext | None = None) -> Load:
    """A ``load`` that polls the feed at ``url`` with ``If-None-Match`` (a 304 keeps the snapshot)."""
    check_jwks_url(url)  # the same rule as the JWKS: https, or http to loopback; no credentials
    context = tls or ssl.create_default_context()

    def load(current: EndedSessions | None) -> EndedSessions:
        try:
            status, headers, body = bounded_get(
                url,
                current.etag if current else None,
                policy.timeout,
                policy.max_bytes,
                context,
                "medusa_auth-revocation",
            )
        except BodyTooLarge as error:
            raise FeedError(str(error)) from None
        if status == 304 and current is not None:
            return current
        if status != 200:
            raise FeedError(f"{url} answered {status}")
        return parse_feed(body)

    return load


def parse_feed(body: bytes) -> EndedSessions:
    """The snapshot a feed document holds; ``FeedError`` for anything but ``{"ended_sessions": [sid, ...]}``."""
    try:
        document = json.loads(
            body.decode("utf-8"), object_pairs_hook=reject_duplicate_members, parse_constant=reject_constant
        )
    except (ValueError, RecursionError) as error:
        raise FeedError("the feed is not strict JSON") from error
    sids = document.get(FEED_MEMBER) if isinstance(document, dict) else None
    if not isinstance(sids, list) or not all(isinstance(s, str) and 0 < len(s) <= _MAX_SID_LENGTH for s in sids):
        raise FeedError(f'the feed is not {{"{FEED_MEMBER}": [sid, ...]}}')
    return EndedSessions.of(sids)
