"""A second service that trusts medusa_auth's tokens: one route protected by ``JWTVerifier``.

It holds no key and no database; it verifies bearer tokens from the issuer's JWKS alone (and, with
``JWT_REVOCATION_URL``, refuses tokens of sign-ins ended at the issuer)::

    JWKS_URL=http://127.0.0.1:9000/.well-known/jwks.json \\
        gunicorn -c examples/gunicorn.conf.py 'examples.orders_service:create_app()'
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9100/orders

``create_app(protect=False)`` serves the same route unprotected (the benchmark's baseline).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, g

from medusa_auth.verifier import JWTVerifier

# The settings JWTVerifier reads, taken from the environment.
SETTINGS = (
    "JWKS_URL",
    "MEDUSA_BACKEND_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_ALGORITHM",
    "JWT_PROTECTED_PATHS",
    "JWT_REVOCATION_URL",
    "JWT_REVOCATION_REFRESH_SECONDS",
    "JWT_REVOCATION_MAX_STALENESS_SECONDS",
)

verifier = JWTVerifier()


def orders() -> dict[str, Any]:
    """The caller's orders (none: this example keeps no data), and who the token says the caller is."""
    context = g.get("auth_context") or {}
    return {"orders": [], "customer_id": context.get("actor_id")}


def create_app(settings: Mapping[str, Any] | None = None, protect: bool = True) -> Flask:
    """The example service; ``settings`` override the environment (tests pass them)."""
    app = Flask(__name__)
    app.config.from_mapping({name: os.environ[name] for name in SETTINGS if os.environ.get(name)})
    app.config.from_mapping(settings or {})
    verifier.init_app(app)
    app.add_url_rule("/orders", view_func=verifier.required(orders) if protect else orders)
    app.add_url_rule("/health", view_func=lambda: {"status": "ok"}, endpoint="health")
    return app
