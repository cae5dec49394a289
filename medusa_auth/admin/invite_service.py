"""Invites: Medusa's User Module flow, with a token that works once even when accepts race."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from .. import actors, mail
from ..auth.identity_service import (
    PROVIDER,
    add_identity,
    check_new_password,
    current_identity,
    find_provider_identity,
    replace_password,
)
from ..clock import now_datetime
from ..database import db
from ..errors import ApiError, invalid_data, not_found
from ..extension import medusa_auth
from ..models import AuthIdentity, Invite, User, as_utc, digest, new_id, normalize_email
from ..request_data import is_email
from ..security_log import security_event
from ..tokens import Claims, ExpiredToken, InvalidToken, TokenKind

INVITE_PAGE = "/app/invite"
INVALID_TOKEN = "The invite link is not valid: ask for a new invite"
EXPIRED = "The invite has expired: ask for a new invite"
REPLACED = "This invite link was replaced by a newer one: use the latest invite email"
DELETED = "The invite no longer exists (it was withdrawn): ask for a new invite"
ALREADY_ACCEPTED = "The invite was already accepted: sign in instead"
TAKEN = "This account already belongs to a user: sign in instead"


class InviteUnusable(ApiError):
    """The invite cannot be accepted (already accepted, expired, replaced, withdrawn, or a bad link)."""


@dataclass(frozen=True)
class Delivery:
    """Whether the invite email left; a failure keeps the invite, and resend tries again."""

    sent: bool
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "detail": self.detail}


@dataclass(frozen=True)
class IssuedInvite:
    invite: Invite
    token: str
    delivery: Delivery | None

    def to_dict(self) -> dict[str, Any]:
        """The invite with its token (create and resend only), and how its email went."""
        body: dict[str, Any] = {"invite": {**self.invite.to_dict(), "token": self.token}}
        if self.delivery is not None:
            body["email"] = self.delivery.to_dict()
        return body


def create_invite(
    email: str, metadata: dict[str, Any] | None, created_by: str | None, *, send_email: bool = True
) -> IssuedInvite:
    """A pending invite for ``email``; 400 if a user or another invite already has that email."""
    if not is_email(email):
        raise invalid_data("email must be a valid email address")
    normalized = normalize_email(email)
    if db.session.execute(db.select(User.id).filter_by(email=normalized)).first() is not None:
        raise invalid_data(f"User with email: {normalized}, already exists.")
    if _find_by_email(normalized) is not None:
        raise invalid_data(f"Invite with email: {normalized}, already exists.")
    invite = Invite(id=new_id("invite"), email=normalized, metadata_=metadata, created_by=created_by)
    token = _new_token(invite)
    db.session.add(invite)
    try:
        db.session.commit()
    except IntegrityError:  # the same email invited concurrently
        db.session.rollback()
        raise invalid_data(f"Invite with email: {normalized}, already exists.") from None
    security_event("invite_created", invite_id=invite.id, created_by=created_by)
    return IssuedInvite(invite, token, _send(invite, token) if send_email else None)


def resend_invite(invite_id: str) -> IssuedInvite:
    """A new token and expiry for a pending invite; every older token of it stops working."""
    invite = get_invite(invite_id)
    if invite.accepted:
        raise ApiError(400, "not_allowed", ALREADY_ACCEPTED)
    token = _new_token(invite)
    db.session.commit()
    security_event("invite_resent", invite_id=invite.id)
    return IssuedInvite(invite, token, _send(invite, token))


def delete_invite(invite_id: str) -> None:
    db.session.delete(get_invite(invite_id))
    db.session.commit()
    security_event("invite_deleted", invite_id=invite_id)


def get_invite(invite_id: str) -> Invite:
    invite = db.session.get(Invite, invite_id)
    if invite is None:
        raise not_found(f"Invite with id: {invite_id} was not found")
    return invite


def list_invites(offset: int, limit: int, email: str | None) -> tuple[list[Invite], int]:
    """A page of invites, oldest first, optionally only the one for ``email``."""
    query = db.select(Invite)
    if email is not None:
        query = query.filter_by(email=normalize_email(email))
    page = db.session.execute(query.order_by(Invite.created_at, Invite.id).offset(offset).limit(limit))
    count = db.session.execute(db.select(func.count()).select_from(query.subquery())).scalar_one()
    return list(page.scalars()), count


def status(invite: Invite) -> str:
    """``accepted``, ``expired`` or ``pending``, as a person reads it."""
    if invite.accepted:
        return "accepted"
    return "expired" if as_utc(invite.expires_at) <= now_datetime() else "pending"


def invite_link(token: str) -> str:
    """The page an invitee opens."""
    return mail.link(INVITE_PAGE, token)


def pending_invite(token: str) -> Invite:
    """The invite a token opens, if it can still be accepted; a 4xx that says why otherwise."""
    try:
        claims = medusa_auth().invite_tokens.verify(token, {TokenKind.INVITE})
    except ExpiredToken:
        raise InviteUnusable(400, "invalid_data", EXPIRED) from None
    except InvalidToken:
        raise InviteUnusable(400, "invalid_data", INVALID_TOKEN) from None
    return _invite_for(claims)


def accept_with_registration(token: str, auth_context: Claims, first_name: str | None, last_name: str | None) -> User:
    """Medusa's accept: the registration token's identity becomes the invited user.

    The invite token (mailed) proves the email for whoever holds it; the registration token must have
    been minted after the identity's last credentials change, so that a token someone kept from before
    the owner reclaimed the identity (a password reset) cannot accept.
    """
    invite = pending_invite(token)
    identity = current_identity(auth_context)
    if identity.user_id is not None:
        raise ApiError(400, "not_allowed", "This identity already belongs to a user")
    emails = {p.entity_id for p in identity.provider_identities if p.provider == PROVIDER}
    if invite.email not in emails:
        raise ApiError(400, "not_allowed", "The invite was sent to a different email address")
    _mark_accepted(invite)
    return _create_user(invite, identity, first_name, last_name)


def accept_with_password(token: str, password: str, first_name: str | None, last_name: str | None) -> User:
    """The invite page's accept: the link proves the email, so the password set here becomes the identity's.

    A new emailpass identity, or, when one already exists for the email (perhaps registered by someone
    else), its credentials replaced and every earlier token, session and reset link of it ended.
    """
    invite = pending_invite(token)
    check_new_password(password)
    password_hash = medusa_auth().passwords.hash(password)  # before the transaction: no lock held while hashing
    _mark_accepted(invite)  # first, so that of two identical submits the second stops here
    provider = find_provider_identity(invite.email)
    if provider is None:
        identity = add_identity(invite.email, password_hash)
    elif provider.auth_identity.user_id is not None:
        db.session.rollback()
        raise InviteUnusable(400, "not_allowed", TAKEN)
    else:
        identity = provider.auth_identity
        ended = replace_password(provider, password_hash)
        security_event("identity_reclaimed_by_invite", invite_id=invite.id, auth_identity_id=identity.id, ended=ended)
    return _create_user(invite, identity, first_name, last_name)


def has_identity(invite: Invite) -> bool:
    """Whether an emailpass identity already uses the invite's email (the page says its password will be replaced)."""
    return find_provider_identity(invite.email) is not None


