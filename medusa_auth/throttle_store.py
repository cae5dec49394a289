"""The throttle's counters in a store every worker and instance shares: Redis (REDIS_URL), else the database.

Never process memory: a counter one worker keeps is a counter the next request, landing on another worker
or instance, does not see. The database store is a ``limits`` storage backend, so the same fixed-window
strategy runs on either store. The limiter is built once per app at startup and costs nothing on requests
that do not count anything (no request hooks).
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .database import db
from .models import RateLimitCounter
from .settings import ThrottleSettings

DATABASE_STORAGE_URI = "medusa-database://"
# A Redis that does not answer must not hold a request (or a worker) for long.
REDIS_TIMEOUT_SECONDS = 2


class DatabaseStorage(Storage):
    """A ``limits`` storage in the app's database: one atomic upsert per hit, so concurrent workers add up."""

    STORAGE_SCHEME = ["medusa-database"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        table = RateLimitCounter.__table__
        with db.engine.begin() as connection:
            insert = _dialect_insert(connection.dialect.name)(table).values(
                key=key, count=amount, expires_at=now + expiry
            )
            expired = table.c.expires_at <= now
            upsert = insert.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((expired, amount), else_=table.c.count + amount),
                    "expires_at": case((expired, now + expiry), else_=table.c.expires_at),
                },
            ).returning(table.c.count)
            count = int(connection.execute(upsert).scalar_one())
            if count == amount:  # a window began: sweep the counters whose windows have ended
                connection.execute(delete(table).where(table.c.expires_at <= now))
        return count

    def get(self, key: str) -> int:
        row = self._live_row(key)
        return row[0] if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._live_row(key)
        return row[1] if row is not None else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(RateLimitCounter)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))

    @staticmethod
    def _live_row(key: str) -> tuple[int, float] | None:
        """(count, expires_at) of the key's window if it has not ended."""
        with db.engine.connect() as connection:
            row = connection.execute(
                select(RateLimitCounter.count, RateLimitCounter.expires_at).where(
                    RateLimitCounter.key == key, RateLimitCounter.expires_at > time.time()
                )
            ).first()
        return (int(row[0]), float(row[1])) if row is not None else None


def _dialect_insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE, which SQLite and PostgreSQL both have."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"rate limits in the database need SQLite or PostgreSQL, not {dialect}")


def build_limiter(settings: ThrottleSettings) -> FixedWindowRateLimiter:
    """A fixed-window limiter on Redis (REDIS_URL) or on the database; store errors surface as StorageError."""
    storage: Storage
    if settings.redis_url:
        storage = storage_from_string(  # type: ignore[assignment]  # a sync scheme gives a sync storage
            settings.redis_url,
            wrap_exceptions=True,
            key_prefix=settings.key_prefix,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    else:
        storage = DatabaseStorage(DATABASE_STORAGE_URI, wrap_exceptions=True)
    return FixedWindowRateLimiter(storage)
