"""Factors and recovery codes in the database: the TOTP check that accepts a code once, the single-use codes."""

from __future__ import annotations

from typing import Any

from .. import clock
from ..database import db
from ..models import MfaFactor, MfaRecoveryCode, new_id
from . import recovery_codes, totp
from .secrets_at_rest import MfaKeys, SecretUnreadable

TOTP = "totp"
PENDING, ENABLED, DISABLED = "pending", "enabled", "disabled"


def has_enabled_factor(auth_identity_id: str) -> bool:
    found = db.session.execute(
        db.select(MfaFactor.id).filter_by(auth_identity_id=auth_identity_id, status=ENABLED).limit(1)
    ).first()
    return found is not None


def factors_of(auth_identity_id: str) -> list[MfaFactor]:
    return list(
        db.session.execute(
            db.select(MfaFactor).filter_by(auth_identity_id=auth_identity_id).order_by(MfaFactor.created_at)
        ).scalars()
    )


def new_totp_factor(
    keys: MfaKeys, auth_identity_id: str, label: str | None, metadata: dict[str, Any] | None
) -> tuple[MfaFactor, str]:
    """A pending TOTP factor with a new sealed secret (added; the caller commits), and the secret to show once.

    Earlier pending factors of the identity go: an enrolment abandoned half-way leaves nothing behind.
    """
    db.session.execute(db.delete(MfaFactor).filter_by(auth_identity_id=auth_identity_id, status=PENDING))
    secret = totp.new_secret()
    factor = MfaFactor(
        id=new_id("mfa"),
        auth_identity_id=auth_identity_id,
        provider=TOTP,
        status=PENDING,
        label=label,
        metadata_=metadata,
    )
    factor.sealed_secret = keys.seal(factor.id, secret.encode())
    db.session.add(factor)
    return factor, secret


def accept_totp(keys: MfaKeys, factor: MfaFactor, code: str) -> bool:
    """Whether ``code`` is the factor's for now (±1 step) and no code of that step or later was accepted before.

    The conditional UPDATE is the check: of two requests with the same code, one moves ``last_step`` and
    the other finds it moved. The caller commits.
    """
    try:
        secret = keys.open(factor.id, factor.sealed_secret).decode()
    except SecretUnreadable:
        return False  # fail closed: a factor whose key changed accepts nothing (recovery codes still work)
    step = totp.matching_step(secret, code, clock.now(), factor.last_step)
    if step is None:
        return False
    newer = (MfaFactor.id == factor.id) & ((MfaFactor.last_step.is_(None)) | (MfaFactor.last_step < step))
    result = db.session.execute(
        db.update(MfaFactor).where(newer).values(last_step=step, last_used_at=clock.now_datetime()),
        execution_options={"synchronize_session": False},
    )
    accepted = int(getattr(result, "rowcount", 0) or 0) == 1
    if accepted:
        db.session.refresh(factor)
    return accepted


def replace_recovery_codes(keys: MfaKeys, auth_identity_id: str, count: int) -> list[str]:
    """New codes, replacing every earlier one (the caller commits); returned once, kept only as keyed hashes."""
    clear_recovery_codes(auth_identity_id)
    codes = recovery_codes.generate(count)
    db.session.add_all(
        MfaRecoveryCode(code_hash=keys.code_hash(auth_identity_id, code), auth_identity_id=auth_identity_id)
        for code in codes
    )
    return codes


def clear_recovery_codes(auth_identity_id: str) -> None:
    db.session.execute(db.delete(MfaRecoveryCode).filter_by(auth_identity_id=auth_identity_id))


def use_recovery_code(keys: MfaKeys, auth_identity_id: str, code: str) -> bool:
    """Whether ``code`` is an unused code of the identity, using it up (the DELETE is the check); the caller commits."""
    normalized = recovery_codes.normalize(code) if len(code) <= recovery_codes.MAX_INPUT_LENGTH else None
    if normalized is None:
        return False
    code_hash = keys.code_hash(auth_identity_id, normalized)
    result = db.session.execute(
        db.delete(MfaRecoveryCode).filter_by(auth_identity_id=auth_identity_id, code_hash=code_hash)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1
