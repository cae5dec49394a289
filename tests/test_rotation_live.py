"""Rotation under load: two gunicorn instances on one database and a verifier-only instance that knows
them only through the first one's JWKS, steady traffic, `keys rotate` (twice), `keys revoke`.

The database is the suite's (PostgreSQL under `make test-postgres`, a shared SQLite file otherwise);
the `app` fixture empties it afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import FLASK, LiveServer, live_server, run_command

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app")]

EMAIL, PASSWORD = "rotation@example.com", "correct horse battery staple"
REFRESH_SECONDS = 2  # JWT_KEY_REFRESH_SECONDS for both instances: the bound revocation must meet
JWKS_MAX_AGE = 30  # the verifier's bound: it may keep the issuer's JWKS this long (its floor is 30 s)


@pytest.fixture
def instances(tmp_path: Path, database_url: str) -> Iterator[tuple[LiveServer, LiveServer, LiveServer]]:
    env = {
        "JWT_SECRET_KEY_FILE": None,
        "JWT_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "JWT_KEY_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "JWKS_MAX_AGE": str(JWKS_MAX_AGE),
        "DATABASE_URL": database_url,
    }
    with (
        live_server(tmp_path / "a", extra_env=env, user=(EMAIL, PASSWORD), commands=[("keys", "rotate")]) as first,
        live_server(tmp_path / "b", extra_env=env) as second,
        live_server(
            tmp_path / "verifier",
            extra_env={
                "JWT_SECRET_KEY_FILE": None,
                "JWKS_URL": f"{first.base_url}/.well-known/jwks.json",
                "DATABASE_URL": database_url,
            },
        ) as verifier,
    ):
        yield first, second, verifier


class Traffic:
    """Logins on both instances and protected calls on both, with tokens from both, until stopped."""

    def __init__(self, issuers: tuple[LiveServer, ...], servers: tuple[LiveServer, ...]):
        self.issuers, self.servers, self.results, self._stop = issuers, servers, Counter[str](), threading.Event()
        self._threads = [threading.Thread(target=self._drive, args=(n,)) for n in range(len(issuers))]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _drive(self, n: int) -> None:
        issuer = self.issuers[n]
        while not self._stop.is_set():
            token = issuer.login(EMAIL, PASSWORD)
            for _ in range(5):
                for server in self.servers:
                    status = server.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"}).status
                    self.results["sent"] += 1
                    self.results["failed"] += status != 200


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"])


def test_rotation_and_revocation_across_instances(instances):
    first, second, verifier = instances
    old_token = first.login(EMAIL, PASSWORD)
    old_kid = kid_of(old_token)
    with Traffic((first, second), instances) as traffic:
        time.sleep(1)
        run_command([FLASK, "--app", "wsgi", "keys", "rotate"], first.env)  # standby, published
        time.sleep(REFRESH_SECONDS + 1)  # every instance has learned it
        run_command([FLASK, "--app", "wsgi", "keys", "rotate"], first.env)  # it signs; the old key retires
        time.sleep(REFRESH_SECONDS + 1)
    print(f"\nrotation under load: {traffic.results['sent']} requests sent, {traffic.results['failed']} failed")
    assert traffic.results["sent"] > 50
    assert traffic.results["failed"] == 0
    new_token = second.login(EMAIL, PASSWORD)
    assert kid_of(new_token) != old_kid
    for server in instances:  # the retired key still verifies what it signed
        assert server.get("/admin/users/me", headers=_bearer(old_token)).status == 200

    run_command([FLASK, "--app", "wsgi", "keys", "revoke", "--", old_kid], first.env)
    revoked_at = time.monotonic()
    refused_after: dict[str, float] = {}  # instance -> seconds until it refused the revoked key's token
    names = dict(zip(("first", "second", "verifier"), instances, strict=True))
    while len(refused_after) < len(names) and time.monotonic() - revoked_at < JWKS_MAX_AGE + 15:
        for name, server in names.items():
            if name not in refused_after and server.get("/admin/users/me", headers=_bearer(old_token)).status == 401:
                refused_after[name] = time.monotonic() - revoked_at
        time.sleep(0.1)
    print(f"revoked key refused after (s): {refused_after}; bounds: issuers {REFRESH_SECONDS}, verifier {JWKS_MAX_AGE}")
    assert set(refused_after) == set(names)
    assert max(refused_after["first"], refused_after["second"]) <= REFRESH_SECONDS + 2
    assert refused_after["verifier"] <= JWKS_MAX_AGE + 5
    assert old_kid not in first.get("/.well-known/jwks.json").body.decode()
    for server in instances:  # the new key's tokens are untouched by the revocation
        assert server.get("/admin/users/me", headers=_bearer(new_token)).status == 200
