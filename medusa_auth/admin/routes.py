"""/admin routes (Medusa's paths and bodies): users and invites. Every one is guarded by medusa_auth.guard."""

from typing import Any

from flask import Blueprint, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from ..errors import invalid_data
from ..request_data import email_arg, email_field, id_arg, int_arg, json_object, metadata_field, name_field, path_id
from . import invite_service, user_service

MAX_NAME_LENGTH = 255

bp = Blueprint("admin", __name__, url_prefix="/admin")


class InviteIdConverter(BaseConverter):
    """An invite id: one path segment, never ``accept``, so /admin/invites/accept is only the accept route.

    Without it GET and DELETE /admin/invites/accept would reach the ``<invite_id>`` views, and OPTIONS
    would advertise methods the accept operation does not have.
    """

    regex = r"(?!accept$)[^/]+"


@bp.record_once
def _register_converters(state: BlueprintSetupState) -> None:
    # Recorded before the routes below are, so the converter exists when their rules are added.
    state.app.url_map.converters["invite_id"] = InviteIdConverter


@bp.get("/users/me")
def me() -> dict[str, Any]:
    """The signed-in user."""
    return {"user": user_service.get_user(g.auth_context["actor_id"]).to_dict()}


@bp.get("/users")
def list_users() -> dict[str, Any]:
    """A page of users, oldest first, filtered by ``email``; ``after`` (a user id) pages by keyset."""
    offset = int_arg("offset", 0, minimum=0, maximum=10**9)
    limit = int_arg("limit", 50, minimum=1, maximum=1000)
    email = email_arg("email")
    after = id_arg("after")
    users, count = user_service.list_users(offset, limit, email, after)
    return {"users": [u.to_dict() for u in users], "count": count, "offset": offset, "limit": limit}


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> dict[str, Any]:
    """One user by id."""
    return {"user": user_service.get_user(path_id(user_id, "User")).to_dict()}


@bp.post("/users/<user_id>/sessions/revoke")
def revoke_user_sessions(user_id: str) -> dict[str, Any]:
    """End everything the user is signed in with: bearer tokens on every instance, browser sessions."""
    ended = user_service.revoke_sessions(path_id(user_id, "User"), g.auth_context["actor_id"])
    return {"success": True, "ended": ended}


@bp.post("/invites")
def create_invite() -> dict[str, Any]:
    """Invite an email; the answer carries the token (to share by hand) and whether the email went."""
    body = json_object()
    email, metadata = email_field(body), metadata_field(body)
    return invite_service.create_invite(email, metadata, g.auth_context["actor_id"]).to_dict()


@bp.get("/invites")
def list_invites() -> dict[str, Any]:
    """A page of invites, filtered by ``email``; never their tokens."""
    offset = int_arg("offset", 0, minimum=0, maximum=10**9)
    limit = int_arg("limit", 50, minimum=1, maximum=1000)
    email = email_arg("email")
    invites, count = invite_service.list_invites(offset, limit, email)
    return {"invites": [i.to_dict() for i in invites], "count": count, "offset": offset, "limit": limit}


@bp.get("/invites/<invite_id:invite_id>")
def get_invite(invite_id: str) -> dict[str, Any]:
    """One invite, without its token."""
    return {"invite": invite_service.get_invite(path_id(invite_id, "Invite")).to_dict()}


@bp.post("/invites/<invite_id:invite_id>/resend")
def resend_invite(invite_id: str) -> dict[str, Any]:
    """A new token and expiry; the invite's older tokens stop working."""
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
