"""Sign-ins in flight: what the callback needs, kept server-side under the ``state`` sent to the provider.

A pending sign-in is bound to the actor type, the provider, the callback URL, PKCE's code verifier and
the OpenID Connect nonce; it lives 10 minutes and is taken once, from ``single_use``'s store (Redis or
the ``oauth_state`` table, keyed by the SHA-256 of the state).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from ..models import OAuthState
from ..settings import ThrottleSettings
from ..single_use import DatabaseStore, RedisStore, SingleUseStore, StoreUnavailable, redis_client

STATE_LIFETIME_SECONDS = 600


# Kept for the redirect sign-in's names; the store itself is ``single_use``'s.
StateStoreUnavailable = StoreUnavailable


@dataclass(frozen=True)
class PendingSignIn:
    """What a callback needs from the start of its sign-in, and what it must match."""

    actor_type: str
    provider: str
    callback_url: str
    code_verifier: str
    nonce: str | None


StateStore = SingleUseStore[PendingSignIn]


class DatabaseStateStore(DatabaseStore[PendingSignIn]):
    """Rows of ``oauth_state``."""

    def __init__(self) -> None:
        super().__init__(OAuthState, PendingSignIn, STATE_LIFETIME_SECONDS)


class RedisStateStore(RedisStore[PendingSignIn]):
    """Keys ``{prefix}:oauth_state:{sha256}``."""

    def __init__(self, client: redis.Redis, key_prefix: str):
        super().__init__(client, key_prefix, "oauth_state", PendingSignIn, STATE_LIFETIME_SECONDS)


def build_state_store(settings: ThrottleSettings) -> StateStore:
    """Redis when REDIS_URL names one redis-py opens itself, else the database (every instance shares either)."""
    client = redis_client(settings, "sign-in states")
    return DatabaseStateStore() if client is None else RedisStateStore(client, settings.key_prefix)
