"""The pages' side of two-step sign-in: the challenge a browser is answering (``pending_steps``: Flask's signed
cookie, so only the browser that passed the password can finish; an admin's only), and the QR code, drawn here
with segno."""

from __future__ import annotations

import segno

from .. import pending_steps
from ..actors import USER
from ..auth.mfa_service import RECOVERY_CODE
from ..mfa.factors import TOTP
from ..tokens import TokenKind


def pending_challenge() -> pending_steps.PendingStep | None:
    """The admin's sign-in this page started, waiting in this browser for its second factor. Never another actor
    type's (a customer's challenge kept by ``POST /auth/session`` must not become an admin's page session), nor one
    the API keeps (no ``next_path``: its token goes back to the API client, which makes its own session)."""
    pending = pending_steps.pending({TokenKind.MFA_CHALLENGE}, USER)
    return pending if pending is not None and pending.next_path else None


def forget_challenge() -> None:
    pending_steps.forget(TokenKind.MFA_CHALLENGE)


def method_of(entered: str) -> str:
    """Six digits are the app's code; anything else is taken for a recovery code (``xxxxx-xxxxx``)."""
    return TOTP if entered.isdigit() and len(entered) == 6 else RECOVERY_CODE


def qr_svg(otpauth_url: str) -> str:
    """The otpauth URL as an inline SVG QR code (segno escapes nothing into markup: it draws paths)."""
    return str(segno.make(otpauth_url, error="m").svg_inline(scale=5, dark="#111", light="#fff", omitsize=False))
