"""/auth routes: parse, call one service function, answer."""

from flask import Blueprint, g

from ..validation import credentials, json_object
from . import service

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.post("/user/emailpass")
def login() -> dict[str, str]:
    """Email and password in, an access token (or a registration token for an unlinked identity) out."""
    return {"token": service.authenticate(*credentials(json_object()))}


@bp.post("/user/emailpass/register")
def register() -> dict[str, str]:
    """A new emailpass identity; its registration token is used to accept an invite."""
    return {"token": service.register(*credentials(json_object()))}


@bp.post("/token/refresh")
def refresh() -> dict[str, str]:
    """A new token for the bearer, re-read from the database."""
    return {"token": service.refresh(g.auth_context)}
