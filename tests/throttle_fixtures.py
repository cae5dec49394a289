"""Fixtures for login throttling: the Redis on 127.0.0.1 (a fresh key prefix per test) and the two stores.

Registered in conftest.py through ``pytest_plugins``. Redis must run for the suite (``.ci/run`` starts
it); a missing Redis fails the tests that need it rather than skipping them quietly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ["database", "redis"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis at {REDIS_URL} does not answer ({error}); start it (see .ci/run) or set TEST_REDIS_URL",
            pytrace=False,
        )
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, and its keys deleted afterwards, so runs never collide."""
    prefix = f"medusa_auth_test_{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=STORES)
def store_settings(request: pytest.FixtureRequest) -> dict[str, str | None]:
    """Settings that put the limiter on the database (REDIS_URL unset) or on Redis."""
    if request.param == "database":
        return {"REDIS_URL": None}
    return {
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "RATELIMIT_KEY_PREFIX": request.getfixturevalue("redis_prefix"),
    }
