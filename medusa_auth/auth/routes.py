"""/auth routes: parse, call one service function, answer."""

from typing import Any

from flask import Blueprint, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from .. import sessions
from ..extension import medusa_auth
from ..guard import verify_bearer
from ..request_data import MAX_PASSWORD_LENGTH, credentials, email_field, json_object, string_field
from ..tokens import TokenKind
from . import identity_service, redirect_sign_in, reset

bp = Blueprint("auth", __name__, url_prefix="/auth")


class RedirectProviderConverter(BaseConverter):
    """A redirect provider's id in a path: one segment, never emailpass (whose routes are its own)."""

    regex = r"(?!emailpass$)[^/]+"


@bp.record_once
def _register_converters(state: BlueprintSetupState) -> None:
    # Recorded before the routes are, so the converter exists when their rules are added.
    state.app.url_map.converters["redirect_provider"] = RedirectProviderConverter


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


@bp.route("/user/<redirect_provider:provider>", methods=["GET", "POST"])
def start_redirect_sign_in(provider: str) -> dict[str, str]:
    """A redirect provider's sign-in: ``{location}``, the provider's authorize URL (optional ``callback_url``)."""
    body = _optional_json_object() if request.method == "POST" else {}
    callback_url = body.get("callback_url", request.args.get("callback_url"))
    return {"location": redirect_sign_in.start("user", provider, callback_url)}


@bp.route("/user/<redirect_provider:provider>/callback", methods=["GET", "POST"])
def finish_redirect_sign_in(provider: str) -> dict[str, str]:
    """The provider sent the person back with ``code`` and ``state``: the token of the identity they signed in as."""
    parameters: dict[str, Any] = dict(request.args)
    if request.method == "POST":
        parameters.update(request.form if request.form else _optional_json_object())
    signed_in = redirect_sign_in.finish("user", provider, parameters)
    return {"token": identity_service.token_for(signed_in.identity, signed_in.user_metadata)}


@bp.post("/<redirect_provider:provider>/user")
def provision_user(provider: str) -> dict[str, Any]:
    """The admin for a first sign-in through ``provider`` (bearer: its registration token), linked by verified email."""
    claims = verify_bearer(medusa_auth().tokens, {TokenKind.REGISTRATION})
    return {"user": redirect_sign_in.provision_user(provider, claims).to_dict()}


def _optional_json_object() -> dict[str, Any]:
    """The JSON object body, or nothing when there is no body (Medusa's SDK may send none)."""
    return json_object() if request.get_data(cache=True) else {}
