"""A sign-in waiting in a browser for its next step: the second factor, or the email to verify.

The step is kept in Flask's signed cookie, never in a session row: it is no sign-in yet (an abandoned one
leaves nothing behind), and only the browser that proved the first factor holds it. The sign-in page keeps
its challenge here, and so does ``POST /auth/session`` given a challenge or verification token (Medusa's JS
SDK in session mode); the guard then takes the cookie on that step's routes, and on no other.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from flask import session as flask_session

from . import clock
from .actors import USER
from .mfa import challenges
from .models import AuthIdentity
from .tokens import STEP_KINDS, Claims, TokenKind, step_claims, step_of

_KEY = "pending_step"  # in Flask's cookie session, beside the pages' CSRF token


@dataclass(frozen=True)
class PendingStep:
    """A sign-in's step still to take, as its token would say it."""

    kind: TokenKind  # one of STEP_KINDS
    step: str  # the challenge id, or the entity type to verify
    auth_identity_id: str
    actor_type: str
    auth_provider: str
    iat: int  # the sign-in's start, as a token's: never before the identity's last credentials change
    expires_at: int  # the challenge's (or the verification token's) end
    next_path: str = ""  # where the sign-in page goes once the step is taken; "" for the API

    def claims(self) -> Claims:
        """Shaped as the step's token's claims (``mfa_challenge_id`` or ``verification_entity_type``, whose, since)."""
        claims = step_claims(self.kind, self.step, self.auth_identity_id, self.actor_type, self.auth_provider)
        return {**claims, "iat": self.iat, "exp": self.expires_at}


def remember_token(kind: TokenKind, claims: Claims) -> None:
    """Keep the step a verified challenge or verification token stands for, until the token would expire."""
    pending = PendingStep(
        kind=kind,
        step=step_of(kind, claims),
        auth_identity_id=str(claims["auth_identity_id"]),
        actor_type=str(claims["actor_type"]),
        auth_provider=str(claims.get("auth_provider") or ""),
        iat=int(claims["iat"]),  # a verified token's: a finite number (a fraction rounds down: fails closed)
        expires_at=int(claims["exp"]),
    )
    _remember(pending)


def remember_challenge(challenge_id: str, identity: AuthIdentity, provider: str, next_path: str) -> None:
    """Keep the sign-in page's challenge (an admin's); its start is stamped as a token's ``iat`` is
    (``tokens.issue``): never before the identity's last credentials change, so a sign-in in that very second counts."""
    now = clock.now()
    pending = PendingStep(
        kind=TokenKind.MFA_CHALLENGE,
        step=challenge_id,
        auth_identity_id=identity.id,
        actor_type=USER,
        auth_provider=provider,
        iat=max(now, identity.tokens_valid_from or 0),
        expires_at=now + challenges.LIFETIME_SECONDS,
        next_path=next_path,
    )
    _remember(pending)


def pending(kinds: Collection[TokenKind], actor_type: str | None = None) -> PendingStep | None:
    """The browser's step if it is of one of ``kinds`` (and of ``actor_type``'s sign-in, when named); a step past
    its end is dropped."""
    value = flask_session.get(_KEY) if kinds else None
    found = _parse(value) if value is not None else None
    if found is None or found.kind not in kinds or (actor_type is not None and found.actor_type != actor_type):
        return None
    if clock.now() >= found.expires_at:
        forget(found.kind)
        return None
    return found


def forget(kind: TokenKind) -> None:
    """The step of ``kind`` is taken (or spent): the browser holds it no more. A step of another kind stays."""
    value = flask_session.get(_KEY)
    if isinstance(value, dict) and value.get("kind") == kind.value:
        flask_session.pop(_KEY, None)


def _remember(pending: PendingStep) -> None:
    flask_session[_KEY] = {**asdict(pending), "kind": pending.kind.value}


def _parse(value: Any) -> PendingStep | None:
    """The stored step, or None for anything this version did not write (the cookie is signed: only a format change)."""
    if not isinstance(value, dict):
        return None
    try:
        found = PendingStep(**{**value, "kind": TokenKind(str(value.get("kind")))})
    except (TypeError, ValueError):
        return None
    numbers = (found.iat, found.expires_at)
    if found.kind not in STEP_KINDS or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        return None
    return found
