"""Verification codes (an email address proved by a mailed code): single use, 15 minutes, 5 attempts.

A code is 6 random digits kept as a keyed hash; with 5 attempts a code and new codes limited by the
throttle, guessing one is out of reach. Attempts are charged by a conditional UPDATE before the code is
compared, and a confirmation is a conditional UPDATE too, so a code confirms once.
"""

from __future__ import annotations

import hmac
import secrets

from .. import clock
from ..database import db
from ..models import Verification
from .secrets_at_rest import MfaKeys

LIFETIME_SECONDS = 15 * 60
MAX_ATTEMPTS = 5
CODE_PROVIDER = "email"


class NoLiveCode(Exception):
    """No unconfirmed code, or it expired, or its attempts are spent."""


class WrongCode(Exception):
    """Not the code (the attempt stays counted)."""


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def start(keys: MfaKeys, auth_identity_id: str, entity_type: str, entity_id: str) -> tuple[Verification, str]:
    """A new code for the entity, replacing the identity's unconfirmed ones (added; the caller commits)."""
    db.session.execute(
        db.delete(Verification).where(
            (Verification.auth_identity_id == auth_identity_id) & Verification.verified_at.is_(None)
        )
    )
    code = new_code()
    verification = Verification(
        auth_identity_id=auth_identity_id,
        entity_type=entity_type,
        entity_id=entity_id,
        code_provider=CODE_PROVIDER,
        code_hash=keys.code_hash(f"verification:{auth_identity_id}", code),
        attempts=0,
        expires_at=clock.now() + LIFETIME_SECONDS,
    )
    db.session.add(verification)
    db.session.flush()
    return verification, code


def confirm(keys: MfaKeys, auth_identity_id: str, code: str) -> Verification:
    """The verification ``code`` confirms, committed; ``WrongCode`` or ``NoLiveCode`` otherwise."""
    pending = db.session.execute(
        db.select(Verification)
        .where((Verification.auth_identity_id == auth_identity_id) & Verification.verified_at.is_(None))
        .order_by(Verification.expires_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if pending is None:
        raise NoLiveCode()
    live = (
        (Verification.id == pending.id)
        & Verification.verified_at.is_(None)
        & (Verification.attempts < MAX_ATTEMPTS)
        & (Verification.expires_at > clock.now())
    )
    charged = db.session.execute(
        db.update(Verification).where(live).values(attempts=Verification.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    if int(getattr(charged, "rowcount", 0) or 0) != 1:
        raise NoLiveCode()
    if not hmac.compare_digest(pending.code_hash, keys.code_hash(f"verification:{auth_identity_id}", code)):
        raise WrongCode()
    unconfirmed = (Verification.id == pending.id) & Verification.verified_at.is_(None)
    confirmed = db.session.execute(
        db.update(Verification).where(unconfirmed).values(verified_at=clock.now_datetime()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    if int(getattr(confirmed, "rowcount", 0) or 0) != 1:
        raise NoLiveCode()  # a concurrent request confirmed it
    db.session.refresh(pending)
    return pending


def is_verified(auth_identity_id: str, entity_type: str, entity_id: str) -> bool:
    found = db.session.execute(
        db.select(Verification.id)
        .filter_by(auth_identity_id=auth_identity_id, entity_type=entity_type, entity_id=entity_id)
        .where(Verification.verified_at.is_not(None))
        .limit(1)
    ).first()
    return found is not None
