"""/admin/users routes."""

from typing import Any

from flask import g

from ..validation import int_arg, path_id
from . import bp, service


@bp.get("/users/me")
def me() -> dict[str, Any]:
    """The signed-in user."""
    return {"user": service.get_user(g.auth_context["actor_id"]).to_dict()}


@bp.get("/users")
def list_users() -> dict[str, Any]:
    """A page of users, oldest first."""
    offset = int_arg("offset", 0, minimum=0, maximum=10**9)
    limit = int_arg("limit", 50, minimum=1, maximum=1000)
    users, count = service.list_users(offset, limit)
    return {"users": [u.to_dict() for u in users], "count": count, "offset": offset, "limit": limit}


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> dict[str, Any]:
    """One user by id."""
    return {"user": service.get_user(path_id(user_id, "User")).to_dict()}
