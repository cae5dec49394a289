"""Accept is single use under a race: 20 concurrent accepts of one token, through a live gunicorn.

Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (`make test-postgres`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import backends, empty_database
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.slow

ADMIN = ("race-admin@example.com", "correct horse battery staple")
INVITEE = "racer@example.com"
RACERS = 20


@pytest.fixture(params=backends())
def server(request, tmp_path: Path, database_url: str, rsa_pem: str) -> Iterator[LiveServer]:
    """gunicorn (2 workers x 8 threads) on SQLite or on the suite's PostgreSQL database, emptied afterwards."""
    extra = {"GUNICORN_CMD_ARGS": "--threads 8"}
    if request.param:
        extra["DATABASE_URL"] = request.param
    try:
        with live_server(tmp_path, extra_env=extra, user=ADMIN) as running:
            yield running
    finally:
        if request.param:
            empty_database(request.param, rsa_pem)


def test_twenty_concurrent_accepts_create_exactly_one_user(server: LiveServer):
    admin = {"Authorization": f"Bearer {server.login(*ADMIN)}"}
    created = server.post("/admin/invites", json_body={"email": INVITEE}, headers=admin)
    assert created.status == 200, created.body
    token = created.json()["invite"]["token"]
    registered = server.post("/auth/user/emailpass/register", json_body={"email": INVITEE, "password": ADMIN[1]})
    registration = {"Authorization": f"Bearer {registered.json()['token']}"}
    start = threading.Barrier(RACERS)

    def race(_: int) -> tuple[int, str]:
        start.wait(timeout=30)
        response = server.post(
            f"/admin/invites/accept?token={token}", json_body={"first_name": "R"}, headers=registration, timeout=60
        )
        return response.status, response.json().get("type", "ok")

    with ThreadPoolExecutor(RACERS) as pool:
        results = list(pool.map(race, range(RACERS)))
    assert sorted(results).count((200, "ok")) == 1, results
    assert all(status == 400 and kind == "not_allowed" for status, kind in results if status != 200), results
    users = server.get("/admin/users?limit=1000", headers=admin).json()["users"]
    assert [u["email"] for u in users].count(INVITEE) == 1
    invite = server.get(f"/admin/invites?email={INVITEE}", headers=admin).json()["invites"][0]
    assert invite["accepted"] is True
    assert server.login(INVITEE, ADMIN[1])  # the winner's identity signs in as the new user
