"""Invites: Medusa's User Module flow, with a token that works once even when accepts race."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from .. import mail
from ..auth.identity_service import PROVIDER, new_identity
from ..clock import now_datetime
from ..database import db
from ..errors import ApiError, invalid_data, not_found, unauthorized
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
        raise invalid_data(EXPIRED) from None
    except InvalidToken:
        raise invalid_data(INVALID_TOKEN) from None
    return _invite_for(claims)


def accept_with_registration(token: str, auth_context: Claims, first_name: str | None, last_name: str | None) -> User:
    """Medusa's accept: the registration token's identity becomes the invited user."""
    invite = pending_invite(token)
    identity = db.session.get(AuthIdentity, auth_context.get("auth_identity_id"))
    if identity is None:
        raise unauthorized()
    if identity.user_id is not None:
        raise ApiError(400, "not_allowed", "This identity already belongs to a user")
    emails = {p.entity_id for p in identity.provider_identities if p.provider == PROVIDER}
    if invite.email not in emails:
        raise ApiError(400, "not_allowed", "The invite was sent to a different email address")
    return _claim(invite, identity, first_name, last_name)


def accept_with_password(token: str, password: str, first_name: str | None, last_name: str | None) -> User:
    """The invite page's accept: a new emailpass identity and user in one transaction."""
    invite = pending_invite(token)
    identity = new_identity(invite.email, password)
    return _claim(invite, identity, first_name, last_name)


def _claim(invite: Invite, identity: AuthIdentity, first_name: str | None, last_name: str | None) -> User:
    """Mark the invite accepted and create its user, atomically: of racing accepts, one wins."""
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
        raise ApiError(400, "not_allowed", ALREADY_ACCEPTED)
    user = User(email=invite.email, first_name=first_name, last_name=last_name)
    db.session.add(user)
    try:
        db.session.flush()
        identity.app_metadata = {"user_id": user.id}
        db.session.commit()
    except IntegrityError:  # a user or identity with this email appeared meanwhile
        db.session.rollback()
        raise ApiError(400, "not_allowed", f"User with email: {invite.email}, already exists.") from None
    security_event("invite_accepted", invite_id=invite.id, user_id=user.id)
    return user


def _invite_for(claims: Claims) -> Invite:
    invite = db.session.get(Invite, claims["id"])
    if invite is None:
        raise not_found(DELETED)
    if invite.email != claims["email"]:
        raise invalid_data(INVALID_TOKEN)
    if invite.accepted:
        raise ApiError(400, "not_allowed", ALREADY_ACCEPTED)
    if not hmac.compare_digest(invite.jti_hash, digest(str(claims.get("jti", "")))):
        raise invalid_data(REPLACED)
    if as_utc(invite.expires_at) <= now_datetime():
        raise invalid_data(EXPIRED)
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
