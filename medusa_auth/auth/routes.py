"""/auth routes: parse, call one service function, answer.

The sign-in routes are Medusa's generic ``/auth/{actor_type}/{provider}...``; the guard has already
refused (401) any actor type and provider pair that ``AUTH_METHODS_PER_ACTOR`` does not allow, and
checked the reset token of ``.../update`` against the path's actor type.
"""

from typing import Any

from flask import Blueprint, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from .. import sessions, sign_in_sessions
from ..actors import USER
from ..errors import invalid_data, unauthorized
from ..extension import medusa_auth
from ..guard import ACCESS_OR_REGISTRATION, session_may_hold, signed_in_by_cookie, verified_bearer, verify_bearer
from ..providers.passkey import PROVIDER as PASSKEY
from ..request_data import (
    MAX_PASSWORD_LENGTH,
    credentials,
    email_field,
    json_object,
    name_field,
    object_field,
    path_id,
    string_field,
)
from ..security_log import security_event
from ..settings import RESERVED_ACTOR_TYPES
from ..tokens import STEP_KINDS, TokenKind
from . import identity_service, mfa_service, passkeys, redirect_sign_in, reset

bp = Blueprint("auth", __name__, url_prefix="/auth")
MAX_PASSKEY_LABEL_LENGTH = 255


class ActorTypeConverter(BaseConverter):
    """An actor type: one path segment, never a name another /auth route uses (GET /auth/token/refresh stays a 405)."""

    # "(?![^/])": the segment ends there; werkzeug matches a rule's last segments as one string, so "$" would not.
    regex = rf"(?!(?:{'|'.join(sorted(RESERVED_ACTOR_TYPES))})(?![^/]))[^/]+"


class ProviderConverter(BaseConverter):
    """A provider: one path segment, never ``providers`` (POST /auth/{actor_type}/providers stays a 405),
    ``user`` (``/auth/{provider}/user`` provisions an admin; no provider may take the name) nor ``passkey``
    (its two POST routes are its own: no password, registration or callback route, and GET is a 405)."""

    regex = r"(?!(?:providers|user|passkey)(?![^/]))[^/]+"


class PasskeyIdConverter(BaseConverter):
    """A passkey id: never ``options``, so /auth/passkeys/options is only the options route (OPTIONS says so)."""

    regex = r"(?!options(?![^/]))[^/]+"


@bp.record_once
def _register_converters(state: BlueprintSetupState) -> None:
    # Recorded before the routes below are, so the converters exist when their rules are added.
    state.app.url_map.converters["actor_type"] = ActorTypeConverter
    state.app.url_map.converters["provider"] = ProviderConverter
    state.app.url_map.converters["passkey_id"] = PasskeyIdConverter


@bp.route("/<actor_type:actor_type>/<provider:provider>", methods=["GET", "POST"])
def login(actor_type: str, provider: str) -> dict[str, Any]:
    """Credentials in, a token for ``actor_type`` out; a redirect provider answers ``{location}`` instead.

    Email and password give an access token, or a registration token if the identity has no actor of that
    type yet. A redirect provider (Google, GitHub, OpenID Connect) answers its authorize URL, to return
    to the optional ``callback_url`` (the provider's default, or one AUTH_CALLBACK_URLS lists).
    """
    if redirect_sign_in.is_redirect_provider(provider):
        body = _optional_json_object() if request.method == "POST" else {}
        callback_url = body.get("callback_url", request.args.get("callback_url"))
        return {"location": redirect_sign_in.start(actor_type, provider, callback_url)}
    provider_identity = identity_service.check_credentials(*credentials(json_object()), actor_type=actor_type)
    return mfa_service.sign_in_answer(
        provider_identity.auth_identity, provider_identity.user_metadata, actor_type, identity_service.PROVIDER
    )


