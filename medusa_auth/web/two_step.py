"""The pages' side of two-step sign-in: the challenge a browser is answering (in Flask's signed cookie,
so only the browser that passed the password can finish), and the QR code, drawn here with segno."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import segno
from flask import session as flask_session

from .. import clock
from ..auth.mfa_service import RECOVERY_CODE
from ..mfa import challenges
from ..mfa.factors import TOTP
from ..models import AuthIdentity

_PENDING = "mfa_challenge"


@dataclass(frozen=True)
class PendingChallenge:
    challenge_id: str
    auth_identity_id: str
    provider: str
    next_path: str
    started_at: int

    def claims(self) -> dict[str, Any]:
        """What ``mfa_service.pass_challenge`` reads of a sign-in: whose it is and when it began."""
        return {"auth_identity_id": self.auth_identity_id, "iat": self.started_at}


def remember_challenge(challenge_id: str, identity: AuthIdentity, provider: str, next_path: str) -> None:
    """Keep the browser's challenge; its start is stamped as a token's ``iat`` is (``tokens.issue``): never
    before the identity's last credentials change, so a sign-in in that very second still counts."""
    flask_session[_PENDING] = {
        "challenge_id": challenge_id,
        "auth_identity_id": identity.id,
        "provider": provider,
        "next_path": next_path,
        "started_at": max(clock.now(), identity.tokens_valid_from or 0),
    }


def pending_challenge() -> PendingChallenge | None:
    value = flask_session.get(_PENDING)
    if not isinstance(value, dict):
        return None
    try:
        pending = PendingChallenge(**value)
    except TypeError:
        return None
    if clock.now() > pending.started_at + challenges.LIFETIME_SECONDS:
        forget_challenge()
        return None
    return pending


def forget_challenge() -> None:
    flask_session.pop(_PENDING, None)


def method_of(entered: str) -> str:
    """Six digits are the app's code; anything else is taken for a recovery code (``xxxxx-xxxxx``)."""
    return TOTP if entered.isdigit() and len(entered) == 6 else RECOVERY_CODE


def qr_svg(otpauth_url: str) -> str:
    """The otpauth URL as an inline SVG QR code (segno escapes nothing into markup: it draws paths)."""
    return str(segno.make(otpauth_url, error="m").svg_inline(scale=5, dark="#111", light="#fff", omitsize=False))
