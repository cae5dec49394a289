"""Things kept server-side for a few minutes under a random key, and taken exactly once.

Redirect sign-ins in flight (``providers/state.py``) and WebAuthn challenges (``providers/passkey.py``)
are each a small frozen dataclass kept under a random value the client carries. The store keeps only
the SHA-256 of that value; the take is one atomic statement (``DELETE ... RETURNING`` in the database,
``GETDEL`` in Redis), so two requests racing with one key cannot both proceed. Redis when ``REDIS_URL``
is set (expiry is Redis's own), else the database (expired rows are swept on every save, and by
``flask --app wsgi purge``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from typing import Any, Generic, Protocol, TypeVar, cast

import redis
from sqlalchemy import delete, insert

from . import clock
from .database import db
from .models import digest
from .settings import ThrottleSettings

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 2  # as the throttle's: a Redis that does not answer must not hold a worker
# The Redis URL schemes redis-py opens by itself; the others (sentinel, cluster) leave rows in the database.
_REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "redis+unix": "unix"}

Record = TypeVar("Record")  # a frozen dataclass whose fields are columns of the store's table


class StoreUnavailable(Exception):
    """The store did not answer: the flow cannot start or finish now (503, not the client's fault)."""


class SingleUseStore(Protocol[Record]):
    def save(self, key: str, record: Record) -> None:
        """Keep ``record`` under ``key`` for the store's lifetime."""

    def take(self, key: str) -> Record | None:
        """The record, removed in the same step; None if unknown, expired or already taken."""


class DatabaseStore(Generic[Record]):
    """Rows of ``model`` (primary key: the key's SHA-256; ``expires_at``: seconds since the epoch), each in its
    own short transaction, apart from the request's session."""

    def __init__(self, model: Any, record_type: type[Record], lifetime: int):
        self.model, self.record_type, self.lifetime = model, record_type, lifetime
        table = model.__table__
        (self._key_column,) = table.primary_key.columns
        self._columns = [table.c[f.name] for f in fields(cast(Any, record_type))]

    def save(self, key: str, record: Record) -> None:
        now = clock.now()
        with db.engine.begin() as connection:
            connection.execute(delete(self.model).where(self.model.expires_at <= now))
            values = {
                self._key_column.name: digest(key),
                "expires_at": now + self.lifetime,
                **asdict(cast(Any, record)),
            }
            connection.execute(insert(self.model).values(**values))

    def take(self, key: str) -> Record | None:
        taken = delete(self.model).where(self._key_column == digest(key))
        with db.engine.begin() as connection:
            row = connection.execute(taken.returning(*self._columns, self.model.__table__.c.expires_at)).first()
        if row is None or row.expires_at <= clock.now():
            return None
        return self.record_type(*row[: len(self._columns)])


class RedisStore(Generic[Record]):
    """One key per record, ``{prefix}:{namespace}:{sha256}``, expiring by itself (and checked on take)."""

    def __init__(self, client: redis.Redis, key_prefix: str, namespace: str, record_type: type[Record], lifetime: int):
        self.client, self.key_prefix, self.namespace = client, key_prefix, namespace
        self.record_type, self.lifetime = record_type, lifetime

    def save(self, key: str, record: Record) -> None:
        stored = {**asdict(cast(Any, record)), "expires_at": clock.now() + self.lifetime}
        try:
            self.client.set(self._key(key), json.dumps(stored), ex=self.lifetime, nx=True)
        except redis.RedisError as error:
            raise StoreUnavailable(type(error).__name__) from None

    def take(self, key: str) -> Record | None:
        try:
            stored = cast(bytes | None, self.client.getdel(self._key(key)))  # a sync client
        except redis.RedisError as error:
            raise StoreUnavailable(type(error).__name__) from None
        if stored is None:
            return None
        values = json.loads(stored)
        if values.pop("expires_at") <= clock.now():  # Redis's own expiry may lag by a moment
            return None
        return self.record_type(**values)

    def _key(self, key: str) -> str:
        return f"{self.key_prefix}:{self.namespace}:{digest(key)}"


def redis_client(settings: ThrottleSettings, what: str) -> redis.Redis | None:
    """A client for REDIS_URL when it names a Redis redis-py opens itself; None: keep ``what`` in the database."""
    url = settings.redis_url
    scheme = url.split("://", 1)[0] if url else None
    if url is None or scheme not in _REDIS_SCHEMES:
        if url is not None:
            log.info("%s are kept in the database (REDIS_URL's scheme %s is the throttle's only)", what, scheme)
        return None
    return redis.Redis.from_url(
        _REDIS_SCHEMES[scheme] + url[len(scheme) :],
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def build_store(
    settings: ThrottleSettings, model: Any, record_type: type[Record], namespace: str, lifetime: int, what: str
) -> SingleUseStore[Record]:
    """Redis when REDIS_URL names one redis-py opens itself, else the database (every instance shares either)."""
    client = redis_client(settings, what)
    if client is None:
        return DatabaseStore(model, record_type, lifetime)
    return RedisStore(client, settings.key_prefix, namespace, record_type, lifetime)