@bp.route("/<actor_type:actor_type>/<provider:provider>/callback", methods=["GET", "POST"])
def callback(actor_type: str, provider: str) -> dict[str, Any]:
    """The provider sent the person back with ``code`` and ``state``: the token of the identity they signed in as."""
    parameters: dict[str, Any] = dict(request.args)
    if request.method == "POST":
        parameters.update(request.form if request.form else _optional_json_object())
    signed_in = redirect_sign_in.finish(actor_type, provider, parameters)
    return mfa_service.sign_in_answer(signed_in.identity, signed_in.user_metadata, actor_type, provider)


@bp.post("/<provider:provider>/user")
def provision_user(provider: str) -> dict[str, Any]:
    """The admin for a first sign-in through ``provider`` (bearer: its registration token), linked by verified email."""
    claims = verify_bearer(medusa_auth().tokens, {TokenKind.REGISTRATION}, USER)
    return {"user": redirect_sign_in.provision_user(provider, claims).to_dict()}


@bp.post("/<actor_type:actor_type>/<provider:provider>/register")
def register(actor_type: str, provider: str) -> dict[str, str]:
    """A new emailpass identity; its registration token creates the actor (a customer, or a user by invite)."""
    _credentials_only(provider)
    return {"token": identity_service.register(*credentials(json_object()), actor_type=actor_type)}


# ``provider`` rides along as a default so the guard checks the pair against AUTH_METHODS_PER_ACTOR.
@bp.post("/<actor_type:actor_type>/passkey/options", defaults={"provider": PASSKEY})
def passkey_sign_in_options(actor_type: str, provider: str) -> dict[str, Any]:
    """Request options to sign in as ``actor_type`` with any passkey registered here (no username asked)."""
    return passkeys.sign_in_options(actor_type)


@bp.post("/<actor_type:actor_type>/passkey", defaults={"provider": PASSKEY})
def passkey_sign_in(actor_type: str, provider: str) -> dict[str, str]:
    """The browser's answer to those options in, Medusa's ``{token}`` out (as any provider's sign-in)."""
    return {"token": passkeys.sign_in(actor_type, object_field(json_object(), "credential"))}


@bp.post("/passkeys/options")
def passkey_registration_options() -> dict[str, Any]:
    """Creation options for a new passkey of the signed-in identity (any actor, registered or not)."""
    return passkeys.registration_options(passkeys.Account.of(g.auth_context))


@bp.post("/passkeys")
def register_passkey() -> dict[str, Any]:
    """The browser's new credential in, ``{passkey}`` out."""
    body = json_object()
    label = name_field(body, "label", max_length=MAX_PASSKEY_LABEL_LENGTH)
    passkey = passkeys.register(passkeys.Account.of(g.auth_context), object_field(body, "credential"), label)
    return {"passkey": passkey.to_dict()}


@bp.get("/passkeys")
def list_passkeys() -> dict[str, Any]:
    """The signed-in identity's passkeys, oldest first."""
    identity = identity_service.current_identity(g.auth_context)
    return {"passkeys": [passkey.to_dict() for passkey in passkeys.list_for(identity)]}


@bp.delete("/passkeys/<passkey_id:passkey_id>")
def delete_passkey(passkey_id: str) -> dict[str, Any]:
    """Remove one of the identity's passkeys (a sign-in of the last 10 minutes needed)."""
    passkey = passkeys.delete(passkeys.Account.of(g.auth_context), path_id(passkey_id, "Passkey"))
    return {"id": passkey.id, "object": "passkey", "deleted": True}


@bp.get("/<actor_type:actor_type>/providers")
def list_providers(actor_type: str) -> dict[str, Any]:
    """The providers ``actor_type`` may sign in with, and each one's flow (credentials or redirect)."""
    return {"providers": [p.to_dict() for p in medusa_auth().actors.providers_for(actor_type)]}


@bp.post("/token/refresh")
def refresh() -> dict[str, str]:
    """A new token for the bearer, re-read from the database."""
    return {"token": identity_service.refresh(g.auth_context)}


