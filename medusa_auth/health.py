"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database import db
from .extension import medusa_auth
from .keys.remote import RemoteJwks

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@bp.get("/ready")
def ready() -> tuple[dict[str, object], int]:
    """The database answers and the keys can verify (and sign, unless verifier-only)."""
    extension = medusa_auth()
    remote = bool(extension.jwt and extension.jwt.jwks_url)
    checks = {"keys": extension.config_error is None and (bool(extension.keys.by_kid) or remote)}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = True
    except SQLAlchemyError:
        db.session.rollback()
        checks["database"] = False
    ok = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ok else "unavailable", "checks": checks}
    if isinstance(extension.keys, RemoteJwks):  # a verifier-only instance: how its JWKS client is doing
        body["jwks"] = extension.keys.counters()
    return body, 200 if ok else 503
