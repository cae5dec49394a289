"""Sign-ins in flight: what the callback needs, kept server-side under the ``state`` sent to the provider.

A pending sign-in is bound to the actor type, the provider, the callback URL, PKCE's code verifier and
the OpenID Connect nonce; it lives 10 minutes and is taken once: the take is one atomic statement
(``DELETE ... RETURNING`` in the database, ``GETDEL`` in Redis), so two callbacks racing with one state
cannot both proceed. The store keeps only the SHA-256 of the state. Redis when ``REDIS_URL`` is set
(expiry is Redis's own), else the database (expired rows are swept when a sign-in starts, and by
``flask --app wsgi purge``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Protocol, cast

import redis
from sqlalchemy import delete, insert

from .. import clock
from ..database import db
from ..models import OAuthState, digest
from ..settings import ThrottleSettings

log = logging.getLogger(__name__)

STATE_LIFETIME_SECONDS = 600
REDIS_TIMEOUT_SECONDS = 2  # as the throttle's: a Redis that does not answer must not hold a worker
# The Redis URL schemes redis-py opens by itself; the others (sentinel, cluster) leave states in the database.
_REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "redis+unix": "unix"}


class StateStoreUnavailable(Exception):
    """The store did not answer: the sign-in cannot start or finish now (503, not the client's fault)."""


@dataclass(frozen=True)
class PendingSignIn:
    """What a callback needs from the start of its sign-in, and what it must match."""

    actor_type: str
    provider: str
    callback_url: str
    code_verifier: str
    nonce: str | None


class StateStore(Protocol):
    def save(self, state: str, pending: PendingSignIn) -> None:
        """Keep ``pending`` under ``state`` for ``STATE_LIFETIME_SECONDS``."""

    def take(self, state: str) -> PendingSignIn | None:
        """The pending sign-in, removed in the same step; None if unknown, expired or already taken."""


class DatabaseStateStore:
    """Rows of ``oauth_state``, each in its own short transaction (apart from the request's session)."""

    def save(self, state: str, pending: PendingSignIn) -> None:
        now = clock.now()
        with db.engine.begin() as connection:
            connection.execute(delete(OAuthState).where(OAuthState.expires_at <= now))
            connection.execute(
                insert(OAuthState).values(
                    state_hash=digest(state), expires_at=now + STATE_LIFETIME_SECONDS, **asdict(pending)
                )
            )

    def take(self, state: str) -> PendingSignIn | None:
        table = OAuthState.__table__
        columns = [table.c[name] for name in PendingSignIn.__dataclass_fields__]
        with db.engine.begin() as connection:
            row = connection.execute(
                delete(OAuthState).where(OAuthState.state_hash == digest(state)).returning(*columns, table.c.expires_at)
            ).first()
        if row is None or row.expires_at <= clock.now():
            return None
        return PendingSignIn(*row[: len(columns)])


class RedisStateStore:
    """One key per state, ``{prefix}:oauth_state:{sha256}``, expiring by itself (and checked on take)."""

    def __init__(self, client: redis.Redis, key_prefix: str):
        self.client = client
        self.key_prefix = key_prefix

    def save(self, state: str, pending: PendingSignIn) -> None:
        stored = {**asdict(pending), "expires_at": clock.now() + STATE_LIFETIME_SECONDS}
        try:
            self.client.set(self._key(state), json.dumps(stored), ex=STATE_LIFETIME_SECONDS, nx=True)
        except redis.RedisError as error:
            raise StateStoreUnavailable(type(error).__name__) from None

    def take(self, state: str) -> PendingSignIn | None:
        try:
            stored = cast(bytes | None, self.client.getdel(self._key(state)))  # a sync client
        except redis.RedisError as error:
            raise StateStoreUnavailable(type(error).__name__) from None
        if stored is None:
            return None
        fields = json.loads(stored)
        if fields.pop("expires_at") <= clock.now():  # Redis's own expiry may lag by a moment
            return None
        return PendingSignIn(**fields)

    def _key(self, state: str) -> str:
        return f"{self.key_prefix}:oauth_state:{digest(state)}"


def build_state_store(settings: ThrottleSettings) -> StateStore:
    """Redis when REDIS_URL names one redis-py opens itself, else the database (every instance shares either)."""
    url = settings.redis_url
    scheme = url.split("://", 1)[0] if url else None
    if url is None or scheme not in _REDIS_SCHEMES:
        if url is not None:
            log.info("sign-in states are kept in the database (REDIS_URL's scheme %s is the throttle's only)", scheme)
        return DatabaseStateStore()
    client = redis.Redis.from_url(
        _REDIS_SCHEMES[scheme] + url[len(scheme) :],
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return RedisStateStore(client, settings.key_prefix)
