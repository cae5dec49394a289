"""/store routes (Medusa's paths and bodies): customers. The guard checks every credential before these run:
``POST /store/customers`` a customer registration token, ``/store/customers/me*`` a customer's token or session."""

from typing import Any

from flask import Blueprint, g

from ..errors import invalid_data
from ..request_data import MAX_EMAIL_LENGTH, is_email, json_object
from . import customer_service

MAX_FIELD_LENGTH = 255
MAX_METADATA_DEPTH = 8  # metadata is the storefront's own JSON; deeper nesting is refused, not stored

bp = Blueprint("store", __name__, url_prefix="/store")


@bp.post("/customers")
def create_customer() -> dict[str, Any]:
    """Register the customer a registration token's identity becomes (Medusa's sign-up, second step)."""
    fields = customer_fields(json_object(), ("email", *customer_service.UPDATABLE))
    return {"customer": customer_service.create_customer(g.auth_context, fields).to_dict()}


@bp.get("/customers/me")
def me() -> dict[str, Any]:
    """The signed-in customer."""
    return {"customer": customer_service.get_customer(g.auth_context["actor_id"]).to_dict()}


@bp.post("/customers/me")
def update_me() -> dict[str, Any]:
    """Update the signed-in customer's names, phone, company and metadata."""
    fields = customer_fields(json_object(), customer_service.UPDATABLE)
    return {"customer": customer_service.update_customer(g.auth_context["actor_id"], fields).to_dict()}


def customer_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The body's fields, each a string (metadata: an object) or null; any other member is refused, as in Medusa."""
    unknown = [name for name in body if name not in allowed]
    if unknown:
        raise invalid_data(f"Invalid request: Unrecognized fields: '{', '.join(unknown)}'")
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name == "metadata":
            if value is not None and (not isinstance(value, dict) or _nested_deeper_than(value, MAX_METADATA_DEPTH)):
                raise invalid_data(f"metadata must be an object nested at most {MAX_METADATA_DEPTH} deep, or null")
        elif value is not None:
            limit = MAX_EMAIL_LENGTH if name == "email" else MAX_FIELD_LENGTH
            if not isinstance(value, str) or len(value) > limit:
                raise invalid_data(f"{name} must be a string of at most {limit} characters, or null")
            if name == "email" and not is_email(value):
                raise invalid_data("email must be a valid email address")
        fields[name] = value
    return fields


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` deep in ``value`` (iterative: no recursion limit to hit)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
