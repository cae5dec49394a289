"""Signed out means signed out, across processes: two gunicorn instances (two workers each) on one
PostgreSQL database and a verifier-only service (the example, ``JWTVerifier``) polling the first's
revocation feed. A token is used on all three (so every worker may hold it verified in its cache),
access is ended one way, and the token must be refused everywhere within the bound:

- each instance: REVOCATION_REFRESH_SECONDS (2 s, the default);
- the verifier: the issuer's 2 s + JWT_REVOCATION_REFRESH_SECONDS (1 s here).

``SLACK`` allows for this shared, loaded machine. PostgreSQL only (``make test-postgres``): SQLite is one
file, not the shared database several instances behind a load balancer have.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import bearer
from tests.live import (
    FLASK,
    LiveServer,
    free_port,
    live_server,
    rsa_private_pem,
    run_command,
    server_environment,
    start_gunicorn,
    stop_process,
    wait_until_healthy,
)
from tests.web_fixtures import Mailbox, link_in, running_mailbox, token_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app")]

EMAIL, PASSWORD, ADMIN = "live@example.com", "correct horse battery staple", "boss@example.com"
ISSUER_BOUND = 2.0  # REVOCATION_REFRESH_SECONDS
VERIFIER_REFRESH = 1.0  # JWT_REVOCATION_REFRESH_SECONDS
VERIFIER_BOUND = ISSUER_BOUND + VERIFIER_REFRESH
SLACK = 1.5
ME = "/admin/users/me"
EXAMPLE_APP = "examples.orders_service:create_app()"
EXAMPLE_CONFIG = "examples/gunicorn.conf.py"


@dataclass
class Cluster:
    first: LiveServer
    second: LiveServer
    verifier: LiveServer
    mailbox: Mailbox

    def login(self, email: str = EMAIL, password: str = PASSWORD) -> str:
        return self.first.login(email, password)

    def opens_everywhere(self, token: str) -> None:
        for _ in range(4):  # a few times each: both workers of each instance see (and cache) it
            assert self.first.get(ME, headers=bearer(token)).status == 200
            assert self.second.get(ME, headers=bearer(token)).status == 200
            assert self.verifier.get("/orders", headers=bearer(token)).status == 200

    def refused_within(self, token: str) -> dict[str, float]:
        """Seconds until each service refuses ``token`` (every worker: several requests in a row), within its bound."""
        started = time.monotonic()
        targets = {"first": (self.first, ME), "second": (self.second, ME), "verifier": (self.verifier, "/orders")}
        bounds = {"first": ISSUER_BOUND, "second": ISSUER_BOUND, "verifier": VERIFIER_BOUND}
        seen: dict[str, float] = {}
        while len(seen) < len(targets):
            for name, (server, path) in targets.items():
                if name in seen:
                    continue
                if all(server.get(path, headers=bearer(token)).status == 401 for _ in range(4)):
                    seen[name] = time.monotonic() - started
                elif time.monotonic() - started > bounds[name] + SLACK:
                    pytest.fail(f"{name} still accepts the token {time.monotonic() - started:.2f} s after it ended")
            time.sleep(0.05)
        return seen


@pytest.fixture
def cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share one PostgreSQL database: runs under `make test-postgres`")
    key = rsa_private_pem()
    with running_mailbox() as mailbox:
        env = {"DATABASE_URL": database_url, "COOKIE_SECRET": secrets.token_urlsafe(32), **mailbox.settings()}
        with (
            live_server(tmp_path / "a", extra_env=env, private_key_pem=key, user=(EMAIL, PASSWORD)) as first,
            live_server(tmp_path / "b", extra_env=env, private_key_pem=key) as second,
        ):
            run_command(
                [FLASK, "--app", "wsgi", "users", "create", "--email", ADMIN, "--password", PASSWORD], first.env
            )
            with verifier_service(tmp_path / "verifier", first) as verifier:
                yield Cluster(first, second, verifier, mailbox)


@contextlib.contextmanager
def example_service(tmp_dir: Path, settings: dict[str, str]) -> Iterator[LiveServer]:
    """The example service (``JWTVerifier``) under gunicorn with ``settings``."""
    tmp_dir.mkdir(exist_ok=True)
    port = free_port()
    env = server_environment(settings)
    with open(tmp_dir / "out", "wb") as out, open(tmp_dir / "err", "wb") as err:
        process = start_gunicorn(port, env, out, err, app=EXAMPLE_APP, config=EXAMPLE_CONFIG)
    server = LiveServer(f"http://127.0.0.1:{port}", env, tmp_dir, tmp_dir, process, tmp_dir / "out", tmp_dir / "err")
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop_process(process)


def verifier_service(tmp_dir: Path, issuer: LiveServer) -> contextlib.AbstractContextManager[LiveServer]:
    """The example service, its keys from the issuer's JWKS, its revocations from the issuer's feed."""
    return example_service(
        tmp_dir,
        {
            "JWKS_URL": f"{issuer.base_url}/.well-known/jwks.json",
            "JWT_REVOCATION_URL": f"{issuer.base_url}/.well-known/revoked-sessions",
            "JWT_REVOCATION_REFRESH_SECONDS": str(VERIFIER_REFRESH),
        },
    )


def logout(server: LiveServer, token: str, scope: str) -> None:
    response = server.post("/auth/logout", json_body={"scope": scope}, headers=bearer(token))
    assert response.status == 200, response.body


def test_every_way_of_ending_access_reaches_every_instance_and_the_verifier_within_the_bound(cluster):
    measured: dict[str, dict[str, float]] = {}

    # POST /auth/logout, scope local, on the second instance: the same user's other sign-in is untouched.
    token, untouched = cluster.login(), cluster.login()
    cluster.opens_everywhere(token)
    cluster.opens_everywhere(untouched)
    logout(cluster.second, token, "local")
    measured["logout local"] = cluster.refused_within(token)
    cluster.opens_everywhere(untouched)
    assert cluster.first.post("/auth/token/refresh", headers=bearer(token)).status == 401
    assert cluster.second.post("/auth/token/refresh", headers=bearer(untouched)).status == 200

    # scope others: this one stays, the other goes.
    other = cluster.login()
    cluster.opens_everywhere(other)
    logout(cluster.first, untouched, "others")
    measured["logout others"] = cluster.refused_within(other)
    cluster.opens_everywhere(untouched)

    # scope global: every sign-in of the identity, this one included.
    second_device = cluster.login()
    cluster.opens_everywhere(second_device)
    logout(cluster.second, untouched, "global")
    measured["logout global"] = cluster.refused_within(second_device)
    cluster.refused_within(untouched)

    # DELETE /auth/session: the browser's sign-out ends the bearer token it was started from.
    token = cluster.login()
    cluster.opens_everywhere(token)
    started = cluster.first.post("/auth/session", headers=bearer(token))
    [cookie] = [c.split(";", 1)[0] for c in started.headers.get_all("Set-Cookie") if "medusa_session=" in c]
    assert cluster.first.get(ME, headers={"Cookie": cookie}).status == 200
    assert cluster.first.request("DELETE", "/auth/session", headers={"Cookie": cookie}).status == 200
    measured["DELETE /auth/session"] = cluster.refused_within(token)
    assert cluster.second.get(ME, headers={"Cookie": cookie}).status == 401

    # An admin's revoke, on the second instance.
    token, admin = cluster.login(), cluster.login(ADMIN)
    cluster.opens_everywhere(token)
    user_id = cluster.first.get(ME, headers=bearer(token)).json()["user"]["id"]
    revoked = cluster.second.post(f"/admin/users/{user_id}/sessions/revoke", headers=bearer(admin))
    assert revoked.status == 200 and revoked.json()["ended"] >= 1
    measured["admin revoke"] = cluster.refused_within(token)
    cluster.opens_everywhere(admin)

    # A password reset, through the mailed link, on the second instance.
    token = cluster.login()
    cluster.opens_everywhere(token)
    asked = cluster.first.post("/auth/user/emailpass/reset-password", json_body={"identifier": EMAIL})
    assert asked.status == 201
    reset = token_of(link_in(cluster.mailbox.wait_for(1)[-1]))
    changed = cluster.second.post(
        "/auth/user/emailpass/update", json_body={"password": "a brand new passphrase"}, headers=bearer(reset)
    )
    assert changed.status == 200, changed.body
    measured["password reset"] = cluster.refused_within(token)
    cluster.opens_everywhere(cluster.login(EMAIL, "a brand new passphrase"))

    worst = {name: max(times[name] for times in measured.values()) for name in ("first", "second", "verifier")}
    print("\nseconds until refused:", {way: {k: round(v, 2) for k, v in t.items()} for way, t in measured.items()})
    print("worst:", {k: round(v, 2) for k, v in worst.items()})
    assert worst["first"] <= ISSUER_BOUND + SLACK and worst["second"] <= ISSUER_BOUND + SLACK
    assert worst["verifier"] <= VERIFIER_BOUND + SLACK


def test_the_verifier_without_a_feed_keeps_the_guides_simple_mode(cluster, tmp_path):
    """No JWT_REVOCATION_URL: the example verifies from the JWKS alone (no revocation check, as documented)."""
    with example_service(
        tmp_path / "simple", {"JWKS_URL": f"{cluster.first.base_url}/.well-known/jwks.json"}
    ) as simple:
        token = cluster.login()
        assert simple.get("/orders", headers=bearer(token)).status == 200
        logout(cluster.first, token, "local")
        cluster.refused_within(token)
        assert simple.get("/orders", headers=bearer(token)).status == 200  # until exp: the documented trade