@bp.post("/session")
def create_session() -> dict[str, Any]:
    """Medusa's cookie session: a token in, a session cookie out (an actor's, or a registration one where useful).

    A sign-in still waiting for a step (a challenge or verification token: Medusa's JS SDK in session mode) is kept
    in the browser's signed cookie instead; the step's routes then take the cookie, and the token they give back
    comes here for the session.
    """
    kind, claims = verified_bearer(medusa_auth().tokens, ACCESS_OR_REGISTRATION | STEP_KINDS)
    if not session_may_hold(kind, claims):
        raise unauthorized()
    if kind in STEP_KINDS:
        identity_service.await_step_in_browser(kind, claims)
    else:
        identity_service.start_session_for(claims)
    return {"user": claims}


@bp.delete("/session")
def delete_session() -> dict[str, bool]:
    """Sign the browser out everywhere: its session row goes, and its sign-in session (bearer tokens too) ends."""
    sessions.end()
    return {"success": True}


@bp.post("/logout")
def logout() -> dict[str, bool]:
    """Sign the bearer out: ``{scope}`` local (this sign-in, the default), global (every sign-in of the
    identity) or others (every one but this); its tokens are refused on every instance within seconds."""
    claims = verify_bearer(medusa_auth().tokens, ACCESS_OR_REGISTRATION)
    scope = json_object(allow_empty=True).get("scope", "local")
    if scope not in sign_in_sessions.SCOPES:
        raise invalid_data(f"scope must be one of {', '.join(sign_in_sessions.SCOPES)}")
    sign_in_sessions.sign_out(claims, scope)
    return {"success": True}


@bp.post("/<actor_type:actor_type>/<provider:provider>/reset-password")
def request_password_reset(actor_type: str, provider: str) -> tuple[str, int]:
    """Mail a reset link if the identifier is known; 201 either way, so nobody learns who has an account."""
    _credentials_only(provider)
    reset.request_reset(email_field(json_object(), "identifier"), actor_type)
    return "", 201


@bp.post("/<actor_type:actor_type>/<provider:provider>/update")
def update_password(actor_type: str, provider: str) -> dict[str, Any]:
    """A new password: with the reset token as bearer (it works once), or signed in with ``current_password``.

    Either way every earlier token and session of the identity ends. A signed-in person keeps going: a
    session is started afresh, a bearer gets a new token in ``token``.
    """
    _credentials_only(provider)
    body = json_object()
    password = string_field(body, "password", max_length=MAX_PASSWORD_LENGTH)
    assert password is not None
    if "actor_id" in g.auth_context:  # an actor's access token or session, never a reset token
        return _change_own_password(body, password)
    if g.auth_context.get("provider", provider) != provider:
        security_event("token_refused", reason="reset token of another provider")
        raise unauthorized()
    reset.update_password(g.auth_context, password)
    return {"success": True}


def _change_own_password(body: dict[str, Any], password: str) -> dict[str, Any]:
    current = string_field(body, "current_password", max_length=MAX_PASSWORD_LENGTH)
    assert current is not None
    claims = g.auth_context
    identity = identity_service.change_password(claims, current, password)
    # Every sign-in of the identity ended with the old password, this one too: a new session, or a new token.
    token = identity_service.sign_in_again(
        identity, claims, signed_in_by_cookie(), identity_service.mfa_completed_at(claims)
    )
    return {"success": True} if token is None else {"success": True, "token": token}


def _credentials_only(provider: str) -> None:
    """Registering and passwords are emailpass's: a redirect provider keeps its people's credentials itself."""
    if redirect_sign_in.is_redirect_provider(provider):
        raise unauthorized(redirect_sign_in.NO_CREDENTIALS)


def _optional_json_object() -> dict[str, Any]:
    """The JSON object body, or nothing when there is no body (Medusa's SDK may send none)."""
    return json_object() if request.get_data(cache=True) else {}
