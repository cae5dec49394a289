"""/auth/mfa and /auth/verification routes (SPEC §11): parse, call one function of ``mfa_service``, answer.

The guard has already checked the credential: an access or registration token (or session) of any
actor type on the factor and recovery-code routes, the challenge token alone on the challenge routes (or, with
no Authorization header, the challenge the browser holds: ``pending_steps``), and likewise on the verification
routes a verification token or the browser's pending verification.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from .. import pending_steps
from ..guard import signed_in_by_cookie
from ..request_data import json_object, path_id
from ..tokens import TokenKind
from . import mfa_service, verification_service

bp = Blueprint("mfa", __name__, url_prefix="/auth/mfa")
verification_bp = Blueprint("verification", __name__, url_prefix="/auth/verification")


@bp.get("/factors")
def list_factors() -> dict[str, Any]:
    """The signed-in identity's factors (pending and enabled); never a secret."""
    return {"mfa_factors": mfa_service.list_factors(g.auth_context)}


@bp.post("/factors")
def start_factor() -> dict[str, Any]:
    """Start enrolling a TOTP factor: its secret and ``otpauth_url``, shown this once."""
    return mfa_service.start_factor(g.auth_context, json_object())


@bp.post("/factors/<factor_id>/verify")
def verify_factor(factor_id: str) -> dict[str, Any]:
    """The first code from the authenticator app enables the factor; the caller's sign-in goes on as a new one
    (a bearer gets its ``token``), as every other ends."""
    code = json_object().get("code")
    return mfa_service.verify_factor(g.auth_context, path_id(factor_id, "MFA factor"), code, signed_in_by_cookie())


@bp.delete("/factors/<factor_id>")
def disable_factor(factor_id: str) -> dict[str, Any]:
    """Turn a factor off; an enabled one needs a current code or a recovery code. The caller's sign-in goes on
    as a new one (a bearer gets its ``token``), as every other ends."""
    body = json_object(allow_empty=True)
    factor = path_id(factor_id, "MFA factor")
    return mfa_service.disable_factor(g.auth_context, factor, body, signed_in_by_cookie())


@bp.post("/recovery-codes")
def generate_recovery_codes() -> dict[str, Any]:
    """New recovery codes (``count``, 1 to 50), replacing all earlier ones; shown this once."""
    return {"recovery_codes": mfa_service.generate_recovery_codes(g.auth_context, json_object(allow_empty=True))}


@bp.post("/challenges/<challenge_id>/options")
def challenge_options(challenge_id: str) -> dict[str, Any]:
    """WebAuthn request options to answer a sign-in's challenge with a passkey (bearer: its challenge token, or the
    browser's pending challenge): the identity's own passkeys only, the challenge bound to this sign-in."""
    return mfa_service.challenge_options(g.auth_context, path_id(challenge_id, "MFA challenge"))


@bp.post("/challenges/<challenge_id>/verify")
def verify_challenge(challenge_id: str) -> dict[str, str]:
    """Answer a sign-in's challenge (bearer: its challenge token, or the browser's pending challenge) with a code,
    or a passkey's answer (``webauthn``, after ``options``): the signed-in token (a browser posts it to
    ``/auth/session`` next, as Medusa's JS SDK does)."""
    body = json_object()
    challenge = path_id(challenge_id, "MFA challenge")
    token = mfa_service.verify_challenge(g.auth_context, challenge, body.get("method"), body.get("code"))
    if signed_in_by_cookie():
        pending_steps.forget(TokenKind.MFA_CHALLENGE)  # taken: the browser holds it no more
    return {"token": token}


@verification_bp.post("/request")
def request_verification() -> tuple[dict[str, Any], int]:
    """Mail a code that proves the signed-in identity's email."""
    return {"verification": verification_service.request_code(g.auth_context, json_object())}, 201


@verification_bp.post("/confirm")
def confirm_verification() -> dict[str, Any]:
    """The mailed code: the email is verified, and the next sign-in is an ordinary one."""
    confirmed = verification_service.confirm_code(g.auth_context, json_object())
    if signed_in_by_cookie():
        pending_steps.forget(TokenKind.VERIFICATION)  # taken: the browser signs in again, as a bearer would
    return confirmed
