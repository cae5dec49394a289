"""The /auth blueprint: Medusa's sign-in, registration, refresh, session and password routes."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from . import routes  # noqa: E402,F401  (registers the routes on bp)

__all__ = ["bp"]
