"""Issue 19, finding 6: the invite form sent twice at once (a double click) through a live gunicorn.

The first submit signs the invitee in (302); the second must get the "already accepted" page, never a
500. Both carry the same cookie and form, as a browser's two submits of one page do. Runs on SQLite,
and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.helpers import backends, empty_database
from tests.live import HttpResponse, LiveServer, live_server

pytestmark = pytest.mark.slow

ADMIN = ("double-admin@example.com", "correct horse battery staple")
ATTEMPTS = 4  # each a fresh invite submitted twice at once
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture(params=backends())
def server(request, tmp_path: Path, database_url: str, rsa_pem: str) -> Iterator[LiveServer]:
    """gunicorn (2 workers x 4 threads, production password hashing) on SQLite or PostgreSQL."""
    extra = {"GUNICORN_CMD_ARGS": "--threads 4"}
    if request.param:
        extra["DATABASE_URL"] = request.param
    try:
        with live_server(tmp_path, extra_env=extra, user=ADMIN) as running:
            yield running
    finally:
        if request.param:
            empty_database(request.param, rsa_pem)


def open_invite_page(server: LiveServer, path: str) -> tuple[str, str]:
    """(the Cookie header, the form's CSRF token) a browser holds after opening the invite page."""
    page = server.get(path)
    assert page.status == 200, page.body[:300]
    cookies = [header.split(";", 1)[0] for header in page.headers.get_all("Set-Cookie") or []]
    match = _CSRF.search(page.body.decode())
    assert match and cookies
    return "; ".join(cookies), match.group(1)


def submit_twice_at_once(server: LiveServer, path: str, cookie: str, csrf: str) -> list[HttpResponse]:
    form = {"first_name": "Dee", "last_name": "Bounce", "password": ADMIN[1], "confirm": ADMIN[1], "csrf_token": csrf}
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    start = threading.Barrier(2)

    def submit(_: int) -> HttpResponse:
        start.wait(timeout=30)
        return server.post(path, body=urlencode(form), headers=headers, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(submit, range(2)))


def test_a_double_submitted_invite_form_gives_302_then_the_already_used_page(server: LiveServer):
    admin = {"Authorization": f"Bearer {server.login(*ADMIN)}"}
    outcomes = []
    for n in range(ATTEMPTS):
        created = server.post("/admin/invites", json_body={"email": f"double{n}@example.com"}, headers=admin)
        assert created.status == 200, created.body
        path = f"/app/invite?token={created.json()['invite']['token']}"
        responses = submit_twice_at_once(server, path, *open_invite_page(server, path))
        outcomes.append(sorted(r.status for r in responses))
        refused = [r for r in responses if r.status != 302]
        if outcomes[-1] == [302, 400]:
            assert "The invite was already accepted" in refused[0].body.decode()
    assert outcomes == [[302, 400]] * ATTEMPTS, outcomes
    assert "unhandled error" not in server.stderr()
