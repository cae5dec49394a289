"""medusa_auth: Medusa v2's authentication, with its asymmetric-key guide, as a Flask service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import admin, auth, health, openapi, pipeline, sessions, store, web, well_known
from .cli import register_commands
from .errors import register_error_handlers
from .extension import MedusaAuth
from .keys.config import get_jwt_config
from .settings import ConfigError, load_settings

__all__ = ["create_app", "get_jwt_config", "ConfigError"]

BLUEPRINTS = (
    auth.bp,
    auth.mfa_bp,
    auth.verification_bp,
    admin.bp,
    store.bp,
    well_known.bp,
    health.bp,
    openapi.bp,
    web.bp,
)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory; raises ``ConfigError`` (one line naming the variable) on bad settings."""
    app = Flask(__name__, instance_relative_config=True)
    # "//admin/users" is not "/admin/users": no redirect between spellings of a path, just 404.
    app.url_map.merge_slashes = False
    settings = load_settings(app.instance_path, test_config)
    _configure_logging(settings.log_level)
    MedusaAuth(app, settings)
    app.session_interface = sessions.CachedSerializerSessionInterface()
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    pipeline.install(app, settings)
    register_error_handlers(app)
    register_commands(app)
    return app


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("medusa_auth").setLevel(level)
