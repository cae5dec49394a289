"""Flask-Limiter on a store every gunicorn worker and instance shares: Redis when REDIS_URL is set, else the database.

Never process memory: a counter one worker keeps is a counter the next request, landing on another worker
or instance, does not see. The database store is a ``limits`` storage backend (fixed windows), so the same
Flask-Limiter and strategies run on either store.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import Float, Integer, String, case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from .database import db
from .settings import ThrottleSettings

DATABASE_STORAGE_URI = "medusa-database://"
# A Redis that does not answer must not hold a request (or a worker) for long.
REDIS_TIMEOUT_SECONDS = 2
_EXTENSION = "medusa_auth.limiter"


class RateLimitCounter(db.Model):  # type: ignore[name-defined]
    """One fixed-window counter: how many hits ``key`` has had in the window that ends at ``expires_at``."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


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


def init_limiter(app: Flask, settings: ThrottleSettings) -> Limiter:
    """The app's limiter on Redis (REDIS_URL) or on the database; errors of the store surface as StorageError."""
    prefix = settings.key_prefix
    redis_url = settings.redis_url
    options: dict[str, str | int] = {"wrap_exceptions": True}
    if redis_url:
        options.update(
            key_prefix=prefix, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
    limiter = Limiter(
        get_remote_address,  # request.remote_addr: the peer, or the client ProxyFix found behind TRUSTED_PROXIES
        app=app,
        storage_uri=str(redis_url) if redis_url else DATABASE_STORAGE_URI,
        storage_options=options,
        strategy="fixed-window",
        key_prefix=prefix,
        headers_enabled=True,
    )
    app.extensions[_EXTENSION] = limiter
    return limiter


def app_limiter() -> Limiter:
    """The current app's limiter (one per app: Flask-Limiter keeps its storage on the instance)."""
    limiter: Limiter = current_app.extensions[_EXTENSION]
    return limiter
