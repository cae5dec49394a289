"""/admin routes (Medusa's paths and bodies): users, invites, API keys. Every one is guarded by medusa_auth.guard.

A request may be an admin's (a user's token or session) or a machine's (a secret API key, actor type
``api-key``); what only a person may do refuses the machine with 403 (``refuse_api_key_actor``).
"""

from typing import Any

from flask import Blueprint, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from ..errors import invalid_data
from ..request_data import (
    email_arg,
    email_field,
    id_arg,
    int_arg,
    json_object,
    metadata_field,
    name_field,
    path_id,
    string_field,
)
from . import api_key_service, invite_service, user_service
from .api_key_service import refuse_api_key_actor

MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_SEARCH_LENGTH = 255
USER_FIELDS = frozenset({"first_name", "last_name", "avatar_url", "metadata"})

bp = Blueprint("admin", __name__, url_prefix="/admin")


class InviteIdConverter(BaseConverter):
    """An invite id: one path segment, never ``accept``, so /admin/invites/accept is only the accept route.

    Without it GET and DELETE /admin/invites/accept would reach the ``<invite_id>`` views, and OPTIONS
    would advertise methods the accept operation does not have.
    """

    regex = r"(?!accept$)[^/]+"


class UserIdConverter(BaseConverter):
    """A user id: one path segment, never ``me``, so /admin/users/me is only the signed-in user's route (and
    OPTIONS there advertises GET alone, not the update and delete of ``<user_id>``)."""

    regex = r"(?!me$)[^/]+"


@bp.record_once
def _register_converters(state: BlueprintSetupState) -> None:
    # Recorded before the routes below are, so the converters exist when their rules are added.
    state.app.url_map.converters["invite_id"] = InviteIdConverter
    state.app.url_map.converters["user_id"] = UserIdConverter


@bp.get("/users/me")
def me() -> dict[str, Any]:
    """The signed-in user (an API key is none: 403)."""
    refuse_api_key_actor(g.auth_context)
    return {"user": user_service.get_user(g.auth_context["actor_id"]).to_dict()}


@bp.get("/users")
def list_users() -> dict[str, Any]:
    """A page of users filtered by ``email`` and ``q``, oldest first or by ``order``; ``after`` pages by keyset."""
    offset, limit = _paging_args()
    email = email_arg("email")
    after = id_arg("after")
    q = _search_arg()
    order = request.args.get("order")
    users, count = user_service.list_users(offset, limit, email, after, q, order)
    return {"users": [u.to_dict() for u in users], "count": count, "offset": offset, "limit": limit}


@bp.get("/users/<user_id:user_id>")
def get_user(user_id: str) -> dict[str, Any]:
    """One user by id."""
    return {"user": user_service.get_user(path_id(user_id, "User")).to_dict()}


@bp.post("/users/<user_id:user_id>/sessions/revoke")
def revoke_user_sessions(user_id: str) -> dict[str, Any]:
    """End everything the user is signed in with: bearer tokens on every instance, browser sessions."""
    ended = user_service.revoke_sessions(path_id(user_id, "User"), g.auth_context["actor_id"])
    return {"success": True, "ended": ended}


@bp.post("/users/<user_id:user_id>")
def update_user(user_id: str) -> dict[str, Any]:
    """Change a user's first_name, last_name, avatar_url or metadata (null clears one); the email stays."""
    body = json_object()
    unknown = sorted(set(body) - USER_FIELDS)
    if unknown:
        raise invalid_data(f"Unrecognized fields: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if name in body:
            changes[name] = name_field(body, name, max_length=MAX_NAME_LENGTH)
    if "avatar_url" in body:
        changes["avatar_url"] = _url_field(body, "avatar_url")
    if "metadata" in body:
        changes["metadata"] = metadata_field(body)
    return {"user": user_service.update_user(path_id(user_id, "User"), changes).to_dict()}


@bp.delete("/users/<user_id:user_id>")
def delete_user(user_id: str) -> dict[str, Any]:
    """Delete a user (not oneself, not the last one): every token and session of theirs ends. People only."""
    refuse_api_key_actor(g.auth_context)
    user_service.delete_user(path_id(user_id, "User"), g.auth_context["actor_id"])
    return {"id": user_id, "object": "user", "deleted": True}


@bp.get("/users/<user_id:user_id>/auth-providers")
def user_auth_providers(user_id: str) -> dict[str, Any]:
    """The providers the user signs in with (Medusa 2.20)."""
    return {"providers": user_service.auth_providers(path_id(user_id, "User"))}


@bp.post("/users/<user_id:user_id>/reset-password")
def user_reset_password(user_id: str) -> dict[str, Any]:
    """A single-use reset token for the user (Medusa 2.20), replacing any earlier one. People only."""
    refuse_api_key_actor(g.auth_context)
    return {"token": user_service.reset_password_token(path_id(user_id, "User"), g.auth_context["actor_id"])}


@bp.post("/api-keys")
def create_api_key() -> dict[str, Any]:
    """A new secret (``sk_``) or publishable (``pk_``) key with its token: a secret key's is never shown again."""
    body = json_object()
    title = _title_field(body)
    kind = string_field(body, "type", max_length=32)
    assert kind is not None
    return api_key_service.create_key(title, kind, g.auth_context).to_dict()


@bp.get("/api-keys")
def list_api_keys() -> dict[str, Any]:
    """A page of keys, oldest first, of one ``type`` or titled like ``q``; a secret key's token is never shown."""
    offset, limit = _paging_args()
    keys, count = api_key_service.list_keys(offset, limit, request.args.get("type"), _search_arg())
    return {"api_keys": [k.to_dict() for k in keys], "count": count, "offset": offset, "limit": limit}


@bp.get("/api-keys/<key_id>")
def get_api_key(key_id: str) -> dict[str, Any]:
    """One key (a secret key's token is never shown)."""
    return {"api_key": api_key_service.get_key(path_id(key_id, "API Key")).to_dict()}


@bp.post("/api-keys/<key_id>")
def update_api_key(key_id: str) -> dict[str, Any]:
    """Rename a key (its ``title``)."""
    title = _title_field(json_object())
    return {"api_key": api_key_service.rename_key(path_id(key_id, "API Key"), title, g.auth_context).to_dict()}


@bp.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str) -> dict[str, Any]:
    """Revoke a key now; every instance stops taking it within REVOCATION_REFRESH_SECONDS."""
    json_object(allow_empty=True)  # Medusa's body may carry revoke_in; a delayed revocation is not offered
    key = api_key_service.revoke_key(path_id(key_id, "API Key"), g.auth_context["actor_id"], g.auth_context)
    return {"api_key": key.to_dict()}


