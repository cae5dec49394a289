"""Verified tokens, per worker process: a hit skips the signature and JSON work of a verification.

Why a hit is as safe as a fresh verification:

- The key is the exact token string, and a token has one spelling only: the verifier refuses
  non-canonical base64url (a signature with stray trailing bits, padding) and anything outside the
  compact form, so no second spelling of a token can reach, or be confused with, a cached entry.
- Everything a verification decided depends only on that string, the key that verified it, the
  ``Tokens`` options (issuer, audience: one cache per ``Tokens``, so they cannot differ) and the time.
  The signature, header, issuer and audience checks give the same answer every time for the same
  string and key; ``nbf`` and ``iat`` only become truer as time goes on.
- Time is checked on every hit: ``exp`` (with the same leeway), a short maximum age, and a clock that
  went backwards (``nbf``/``iat`` could be in the future again) all turn a hit into a miss, and the
  caller verifies afresh.
- The key is checked on every hit: the entry remembers the very key object that verified it, and a hit
  counts only while the current key set still returns that object for the token's ``kid``. A revoked
  key leaves the key set (each worker re-reads the ring), which stops every hit at once; a key set
  rebuilt from scratch, as a key-ring refresh does, costs each cached token one fresh verification.
  So no purge call is needed when keys change.
- An entry lives at most ``MAX_AGE_SECONDS``, whatever else happens.
- A signed-out token is not a cache question: ``Tokens.verify`` looks its ``sid`` up in the ended
  sign-in sessions after every hit, and discards the entry of a token it refuses that way.
- The token's kind is not trusted from the cache's caller: the entry stores the kind decided at
  verification and the caller checks it against what the route accepts on every call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

from . import clock

if TYPE_CHECKING:
    from .keys.keyset import VerificationKey

MAX_ENTRIES = 10_000
MAX_BYTES = 16 * 1024 * 1024
# Bounds how long an entry lives, whatever else happens (sign-outs are checked after every hit, see above).
MAX_AGE_SECONDS = 60
# Rough cost of one entry beyond the token's text: the claims dict, its strings, the entry itself.
_ENTRY_OVERHEAD_BYTES = 1024


class VerifiedToken(NamedTuple):
    """What a full verification established about one token string (a tuple: built on every miss, cheaply)."""

    claims: dict[str, Any]
    kind: str  # a TokenKind
    kid: str | None  # the header's kid, as looked up in the key set
    key: VerificationKey  # the key object that verified the signature
    exp: float
    verified_at: int  # clock.now() at verification


def entry_size(token: str) -> int:
    """An estimate of the memory an entry holds: the token twice (key, and claims decoded from it), plus overhead."""
    return 2 * len(token) + _ENTRY_OVERHEAD_BYTES


class TokenCache:
    """A bounded LRU map from token string to ``VerifiedToken``; safe to share between threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES, max_age: int = MAX_AGE_SECONDS):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.size_bytes = 0
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, leeway: int) -> VerifiedToken | None:
        """The entry for ``token`` while still within ``exp`` + ``leeway`` and the maximum age; else None."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            current = clock.now()
            age = current - entry.verified_at
            if current > entry.exp + leeway or not 0 <= age < self.max_age:
                self._drop(token)
                return None
            self._entries.move_to_end(token)
            return entry

    def put(self, token: str, entry: VerifiedToken) -> None:
        """Remember a verified token, evicting the least recently used entries beyond the bounds."""
        size = entry_size(token)
        if self.max_entries <= 0 or size > self.max_bytes:
            return
        with self._lock:
            self._drop(token)
            self._entries[token] = entry
            self.size_bytes += size
            while len(self._entries) > self.max_entries or self.size_bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def discard(self, token: str) -> None:
        """Forget one token (its sign-in session ended: no need to keep it until it ages out)."""
        with self._lock:
            self._drop(token)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size_bytes = 0

    def _drop(self, token: str) -> None:
        if self._entries.pop(token, None) is not None:
            self.size_bytes -= entry_size(token)
