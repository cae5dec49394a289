"""medusa_auth: Medusa v2's authentication, with its asymmetric-key guide, as a Flask service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, Response, request

from . import admin, auth, health, openapi, web, well_known
from .auth.throttle_store import init_throttle
from .cli import register_commands
from .config import (
    ConfigError,
    JwtConfig,
    TokenOptions,
    check_required_settings,
    configure_app,
    describe_key,
    get_jwt_config,
    jwt_environment,
)
from .cookie_sessions import CachedSerializerSessionInterface
from .cors import init_cors
from .errors import register_error_handlers
from .extensions import csrf, db, migrate
from .guard import init_guard
from .http_hardening import init_http_hardening
from .keys.keyset import KeySet, KeySource
from .keys.remote import RemoteJwks, remote_algorithms
from .keys.ring import KeySealer, RefreshingKeySet, check_ring, load_keyset
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
    app.session_interface = CachedSerializerSessionInterface()
    _configure_logging(app.config["LOG_LEVEL"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    init_sessions(app)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # the web blueprint checks (see web/views.py)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    csrf.init_app(app)
    init_cors(app)
    app.extensions["medusa_auth"] = _build_state(app)
    for blueprint in (auth.bp, admin.bp, well_known.bp, health.bp, openapi.bp, web.bp):
        app.register_blueprint(blueprint)
    init_guard(app)
    init_throttle(app)
    register_error_handlers(app)
    register_commands(app)
    app.after_request(_no_store_by_default)
    init_http_hardening(app)
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
        keys, sealer = _key_source(app, config)
    except ConfigError as error:
        if not _loaded_by_flask_cli():
            raise
        # The CLI is how an operator fixes the configuration (`keys generate`), so it still starts.
        log.warning("configuration error: %s (the server will not start until it is fixed)", error)
        unconfigured = KeySet(None, (), None)
        return AuthState(None, unconfigured, Tokens(unconfigured, _NO_OPTIONS), passwords, config_error=str(error))
    log.info("keys: %s", describe_key(config))
    return AuthState(config, keys, Tokens(keys, config.http), passwords, sealer=sealer)


def _key_source(app: Flask, config: JwtConfig) -> tuple[KeySource, KeySealer | None]:
    """The guide's static keys, or the managed ring (checked now, so a bad ring stops the server)."""
    if config.key_encryption_key is None:
        return _verification_keys(config, jwt_environment(app).get("JWT_ALGORITHM")), None
    sealer = KeySealer(config.key_encryption_key)
    ring = RefreshingKeySet(lambda: load_keyset(sealer, config), config.key_refresh_seconds)
    if not _loaded_by_flask_cli():
        with app.app_context():
            try:
                check_ring(ring)
            except ConfigError:
                db.engine.dispose()  # this app is abandoned: close what the check opened
                raise
    return ring, sealer


def _verification_keys(config: JwtConfig, algorithm: str | None) -> KeySource:
    """Local keys; the remote JWKS only on a verifier-only instance (an issuer never fetches its own)."""
    if config.verify_key is not None or config.jwks_url is None:
        if config.jwks_url is not None:
            log.warning("JWKS_URL is ignored: this instance holds its own keys and verifies with them")
        return KeySet.from_config(config)
    return RemoteJwks(config.jwks_url, algorithms=remote_algorithms(algorithm))


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
