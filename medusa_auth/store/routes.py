"""/store routes (Medusa's paths and bodies): customers. The guard checks every credential before these run:
``POST /store/customers`` a customer registration token, ``/store/customers/me*`` a customer's token or session."""

import unicodedata
from typing import Any

from flask import Blueprint, g

from ..errors import invalid_data
from ..request_data import check_email, json_object, metadata_field
from . import customer_service

MAX_FIELD_LENGTH = 255

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
    """The body's fields, each a string or null (metadata: an object or null); others are refused, as in Medusa.

    An empty string is kept (Medusa's storefront sends one for a form field left blank); control
    characters are not (a NUL is an error in PostgreSQL, a line break a forged line in any export).
    """
    unknown = [name for name in body if name not in allowed]
    if unknown:
        raise invalid_data(f"Invalid request: Unrecognized fields: '{', '.join(unknown)}'")
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name == "metadata":
            value = metadata_field(body)
        elif value is not None:
            if not isinstance(value, str) or (name != "email" and len(value) > MAX_FIELD_LENGTH):
                raise invalid_data(f"{name} must be a string of at most {MAX_FIELD_LENGTH} characters, or null")
            if name == "email":
                if value:  # "" is no email: the service's "Email is required"
                    check_email(value)
            elif any(unicodedata.category(char) == "Cc" for char in value):
                raise invalid_data(f"{name} must not contain control characters")
        fields[name] = value
    return fields
