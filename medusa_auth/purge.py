"""Purging rows that grow with use and mean nothing once their time has passed (``flask --app wsgi purge``).

Run from cron (see the README); the request paths also sweep some of these rows as they meet them (a
user's dead sessions at sign-in, a throttle window's ended counters), but only this reaches rows nobody
comes back for. Each step deletes in batches of ``BATCH`` rows, one short transaction each, so a purge of
millions never holds locks for long.

A feature that adds a table of expiring rows (sign-in challenges, OAuth states, ...) adds its ``Step``
to ``STEPS``: a name, the model, and the condition that says a row is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, inspect

from .clock import LEEWAY_SECONDS, now_datetime
from .database import db
from .extension import medusa_auth
from .keys.ring import RETIRED, REVOKED
from .mfa.factors import PENDING
from .models import (
    BrowserSession,
    Invite,
    MfaChallenge,
    MfaFactor,
    OAuthState,
    PasswordReset,
    RateLimitCounter,
    SigningKeyRecord,
    SignInSession,
    Verification,
    WebAuthnChallenge,
)
from .sign_in_sessions import purgeable

BATCH = 5000


@dataclass(frozen=True)
class PurgeOptions:
    now: datetime
    expired_invites_days: int | None = None  # None: keep invites (an admin may still resend an expired one)


@dataclass(frozen=True)
class Step:
    name: str
    model: Any  # a mapped class with a single-column primary key
    # The rows that are over at ``options.now``; None when this step has nothing to do in this configuration.
    expired: Callable[[PurgeOptions], ColumnElement[bool] | None]
    skipped: str = ""  # why, when ``expired`` gives None


def _ended_sessions(options: PurgeOptions) -> ColumnElement[bool]:
    """Past their absolute end, or idle longer than SESSION_IDLE_SECONDS: both refused on sight already."""
    idle = timedelta(seconds=medusa_auth().settings.sessions.idle_seconds)
    return (BrowserSession.expires_at <= options.now) | (BrowserSession.last_seen_at <= options.now - idle)


def _spent_sign_ins(options: PurgeOptions) -> ColumnElement[bool] | None:
    """Sign-in sessions past their absolute end, or ended longer ago than any token of theirs can live."""
    config = medusa_auth().jwt
    return None if config is None else purgeable(options.now, config.http.expires_in)


def _expired_resets(options: PurgeOptions) -> ColumnElement[bool]:
    return PasswordReset.expires_at <= options.now


def _ended_throttle_windows(options: PurgeOptions) -> ColumnElement[bool]:
    return RateLimitCounter.expires_at <= options.now.timestamp()


def _expired_sign_in_states(options: PurgeOptions) -> ColumnElement[bool]:
    """Redirect sign-ins nobody came back from within 10 minutes (with Redis the table stays empty)."""
    return OAuthState.expires_at <= options.now.timestamp()


def _expired_mfa_challenges(options: PurgeOptions) -> ColumnElement[bool]:
    return MfaChallenge.expires_at <= options.now.timestamp()


def _abandoned_mfa_enrolments(options: PurgeOptions) -> ColumnElement[bool]:
    """A factor started and never verified within a day: its secret was shown once and is not coming back."""
    return (MfaFactor.status == PENDING) & (MfaFactor.created_at <= options.now - timedelta(days=1))


def _expired_verification_codes(options: PurgeOptions) -> ColumnElement[bool]:
    """Codes past their expiry that nobody confirmed (a confirmed one records that the entity is verified)."""
    return Verification.verified_at.is_(None) & (Verification.expires_at <= options.now.timestamp())


def _expired_passkey_challenges(options: PurgeOptions) -> ColumnElement[bool]:
    """Passkey challenges nobody answered within 5 minutes (with Redis the table stays empty)."""
    return WebAuthnChallenge.expires_at <= options.now.timestamp()


def _spent_keys(options: PurgeOptions) -> ColumnElement[bool] | None:
    """Revoked keys, and retired ones no longer published, once every token they signed has expired."""
    config = medusa_auth().jwt
    if config is None or config.key_encryption_key is None:
        return None  # no managed ring: the table stays empty
    # The instant a retired key leaves the JWKS (keys.ring.is_published); a revoked key's tokens are over then too.
    over = options.now - timedelta(seconds=config.longest_token_lifetime + LEEWAY_SECONDS)
    return ((SigningKeyRecord.state == REVOKED) & (SigningKeyRecord.revoked_at <= over)) | (
        (SigningKeyRecord.state == RETIRED) & (SigningKeyRecord.retired_at <= over)
    )


def _long_expired_invites(options: PurgeOptions) -> ColumnElement[bool] | None:
    if options.expired_invites_days is None:
        return None
    cutoff = options.now - timedelta(days=options.expired_invites_days)
    return Invite.accepted.is_(False) & (Invite.expires_at <= cutoff)


STEPS: tuple[Step, ...] = (
    Step("browser sessions", BrowserSession, _ended_sessions),
    Step("sign-in sessions", SignInSession, _spent_sign_ins, "no JWT configuration"),
    Step("password resets", PasswordReset, _expired_resets),
    Step("throttle counters", RateLimitCounter, _ended_throttle_windows),
    Step("sign-in states", OAuthState, _expired_sign_in_states),
    Step("MFA challenges", MfaChallenge, _expired_mfa_challenges),
    Step("abandoned MFA enrolments", MfaFactor, _abandoned_mfa_enrolments),
    Step("verification codes", Verification, _expired_verification_codes),
    Step("passkey challenges", WebAuthnChallenge, _expired_passkey_challenges),
    Step("signing keys", SigningKeyRecord, _spent_keys, "no managed key ring"),
    Step("invites", Invite, _long_expired_invites, "kept: pass --expired-invites-days to delete long-expired ones"),
)


def run(options: PurgeOptions | None = None) -> dict[Step, int | None]:
    """Run every step; how many rows each deleted (None: skipped, see ``Step.skipped``)."""
    options = options or PurgeOptions(now=now_datetime())
    counts: dict[Step, int | None] = {}
    for step in STEPS:
        condition = step.expired(options)
        counts[step] = None if condition is None else delete_in_batches(step.model, condition)
    return counts


def delete_in_batches(model: Any, condition: ColumnElement[bool], batch: int | None = None) -> int:
    """DELETE the rows matching ``condition``, ``batch`` at a time, each batch its own transaction."""
    size = batch or BATCH
    (key,) = inspect(model).primary_key
    total = 0
    while True:
        chosen = db.select(key).where(condition).limit(size)
        result = db.session.execute(
            db.delete(model).where(key.in_(chosen)).execution_options(synchronize_session=False)
        )
        db.session.commit()
        deleted = int(getattr(result, "rowcount", 0) or 0)
        total += deleted
        if deleted < size:
            return total