@bp.delete("/api-keys/<key_id>")
def delete_api_key(key_id: str) -> dict[str, Any]:
    """Delete a revoked key."""
    api_key_service.delete_key(path_id(key_id, "API Key"), g.auth_context)
    return {"id": key_id, "object": "api_key", "deleted": True}


@bp.post("/invites")
def create_invite() -> dict[str, Any]:
    """Invite an email; the answer carries the token (to share by hand) and whether the email went. People only."""
    refuse_api_key_actor(g.auth_context)  # an invite a machine accepts itself would be an admin it controls
    body = json_object()
    email, metadata = email_field(body), metadata_field(body)
    return invite_service.create_invite(email, metadata, g.auth_context["actor_id"]).to_dict()


@bp.get("/invites")
def list_invites() -> dict[str, Any]:
    """A page of invites, filtered by ``email``; never their tokens."""
    offset, limit = _paging_args()
    email = email_arg("email")
    invites, count = invite_service.list_invites(offset, limit, email)
    return {"invites": [i.to_dict() for i in invites], "count": count, "offset": offset, "limit": limit}


@bp.get("/invites/<invite_id:invite_id>")
def get_invite(invite_id: str) -> dict[str, Any]:
    """One invite, without its token."""
    return {"invite": invite_service.get_invite(path_id(invite_id, "Invite")).to_dict()}


@bp.post("/invites/<invite_id:invite_id>/resend")
def resend_invite(invite_id: str) -> dict[str, Any]:
    """A new token and expiry; the invite's older tokens stop working. People only."""
    refuse_api_key_actor(g.auth_context)
    return invite_service.resend_invite(path_id(invite_id, "Invite")).to_dict()


@bp.delete("/invites/<invite_id:invite_id>")
def delete_invite(invite_id: str) -> dict[str, Any]:
    """Withdraw an invite; its tokens stop working."""
    invite_service.delete_invite(path_id(invite_id, "Invite"))
    return {"id": invite_id, "object": "invite", "deleted": True}


@bp.post("/invites/accept")
def accept_invite() -> dict[str, Any]:
    """Medusa's second step: the invite token in ``?token=``, the invitee's registration token as bearer."""
    token = request.args.get("token")
    if not token:
        raise invalid_data("token is required in the query string")
    body = json_object(allow_empty=True)
    first_name = name_field(body, "first_name", max_length=MAX_NAME_LENGTH)
    last_name = name_field(body, "last_name", max_length=MAX_NAME_LENGTH)
    user = invite_service.accept_with_registration(token, g.auth_context, first_name, last_name)
    return {"user": user.to_dict()}


def _paging_args() -> tuple[int, int]:
    """Medusa's ``offset`` and ``limit`` (1 to 1000, default 50)."""
    return int_arg("offset", 0, minimum=0, maximum=10**9), int_arg("limit", 50, minimum=1, maximum=1000)


def _search_arg() -> str | None:
    q = request.args.get("q")
    if q is not None and len(q) > MAX_SEARCH_LENGTH:
        raise invalid_data(f"q must be at most {MAX_SEARCH_LENGTH} characters")
    return q


def _title_field(body: dict[str, Any]) -> str:
    title = name_field(body, "title", max_length=MAX_NAME_LENGTH)
    if title is None:
        raise invalid_data("title must be a non-empty string")
    return title


def _url_field(body: dict[str, Any], name: str) -> str | None:
    """An optional http(s) URL (an image people's browsers will load), or null."""
    value = name_field(body, name, max_length=MAX_URL_LENGTH)
    if value is not None and not value.lower().startswith(("https://", "http://")):
        raise invalid_data(f"{name} must be an http or https URL")
    return value
