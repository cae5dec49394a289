"""Verification (SPEC §11): AUTH_VERIFICATIONS_PER_ACTOR names the actor/provider pairs whose email must be
proved; such a sign-in answers Medusa 2.21's verification form until a mailed code confirms it."""

from __future__ import annotations

from typing import Any

from .. import clock, mail
from ..database import db
from ..errors import invalid_data, unauthorized
from ..extension import medusa_auth
from ..mfa import verification
from ..models import AuthIdentity, Verification, isoformat, normalize_email
from ..request_data import metadata_field
from ..security_log import security_event
from ..tokens import TokenKind
from . import identity_service, throttle

INVALID_CODE = "Invalid verification code"
NO_LIVE_CODE = "Verification code is expired or has no attempts left: request a new one"


def required_entity(identity: AuthIdentity, actor_type: str, provider: str) -> tuple[str, str] | None:
    """The (entity type, entity id) this sign-in must verify before it is one, or None."""
    entity_type = medusa_auth().settings.mfa.verification_for(actor_type, provider)
    if entity_type is None:
        return None
    entity_id = entity_of(identity, provider)
    if entity_id is not None and verification.is_verified(identity.id, entity_type, entity_id):
        return None
    return entity_type, entity_id or ""


def answer(
    identity: AuthIdentity,
    user_metadata: dict[str, Any] | None,
    actor_type: str,
    provider: str,
    entity: tuple[str, str],
) -> dict[str, Any]:
    """Medusa 2.21's verification form: a token that opens only /auth/verification, and what to verify."""
    entity_type, entity_id = entity
    token = medusa_auth().tokens.issue_step_token(
        TokenKind.VERIFICATION,
        entity_type,
        identity.id,
        user_metadata or {},
        verification.LIFETIME_SECONDS,
        identity.tokens_valid_from or 0,
        actor_type=actor_type,
        auth_provider=provider,
    )
    security_event("verification_required", auth_identity_id=identity.id, actor_type=actor_type, provider=provider)
    form = {"entity_id": entity_id, "entity_type": entity_type, "code_provider": verification.CODE_PROVIDER}
    return {"token": token, "verification_required": True, "verification": {**form, "verified_at": None}}


def request_code(claims: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Mail a code for the signed-in identity's own email (at most as often as the reset mail's throttle allows)."""
    identity = identity_service.current_identity(claims)
    entity_type, entity_id = body.get("entity_type"), body.get("entity_id")
    _check_code_provider(body)
    metadata_field(body)  # Medusa takes metadata; it is checked like every other, and not kept
    if entity_type != "email":
        raise invalid_data("entity_type must be email")
    provider = (
        claims.get("auth_provider") if isinstance(claims.get("auth_provider"), str) else identity_service.PROVIDER
    )
    own = entity_of(identity, str(provider))
    if not isinstance(entity_id, str) or own is None or normalize_email(entity_id) != own:
        raise invalid_data("entity_id must be the email of the identity signed in")
    pending, code = verification.start(medusa_auth().mfa_keys, identity.id, entity_type, own)
    db.session.commit()
    if throttle.check_reset(own):  # past its limits nothing more is mailed; the answer stays the same
        message = mail.from_templates(
            own, "Your verification code", "verification", code=code, minutes=verification.LIFETIME_SECONDS // 60
        )
        mail.send_in_background(message)
        security_event("verification_requested", auth_identity_id=identity.id, entity_type=entity_type)
    return _to_dict(pending)


def confirm_code(claims: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The code confirms the entity: ``{entity_id, entity_type, code_provider, verified_at}``."""
    identity = identity_service.current_identity(claims)
    _check_code_provider(body)
    code = body.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise invalid_data("code must be a non-empty string")
    try:
        confirmed = verification.confirm(medusa_auth().mfa_keys, identity.id, code.strip())
    except verification.WrongCode:
        security_event("verification_failed", auth_identity_id=identity.id, reason="wrong code")
        raise unauthorized(INVALID_CODE) from None
    except verification.NoLiveCode:
        security_event("verification_failed", auth_identity_id=identity.id, reason="no live code")
        raise unauthorized(NO_LIVE_CODE) from None
    security_event("verification_confirmed", auth_identity_id=identity.id, entity_type=confirmed.entity_type)
    return {key: value for key, value in _to_dict(confirmed).items() if key != "id" and key != "expires_at"}


def entity_of(identity: AuthIdentity, provider: str) -> str | None:
    """The email a provider identity of ``provider`` stands for (emailpass: its key; others: the profile's)."""
    for provider_identity in identity.provider_identities:
        if provider_identity.provider != provider:
            continue
        if provider == identity_service.PROVIDER:
            return provider_identity.entity_id
        email = (provider_identity.user_metadata or {}).get("email")
        return normalize_email(email) if isinstance(email, str) else None
    return None


def _check_code_provider(body: dict[str, Any]) -> None:
    if body.get("code_provider", verification.CODE_PROVIDER) != verification.CODE_PROVIDER:
        raise invalid_data(f"code_provider must be {verification.CODE_PROVIDER}")


def _to_dict(row: Verification) -> dict[str, Any]:
    return {
        "id": row.id,
        "entity_id": row.entity_id,
        "entity_type": row.entity_type,
        "code_provider": row.code_provider,
        "expires_at": clock.iso(int(row.expires_at)),
        "verified_at": isoformat(row.verified_at),
    }
