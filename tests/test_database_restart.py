"""The database going away after an answer is ready (a PostgreSQL restart) must not turn the answer into a 500.

The request's transaction ends in the app context's teardown, after the view has answered; when the
server has just terminated the connection, that ROLLBACK fails. No error handler runs during teardown,
so the exception used to escape to gunicorn, which answered 500 (`make soak` found it: one request in a
few hundred while PostgreSQL restarted).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response
from sqlalchemy import text

from medusa_auth.auth.identity_service import create_user
from medusa_auth.database import db

# The `app` fixture empties the database after each test, for the apps these tests build beside it.
pytestmark = pytest.mark.usefixtures("app")

EMAIL, PASSWORD = "admin@example.com", "correct horse battery staple"


@pytest.fixture
def server(app_factory) -> Flask:
    """An app of its own on the test's database: each of its requests pushes (and tears down) its own app
    context, which the `app` fixture's (kept pushed for the whole test by pytest-flask) would not."""
    built = app_factory()
    with built.app_context():
        create_user(EMAIL, PASSWORD)
    return built


def bearer(server: Flask) -> dict[str, str]:
    response = server.test_client().post("/auth/user/emailpass", json={"email": EMAIL, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_a_connection_terminated_after_the_answer_keeps_the_answer(app_factory, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("terminates a PostgreSQL backend: runs under `make test-postgres`")
    server = app_factory()
    with server.app_context():
        create_user(EMAIL, PASSWORD)
    armed: list[bool] = []
    killed: list[int] = []

    @server.after_request
    def terminate(response: Response) -> Response:
        """Kill the request's own database connection once its answer is ready, as a restart would."""
        if armed:
            pid = db.session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)
        return response

    headers = bearer(server)
    armed.append(True)
    response = server.test_client().get("/admin/users/me", headers=headers)
    assert killed and response.status_code == 200, response.get_data()
    assert response.get_json()["user"]["email"] == EMAIL
    armed.clear()
    assert server.test_client().get("/admin/users/me", headers=headers).status_code == 200  # the pool recovered


def test_a_rollback_that_finds_the_connection_gone_keeps_the_answer(server, monkeypatch):
    """The same on any database: the driver's ROLLBACK fails as on a connection the server closed."""
    headers = bearer(server)
    with server.app_context():
        dialect = db.engine.dialect
    failures: list[str] = []

    def rollback_on_a_closed_connection(dbapi_connection: Any) -> None:
        if not failures:
            failures.append("rollback")
            raise dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")
        dbapi_connection.rollback()

    monkeypatch.setattr(dialect, "do_rollback", rollback_on_a_closed_connection)
    monkeypatch.setattr(dialect, "is_disconnect", lambda error, connection, cursor: True)
    response = server.test_client().get("/admin/users/me", headers=headers)
    assert failures == ["rollback"]
    assert response.status_code == 200, response.get_data()
    assert server.test_client().get("/admin/users/me", headers=headers).status_code == 200  # the pool recovered
