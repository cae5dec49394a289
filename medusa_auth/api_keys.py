"""Medusa's API keys on the request path: making a token, its keyed hash, and the per-worker view of live keys.

A secret key (``sk_`` + 64 hex digits, 256 random bits) opens /admin over HTTP Basic; a publishable key
(``pk_`` + 64 hex) names a storefront on /store. The database finds a key by ``token_hash``, an
HMAC-SHA256 of the token under a key derived from ``COOKIE_SECRET``: one keyed hash per request, never a
password hash (the token has 256 random bits: nothing to slow down), and someone who can write the
table but does not hold the server's secret cannot plant a key of their own.

Each worker keeps every unrevoked key's hash in memory (``LiveApiKeys``), re-read at most every
``REVOCATION_REFRESH_SECONDS``, so a request costs no database round trip and a key revoked on any
instance stops everywhere within that bound (at once in the worker that revoked it).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeGuard

from .database import db
from .models import ApiKey

SECRET = "secret"
PUBLISHABLE = "publishable"
TYPES = (SECRET, PUBLISHABLE)
PREFIXES = {SECRET: "sk_", PUBLISHABLE: "pk_"}
TOKEN_BYTES = 32
_TOKEN = {kind: re.compile(rf"{prefix}[0-9a-f]{{{2 * TOKEN_BYTES}}}") for kind, prefix in PREFIXES.items()}
ACTOR_TYPE = "api-key"  # Medusa's actor type for a request opened by a secret key
PUBLISHABLE_KEY_HEADER = "x-publishable-api-key"
_HASH_CONTEXT = b"medusa_auth api-key token hash v1"
# Basic credentials of a secret key: base64 of "sk_<64 hex>:" is 92 characters; longer is never one.
_MAX_BASIC_CREDENTIALS = 128


def new_token(kind: str) -> str:
    return PREFIXES[kind] + secrets.token_hex(TOKEN_BYTES)


def redact(token: str) -> str:
    """Medusa's redacted form: the first six and last three characters."""
    return f"{token[:6]}***{token[-3:]}"


def hash_key(cookie_secret: str | None) -> bytes:
    """The HMAC key of token hashes, derived from COOKIE_SECRET (none: a random one, so nothing verifies)."""
    if not cookie_secret:
        return secrets.token_bytes(32)
    return hmac.new(cookie_secret.encode(), _HASH_CONTEXT, hashlib.sha256).digest()


def is_token(kind: str, token: str) -> bool:
    return _TOKEN[kind].fullmatch(token) is not None


def secret_from_basic(header: str) -> str | None:
    """The secret key of ``Basic base64("sk_...:")`` (or of ``Basic sk_...``, raw, as Medusa accepts); None otherwise.

    The password part must be empty and the key well formed: anything else is no secret key.
    """
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip(" ")
    if scheme.lower() != "basic" or not credentials or len(credentials) > _MAX_BASIC_CREDENTIALS:
        return None
    if not credentials.startswith(PREFIXES[SECRET]):
        try:
            credentials = binascii.a2b_base64(credentials, strict_mode=True).decode("ascii")
        except (binascii.Error, ValueError):
            return None
    token = credentials.removesuffix(":")
    return token if is_token(SECRET, token) else None


def is_basic(header: str | None) -> TypeGuard[str]:
    return header is not None and header[:6].lower() == "basic "


class LiveKey(NamedTuple):
    id: str
    kind: str


class LiveApiKeys:
    """Every unrevoked key's hash, re-read at most every ``refresh_seconds``; one per worker, shared by its threads."""

    def __init__(self, key: bytes, refresh_seconds: int, monotonic: Callable[[], float] = time.monotonic):
        self._key = key
        self._refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._live: dict[str, LiveKey] = {}
        self._publishable_exist = False
        self._loaded_at: float | None = None
        self._used: dict[str, float] = {}  # key id -> last use (seconds since the epoch), written at the next refresh

    def token_hash(self, token: str) -> str:
        return hmac.digest(self._key, token.encode(), "sha256").hex()  # the one-shot C HMAC: about a microsecond

    def find(self, kind: str, token: str) -> str | None:
        """The id of the live key of ``kind`` with this token, or None (one HMAC and a dict lookup)."""
        if not is_token(kind, token):
            return None
        self._refresh_if_stale()
        # A dict lookup compares HMAC outputs, which an attacker who lacks the key cannot steer: no timing leak.
        found = self._live.get(self.token_hash(token))
        if found is None or found.kind != kind:
            return None
        self._used[found.id] = time.time()
        return found.id

    def publishable_required(self) -> bool:
        """Whether some publishable key is live, so that every /store request must carry one."""
        self._refresh_if_stale()
        return self._publishable_exist

    def forget(self) -> None:
        """Re-read on the next request (this worker just created, revoked or deleted a key)."""
        self._loaded_at = None

    def _refresh_if_stale(self) -> None:
        loaded_at = self._loaded_at
        if loaded_at is not None and self._monotonic() - loaded_at < self._refresh_seconds:
            return
        with self._lock:
            if self._loaded_at is not None and self._monotonic() - self._loaded_at < self._refresh_seconds:
                return  # another thread re-read it while this one waited
            self._record_use()
            rows = db.session.execute(
                db.select(ApiKey.id, ApiKey.type, ApiKey.token_hash).where(ApiKey.revoked_at.is_(None))
            ).all()
            db.session.commit()  # ends the read (and the use's write) before the request goes on
            self._live = {row.token_hash: LiveKey(row.id, row.type) for row in rows}
            self._publishable_exist = any(row.type == PUBLISHABLE for row in rows)
            self._loaded_at = self._monotonic()

    def _record_use(self) -> None:
        """``last_used_at`` of the keys used since the last read: one write per refresh, never one per request."""
        used, self._used = self._used, {}
        # list(): a request thread may still be writing to the old dict (list() copies it under the GIL at once).
        for key_id, moment in list(used.items()):
            db.session.execute(
                db.update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(last_used_at=datetime.fromtimestamp(moment, UTC), updated_at=ApiKey.updated_at)  # not an update
            )


def auth_context(key_id: str) -> dict[str, Any]:
    """Medusa's auth context of a request opened by a secret key."""
    return {"actor_id": key_id, "actor_type": ACTOR_TYPE, "auth_identity_id": "", "app_metadata": {}}
