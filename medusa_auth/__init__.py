"""medusa_auth: Medusa v2's authentication, with its asymmetric-key guide, as a Flask service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, Response, request

from . import admin, auth, health, web, well_known
from .cli import register_commands
from .config import (
    ConfigError,
    TokenOptions,
    check_required_settings,
    configure_app,
    describe_key,
    get_jwt_config,
    jwt_environment,
)
from .cors import init_cors
from .errors import register_error_handlers
from .extensions import csrf, db, migrate
from .guard import init_guard
from .keys.keyset import KeySet
from .passwords import Passwords
from .sessions import init_sessions
from .state import AuthState
from .tokens import Tokens

__all__ = ["create_app", "get_jwt_config", "ConfigError"]

log = logging.getLogger(__name__)
_NO_OPTIONS = TokenOptions(algorithm="", keyid="", issuer=None, audience=(), expires_in=0)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory; raises ``ConfigError`` (one line naming the variable) on bad settings."""
    app = Flask(__name__, instance_relative_config=True)
    # "//admin/users" is not "/admin/users": no redirect between spellings of a path, just 404.
    app.url_map.merge_slashes = False
    configure_app(app, test_config)
    _configure_logging(app.config["LOG_LEVEL"])
    app.extensions["medusa_auth"] = _build_state(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    init_sessions(app)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # the web blueprint checks (see web/views.py)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    csrf.init_app(app)
    init_cors(app)
    for blueprint in (auth.bp, admin.bp, well_known.bp, health.bp, web.bp):
        app.register_blueprint(blueprint)
    init_guard(app)
    register_error_handlers(app)
    register_commands(app)
    app.after_request(_no_store_by_default)
    return app


def _build_state(app: Flask) -> AuthState:
    passwords = Passwords(
        time_cost=int(app.config["PASSWORD_HASH_TIME_COST"]),
        memory_cost=int(app.config["PASSWORD_HASH_MEMORY_COST"]),
        parallelism=int(app.config["PASSWORD_HASH_PARALLELISM"]),
    )
    try:
        check_required_settings(app)
        config = get_jwt_config(jwt_environment(app))
    except ConfigError as error:
        if not _loaded_by_flask_cli():
            raise
        # The CLI is how an operator fixes the configuration (`keys generate`), so it still starts.
        log.warning("configuration error: %s (the server will not start until it is fixed)", error)
        keys = KeySet(None, (), None)
        return AuthState(None, keys, Tokens(keys, _NO_OPTIONS), passwords, config_error=str(error))
    keys = KeySet.from_config(config)
    log.info("keys: %s", describe_key(config))
    return AuthState(config, keys, Tokens(keys, config.http), passwords)


def _loaded_by_flask_cli() -> bool:
    return click.get_current_context(silent=True) is not None


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("medusa_auth").setLevel(level.upper())


def _no_store_by_default(response: Response) -> Response:
    """Tokens and user data must not sit in shared caches; the JWKS sets its own caching."""
    if "Cache-Control" not in response.headers and not request.path.startswith("/.well-known/"):
        response.headers["Cache-Control"] = "no-store"
    return response
