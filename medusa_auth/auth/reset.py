"""Password reset: a 15-minute, single-use token mailed as a link; using it ends every session.

The link depends on the actor type asking: a user's goes to this service's page, a customer's to the
storefront (``STOREFRONT_URL/reset-password?token=...&email=...``, Medusa's convention). The password
is the identity's, so a reset from either side changes it for both.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError

from .. import background, mail
from ..actors import CUSTOMER, USER, linked_actors
from ..clock import now_datetime
from ..database import db
from ..errors import unauthorized
from ..extension import medusa_auth
from ..keys.config import RESET_TOKEN_SECONDS
from ..models import PasswordReset, ProviderIdentity, digest
from ..security_log import security_event
from ..tokens import Claims, InvalidToken, IssuedToken, TokenKind
from . import throttle
from .identity_service import check_new_password, find_provider_identity, replace_password

log = logging.getLogger(__name__)
RESET_LIFETIME_SECONDS = RESET_TOKEN_SECONDS  # the one place: keys/config.py (a retired key verifies that long)
RESET_PAGE = "/app/reset-password/confirm"
STOREFRONT_RESET_PAGE = "/reset-password"
LINK_NOT_VALID = "This reset link has expired, was already used, or was replaced by a newer one"


def request_reset(identifier: str, actor_type: str = USER) -> None:
    """Take a reset request; the caller answers the same whether or not the identity exists.

    The request path does the same work for every identifier (the throttle's charges and a queued
    job), so its timing says nothing about who has an account: the lookup, the token, the database
    write and the mail happen in the background, after the answer.
    """
    if not throttle.check_reset(identifier):  # too many requests from this address or for this account: no mail
        return
    if not background.run_in_background(partial(_mail_reset_link, identifier, actor_type)):
        security_event("reset_dropped", reason="background queue full")


def _mail_reset_link(identifier: str, actor_type: str) -> None:
    """Mail a reset link if the identity exists and may sign in as ``actor_type`` (a background job).

    An identity that is some actor but not this one gets nothing: a shopper does not get an admin's
    reset page, nor an admin a storefront's. One with no actor at all yet (registered, not created)
    gets the link of whichever side asked.
    """
    provider = find_provider_identity(identifier)
    if provider is None:
        security_event("reset_requested", known=False, actor_type=actor_type)
        return
    actors = linked_actors(provider.auth_identity)
    if actors and actor_type not in actors:
        security_event("reset_requested", known=True, actor_type=actor_type, mailed=False, reason="no such actor")
        return
    if not _has_reset_page(actor_type):
        log.error("a %s's reset link was not mailed: no page takes it (customers': set STOREFRONT_URL)", actor_type)
        return
    issued = issue_reset_token(provider, actor_type)
    if issued is None:  # a concurrent request for the same identity got there first; its link stands
        return
    security_event("reset_requested", known=True, actor_type=actor_type, auth_identity_id=provider.auth_identity_id)
    message = reset_mail(provider.entity_id, reset_link(actor_type, provider.entity_id, issued.token))
    try:
        mail.send(message)  # already off the request path: this job's end means the mail went (or failed)
    except mail.MailNotSent as error:
        log.error("mail not sent: subject=%r: %s", message.subject, error)


def issue_reset_token(provider: ProviderIdentity, actor_type: str) -> IssuedToken | None:
    """A reset token for the identity, replacing any pending one (the newest wins); None if a concurrent one won."""
    issued = medusa_auth().tokens.issue(
        TokenKind.RESET,
        {"entity_id": provider.entity_id, "provider": "emailpass", "actor_type": actor_type, "purpose": "reset"},
        RESET_LIFETIME_SECONDS,
    )
    db.session.execute(db.delete(PasswordReset).where(PasswordReset.auth_identity_id == provider.auth_identity_id))
    db.session.add(
        PasswordReset(
            auth_identity_id=provider.auth_identity_id,
            jti_hash=digest(issued.jti),
            expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return issued


def _has_reset_page(actor_type: str) -> bool:
    """Whether some page takes ``actor_type``'s reset links (an operator's own actor types have none here)."""
    return actor_type == USER or (actor_type == CUSTOMER and medusa_auth().settings.storefront_url is not None)


def reset_link(actor_type: str, email: str, token: str) -> str:
    """A user's link to this service's page; a customer's to the storefront's, with the email (Medusa's convention)."""
    if actor_type == USER:
        return mail.link(RESET_PAGE, token)
    storefront = medusa_auth().settings.storefront_url
    return f"{storefront}{STOREFRONT_RESET_PAGE}?{urlencode({'token': token, 'email': email})}"


def reset_mail(email: str, link: str) -> mail.Mail:
    return mail.from_templates(email, "Reset your password", "reset", link=link, minutes=RESET_LIFETIME_SECONDS // 60)


def verify_reset_token(token: str, actor_type: str = USER) -> Claims:
    """The claims of ``actor_type``'s reset token that is still pending (not used, not replaced); 401 otherwise."""
    try:
        claims = medusa_auth().tokens.verify(token, {TokenKind.RESET})
    except InvalidToken:
        raise unauthorized(LINK_NOT_VALID) from None
    if claims.get("actor_type") != actor_type or _pending_reset(claims) is None:
        raise unauthorized(LINK_NOT_VALID)
    return claims


def update_password(claims: Claims, password: str) -> None:
    """Use the reset token once: set the password and end every earlier token and session of the identity."""
    check_new_password(password)
    provider = _provider_for(claims)
    password_hash = medusa_auth().passwords.hash(password)  # before the DELETE: no lock is held while hashing
    consumed = db.session.execute(
        db.delete(PasswordReset).where(
            PasswordReset.auth_identity_id == provider.auth_identity_id,
            PasswordReset.jti_hash == _jti_hash(claims),
            PasswordReset.expires_at > now_datetime(),
        )
    )
    if getattr(consumed, "rowcount", 0) != 1:  # used, replaced or expired: the DELETE is the atomic check
        db.session.rollback()
        raise unauthorized(LINK_NOT_VALID)
    ended = replace_password(provider, password_hash)
    db.session.commit()
    security_event("password_reset", auth_identity_id=provider.auth_identity_id, sessions_ended=ended)


def _pending_reset(claims: Claims) -> PasswordReset | None:
    provider = find_provider_identity(str(claims.get("entity_id", "")))
    if provider is None:
        return None
    pending = db.session.get(PasswordReset, provider.auth_identity_id)
    if pending is None or not hmac.compare_digest(pending.jti_hash, _jti_hash(claims)):
        return None
    return pending


def _provider_for(claims: Claims) -> ProviderIdentity:
    provider = find_provider_identity(str(claims.get("entity_id", "")))
    if provider is None:
        raise unauthorized(LINK_NOT_VALID)
    return provider


def _jti_hash(claims: dict[str, Any]) -> str:
    return digest(str(claims.get("jti", "")))
