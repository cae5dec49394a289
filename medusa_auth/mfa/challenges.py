"""Sign-in challenges: a password (or a provider) proved, the second factor still to come.

A challenge lasts 5 minutes and allows 5 attempts. Each attempt is charged by a conditional UPDATE
before its code is checked, so concurrent guesses cannot exceed the limit; completing it is a
conditional DELETE, so one challenge gives one token.
"""

from __future__ import annotations

from typing import Any

from .. import clock
from ..database import db
from ..models import MfaChallenge

LIFETIME_SECONDS = 5 * 60
MAX_ATTEMPTS = 5


def start(auth_identity_id: str, actor_type: str, auth_provider: str) -> MfaChallenge:
    """A new challenge, added and flushed (its id is known); the caller commits."""
    _sweep(auth_identity_id)
    challenge = MfaChallenge(
        auth_identity_id=auth_identity_id,
        actor_type=actor_type,
        auth_provider=auth_provider,
        attempts=0,
        expires_at=clock.now() + LIFETIME_SECONDS,
    )
    db.session.add(challenge)
    db.session.flush()
    return challenge


def charge_attempt(challenge_id: str, auth_identity_id: str) -> bool:
    """Count one attempt, committed; False when the challenge is spent, expired, completed or not this identity's."""
    live = _live(challenge_id, auth_identity_id) & (MfaChallenge.attempts < MAX_ATTEMPTS)
    result = db.session.execute(
        db.update(MfaChallenge).where(live).values(attempts=MfaChallenge.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0) == 1


def complete(challenge_id: str, auth_identity_id: str) -> bool:
    """The challenge is answered: delete it; True for the one request that did (the caller commits)."""
    result = db.session.execute(db.delete(MfaChallenge).where(_live(challenge_id, auth_identity_id)))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def open_challenge(challenge_id: str, auth_identity_id: str) -> MfaChallenge | None:
    """The identity's challenge if it can still be answered (live, attempts left); None otherwise."""
    live = _live(challenge_id, auth_identity_id) & (MfaChallenge.attempts < MAX_ATTEMPTS)
    return db.session.execute(db.select(MfaChallenge).where(live)).scalar_one_or_none()


def attempts_left(challenge_id: str) -> int:
    attempts = db.session.execute(db.select(MfaChallenge.attempts).filter_by(id=challenge_id)).scalar_one_or_none()
    return 0 if attempts is None else max(0, MAX_ATTEMPTS - attempts)


def to_dict(challenge: MfaChallenge, methods: list[str]) -> dict[str, Any]:
    """Medusa 2.21's ``mfa_challenge``."""
    return {
        "id": challenge.id,
        "methods": methods,
        "expires_at": clock.iso(int(challenge.expires_at)),
        "attempts": challenge.attempts,
        "max_attempts": MAX_ATTEMPTS,
    }


def _live(challenge_id: str, auth_identity_id: str) -> Any:
    return (
        (MfaChallenge.id == challenge_id)
        & (MfaChallenge.auth_identity_id == auth_identity_id)
        & (MfaChallenge.expires_at > clock.now())
    )


def _sweep(auth_identity_id: str) -> None:
    """This identity's expired challenges go when it starts a new one (the purge reaches the rest)."""
    db.session.execute(
        db.delete(MfaChallenge).where(
            (MfaChallenge.auth_identity_id == auth_identity_id) & (MfaChallenge.expires_at <= clock.now())
        )
    )
