"""/auth routes: parse, call one service function, answer."""

from typing import Any

from flask import Blueprint, g

from .. import sessions
from ..extension import medusa_auth
from ..guard import verify_bearer
from ..request_data import MAX_PASSWORD_LENGTH, credentials, email_field, json_object, string_field
from ..tokens import TokenKind
from . import identity_service, reset

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.post("/user/emailpass")
def login() -> dict[str, str]:
    """Email and password in, an access token (or a registration token for an unlinked identity) out."""
    return {"token": identity_service.authenticate(*credentials(json_object()))}


@bp.post("/user/emailpass/register")
def register() -> dict[str, str]:
    """A new emailpass identity; its registration token is used to accept an invite."""
    return {"token": identity_service.register(*credentials(json_object()))}


@bp.post("/token/refresh")
def refresh() -> dict[str, str]:
    """A new token for the bearer, re-read from the database."""
    return {"token": identity_service.refresh(g.auth_context)}


@bp.post("/session")
def create_session() -> dict[str, Any]:
    """Medusa's cookie session: an access token in, a session cookie out."""
    claims = verify_bearer(medusa_auth().tokens, {TokenKind.ACCESS})
    identity_service.start_session_for(claims)
    return {"user": claims}


@bp.delete("/session")
def delete_session() -> dict[str, bool]:
    """Sign the browser out everywhere (the server-side session row goes)."""
    sessions.end()
    return {"success": True}


@bp.post("/user/emailpass/reset-password")
def request_password_reset() -> tuple[str, int]:
    """Mail a reset link if the identifier is known; 201 either way, so nobody learns who has an account."""
    reset.request_reset(email_field(json_object(), "identifier"))
    return "", 201


@bp.post("/user/emailpass/update")
def update_password() -> dict[str, bool]:
    """Set a new password with the reset token (the bearer, checked by the guard); the token works once."""
    password = string_field(json_object(), "password", max_length=MAX_PASSWORD_LENGTH)
    assert password is not None
    reset.update_password(g.auth_context, password)
    return {"success": True}
