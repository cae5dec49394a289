"""The /admin blueprint; every route under it is guarded by medusa_auth.guard."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import invites, users  # noqa: E402,F401  (registers the routes on bp)

__all__ = ["bp"]
