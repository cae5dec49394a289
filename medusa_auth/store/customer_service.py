"""Customers: Medusa's storefront shoppers, created from a registration token and linked to its identity."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from .. import actors
from ..auth.identity_service import PROVIDER, create_identity, current_identity
from ..database import db
from ..errors import ApiError, invalid_data, not_found
from ..models import AuthIdentity, Customer, assign, normalize_email
from ..request_data import is_email
from ..security_log import security_event

ALREADY_AUTHENTICATED = "Request already authenticated as a customer."  # Medusa's words
EMAIL_REQUIRED = "Email is required to create a customer"
HAS_ACCOUNT = "Customer with this email already has an account"
IDENTITY_TAKEN = "This identity already belongs to a customer: sign in instead"
OTHER_EMAIL = "The email must be the one the identity signs in with"
# The fields a customer may set on itself (Medusa's StoreUpdateCustomer); creating also takes the email.
UPDATABLE = ("first_name", "last_name", "phone", "company_name", "metadata")


def create_customer(auth_context: dict[str, Any], fields: dict[str, Any]) -> Customer:
    """A customer for the registration token's identity, linked to it (``app_metadata.customer_id``).

    Stricter than Medusa, which takes any email: the customer's email must be one its identity signs
    in with, so nobody can hold a shop account in someone else's name that a password reset sent to
    that address would not give back to its owner.
    """
    if auth_context.get("actor_id"):
        raise invalid_data(ALREADY_AUTHENTICATED)
    identity = current_identity(auth_context)
    if actors.actor_id_of(identity, actors.CUSTOMER) is not None:
        raise ApiError(400, "not_allowed", IDENTITY_TAKEN)
    email = fields.get("email")
    if not email:
        raise invalid_data(EMAIL_REQUIRED)
    normalized = normalize_email(email)
    if normalized not in _emails_of(identity):
        raise ApiError(400, "not_allowed", OTHER_EMAIL)
    return _create(identity, {**fields, "email": normalized})


def create_customer_with_password(email: str, password: str, first_name: str | None, last_name: str | None) -> Customer:
    """A customer with an emailpass identity linked to it (the CLI's `customers create`)."""
    if not is_email(email):
        raise invalid_data("email must be a valid email address")
    identity = create_identity(email, password)  # committed: 401 "Identity with email already exists" if taken
    try:
        return _create(identity, {"email": normalize_email(email), "first_name": first_name, "last_name": last_name})
    except ApiError:
        db.session.delete(identity)  # no identity left behind for a customer that was not created
        db.session.commit()
        raise


def get_customer(customer_id: str) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None:
        raise not_found(f"Customer with id: {customer_id} was not found")
    return customer


def update_customer(customer_id: str, fields: dict[str, Any]) -> Customer:
    """Set the given fields (``None`` clears one); the email is not among them, as in Medusa."""
    customer = get_customer(customer_id)
    assign(customer, fields)
    db.session.commit()
    security_event("customer_updated", customer_id=customer.id, fields=sorted(fields))
    return customer


def list_customers(offset: int, limit: int) -> tuple[list[Customer], int]:
    """A page of customers, oldest first (the CLI's `customers list`)."""
    query = db.select(Customer).where(Customer.deleted_at.is_(None))
    page = db.session.execute(query.order_by(Customer.created_at, Customer.id).offset(offset).limit(limit))
    count = db.session.execute(db.select(func.count()).select_from(query.subquery())).scalar_one()
    return list(page.scalars()), count


def _create(identity: AuthIdentity, fields: dict[str, Any]) -> Customer:
    """The customer, linked to ``identity`` in the same transaction; 422 if one with an account has its email."""
    if _has_account(fields["email"]):
        raise ApiError(422, "duplicate_error", HAS_ACCOUNT)
    customer = Customer(has_account=True, **{("metadata_" if k == "metadata" else k): v for k, v in fields.items()})
    db.session.add(customer)
    try:
        db.session.flush()
        actors.link(identity, actors.CUSTOMER, customer.id)
        db.session.commit()
    except IntegrityError:  # the same email created concurrently
        db.session.rollback()
        raise ApiError(422, "duplicate_error", HAS_ACCOUNT) from None
    security_event("customer_created", customer_id=customer.id, auth_identity_id=identity.id)
    return customer


def _has_account(email: str) -> bool:
    query = db.select(Customer.id).where(
        Customer.email == email, Customer.has_account.is_(True), Customer.deleted_at.is_(None)
    )
    return db.session.execute(query).first() is not None


def _emails_of(identity: AuthIdentity) -> set[str]:
    """The addresses the identity signs in with: its emailpass entity ids, and those its redirect providers verified."""
    emails = set()
    for provider in identity.provider_identities:
        profile = provider.user_metadata or {}
        if provider.provider == PROVIDER:
            emails.add(provider.entity_id)
        elif profile.get("email_verified") is True and isinstance(profile.get("email"), str):
            emails.add(normalize_email(profile["email"]))
    return emails
