"""Fixtures the flaskr way: ``app``, ``client``, ``runner`` and an ``auth`` helper; and the one fake clock.

Settings per test come from ``@pytest.mark.settings(NAME=value, ...)``, read before ``create_app``.
The database is real: a SQLite file by default, or PostgreSQL when ``TEST_DATABASE_URL`` is set; it
is migrated once per session with the project's Alembic revisions and emptied after every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth import background, clock, create_app
from medusa_auth.database import db
from medusa_auth.keys.material import generate_private_key, private_key_pem
from medusa_auth.settings import ENVIRONMENT_VARIABLES
from tests.helpers import NOW, AuthActions, FakeClock, create_postgres_database, postgres_url

pytest_plugins = [
    "tests.jwks_fixtures",  # the controllable JWKS endpoint and signers
    "tests.oauth_fixtures",  # a real OpenID Connect provider (oidc-provider under Node), GitHub's stand-in
    "tests.throttle_fixtures",
    "tests.web_fixtures",
]

# Far below production's argon2id cost, so the suite stays fast; `real_hasher` tests restore it.
FAST_HASHING = {"PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 64, "PASSWORD_HASH_PARALLELISM": 1}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's or CI's own JWT_*, DATABASE_URL or MAIL_* variables."""
    for name in list(os.environ):
        if name in ENVIRONMENT_VARIABLES or name.startswith(("MAIL_", "JWT_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return private_key_pem(generate_private_key("RSA"))


@pytest.fixture(scope="session")
def ec_pem() -> str:
    return private_key_pem(generate_private_key("EC"))


@pytest.fixture(scope="session")
def ed25519_pem() -> str:
    return private_key_pem(generate_private_key("Ed25519"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that use the test database (`make test-postgres`: the rest ran in `make test`)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --database-tests-only, keep a test if it uses ``database_url`` (directly or through ``app``), or if
    it is the PostgreSQL case of a live server's backends; a test of keys, tokens or a browser on its own
    SQLite file would only repeat itself."""
    if not config.getoption("--database-tests-only"):
        return
    kept, dropped = [], []
    for item in items:
        backend = item.get_closest_marker("backend")
        uses_database = backend.args[0] == "postgresql" if backend else "database_url" in item.fixturenames
        (kept if uses_database else dropped).append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, rsa_pem: str) -> str:
    """A database migrated once per session with the real Alembic revisions."""
    url = postgres_url() or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    if url.startswith("postgresql"):
        create_postgres_database(url)
    app = create_app({"APP_ENV": "test", "JWT_SECRET_KEY": rsa_pem, "DATABASE_URL": url, "COOKIE_SECRET": "x" * 32})
    with app.app_context():
        flask_migrate.downgrade(revision="base")
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session", autouse=True)
def database_reset_first(request: pytest.FixtureRequest) -> None:
    """The database is reset before any test, not when one first asks for it: a live server's test on
    PostgreSQL must not find the rows a run killed midway left behind (the downgrade drops them)."""
    request.getfixturevalue("database_url")  # by name: the tests that use it are the ones that say so


def base_settings(database_url: str, rsa_pem: str) -> dict[str, Any]:
    return {
        "APP_ENV": "test",
        "TESTING": True,
        "JWT_SECRET_KEY": rsa_pem,
        "DATABASE_URL": database_url,
        "COOKIE_SECRET": "test-cookie-secret-" + "x" * 32,
        **FAST_HASHING,
    }


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, rsa_pem: str) -> dict[str, Any]:
    """The test's settings: the base ones, then every ``settings`` marker (closest last)."""
    values = base_settings(database_url, rsa_pem)
    for marker in reversed(list(request.node.iter_markers("settings"))):
        values.update(marker.kwargs)
    if request.node.get_closest_marker("real_hasher"):
        for name in FAST_HASHING:
            values.pop(name)
    return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def app(settings: dict[str, Any], database_url: str) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    background.wait_idle()  # jobs a request queued (reset mail) finish before the tables are emptied
    with app.app_context():
        if settings["DATABASE_URL"] == database_url:  # a test may point its app elsewhere
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_factory(settings: dict[str, Any]) -> Iterator[Any]:
    """Build further apps on the test's database with settings changed, for tests that compare configurations."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        apps.append(create_app({**settings, **overrides}))
        return apps[-1]

    yield build
    background.wait_idle()  # before the engines close: a queued job would open a connection nobody closes
    for built in apps:
        with built.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def auth(app: Flask, client: FlaskClient) -> AuthActions:
    return AuthActions(app, client)


# -- the one fake clock ---------------------------------------------------------------------------


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock of this test's own, at the real time until the test moves it; for code that takes a clock."""
    return FakeClock()


@pytest.fixture
def frozen_clock(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """``fake_clock`` as the project's clock (``medusa_auth.clock.now``): tokens, sessions, invites, the key ring."""
    monkeypatch.setattr(clock, "now", lambda: int(fake_clock()))
    return fake_clock


@pytest.fixture
def clock_at_now(frozen_clock: FakeClock) -> FakeClock:
    """The project's clock at NOW, where hand-crafted tokens are valid (their modules use it for every test)."""
    frozen_clock.move_to(NOW)
    return frozen_clock