def _mark_accepted(invite: Invite) -> None:
    """The atomic check of single use: of racing accepts, exactly one changes the row (the caller commits)."""
    now = now_datetime()
    claimed = db.session.execute(
        db.update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.jti_hash == invite.jti_hash,
            Invite.accepted.is_(False),
            Invite.expires_at > now,
        )
        .values(accepted=True, accepted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        db.session.rollback()
        raise InviteUnusable(400, "not_allowed", ALREADY_ACCEPTED)


def _create_user(invite: Invite, identity: AuthIdentity, first_name: str | None, last_name: str | None) -> User:
    """The invited user, linked to ``identity``, committed with the invite's acceptance."""
    user = User(email=invite.email, first_name=first_name, last_name=last_name)
    db.session.add(user)
    try:
        db.session.flush()
        # Beside any other actor of the identity: a customer may become an admin (Medusa issue 12521).
        actors.link(identity, actors.USER, user.id)
        db.session.commit()
    except IntegrityError:  # a user or identity with this email appeared meanwhile
        db.session.rollback()
        raise ApiError(400, "not_allowed", f"User with email: {invite.email}, already exists.") from None
    security_event("invite_accepted", invite_id=invite.id, user_id=user.id)
    return user


def _invite_for(claims: Claims) -> Invite:
    invite = db.session.get(Invite, claims["id"])
    if invite is None:
        raise InviteUnusable(404, "not_found", DELETED)
    if invite.email != claims["email"]:
        raise InviteUnusable(400, "invalid_data", INVALID_TOKEN)
    if invite.accepted:
        raise InviteUnusable(400, "not_allowed", ALREADY_ACCEPTED)
    if not hmac.compare_digest(invite.jti_hash, digest(str(claims.get("jti", "")))):
        raise InviteUnusable(400, "invalid_data", REPLACED)
    if as_utc(invite.expires_at) <= now_datetime():
        raise InviteUnusable(400, "invalid_data", EXPIRED)
    return invite


def _find_by_email(email: str) -> Invite | None:
    return db.session.execute(db.select(Invite).filter_by(email=email)).scalar_one_or_none()


def _new_token(invite: Invite) -> str:
    """Sign a token for ``invite`` and keep only its jti's hash (the newest token is the only one)."""
    tokens = medusa_auth().invite_tokens
    issued = tokens.issue(TokenKind.INVITE, {"id": invite.id, "email": invite.email}, tokens.options.expires_in)
    invite.jti_hash = digest(issued.jti)
    invite.expires_at = datetime.fromtimestamp(issued.expires_at, UTC)
    return issued.token


def _send(invite: Invite, token: str) -> Delivery:
    link = invite_link(token)
    expires = as_utc(invite.expires_at).strftime("%Y-%m-%d %H:%M")
    message = mail.from_templates(
        invite.email, "You are invited", "invite", email=invite.email, link=link, expires=expires
    )
    try:
        mail.send(message)
    except mail.MailNotSent as error:
        security_event("invite_mail_failed", invite_id=invite.id, reason=str(error))
        return Delivery(False, f"The invite was saved but its email was not sent ({error}); use resend.")
    return Delivery(True)
