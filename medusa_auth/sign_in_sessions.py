"""Sign-in sessions: every sign-in is a row, and every token it issues carries the row's id (``sid``).

A sign-in (password, third-party callback, registration, a completed second factor, a page's form)
calls ``start``; ``identity_service.token_for`` signs tokens of it, with ``sid`` and ``auth_time`` (the
sign-in's second), never expiring after the session's absolute end (``SESSION_ABSOLUTE_SECONDS``).
Refresh keeps both and asks ``live`` first. Ending a session (``end``, ``end_all``) sets ``ended_at``
and deletes its browser sessions; every worker learns the ended sids within REVOCATION_REFRESH_SECONDS
(``revocation.ended_sids``, read by ``revocation.RefreshingEndedSessions``) and refuses their tokens from then on.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement

from . import clock
from .database import db
from .errors import unauthorized
from .extension import medusa_auth
from .models import BrowserSession, SignInSession, as_utc
from .security_log import security_event
from .tokens import SignIn

# Why a session ended (the security log's and the row's words).
SIGNED_OUT = "signed_out"  # DELETE /auth/session, POST /auth/logout
CREDENTIALS_CHANGED = "credentials_changed"  # a password change or reset
REVOKED_BY_ADMIN = "revoked_by_admin"  # POST /admin/users/{id}/sessions/revoke
ACTOR_REMOVED = "actor_removed"  # a deleted or disabled user


def start(auth_identity_id: str, actor_type: str, auth_provider: str) -> SignInSession:
    """Record a sign-in of ``auth_identity_id`` as ``actor_type`` through ``auth_provider`` (committed)."""
    now = clock.now_datetime()
    row = SignInSession(
        auth_identity_id=auth_identity_id,
        actor_type=actor_type,
        auth_provider=auth_provider,
        created_at=now,
        expires_at=now + timedelta(seconds=medusa_auth().settings.sessions.absolute_seconds),
    )
    db.session.add(row)
    db.session.commit()
    security_event(
        "sign_in_session_started",
        sid=row.id,
        auth_identity_id=auth_identity_id,
        actor_type=actor_type,
        provider=auth_provider,
    )
    return row


def token_claims(row: SignInSession) -> SignIn:
    """What each token of the session carries of it: ``sid``, ``auth_time``, and the end no ``exp`` passes."""
    return SignIn(row.id, _seconds(row.created_at), _seconds(row.expires_at))


def live(claims: dict[str, Any]) -> SignInSession:
    """The token's sign-in session, if it is the token's own and has neither ended nor outlived its absolute
    lifetime; Medusa's 401 otherwise (a token without ``sid`` too: nothing says it was not signed out)."""
    sid = claims.get("sid")
    row = db.session.get(SignInSession, sid) if isinstance(sid, str) else None
    reason = _not_live(row, claims)
    if reason is not None:
        security_event("token_refused", reason=reason, sid=str(sid)[:64])
        raise unauthorized()
    assert row is not None
    return row


def _not_live(row: SignInSession | None, claims: dict[str, Any]) -> str | None:
    if row is None:
        return "no sign-in session" if "sid" in claims else "token without a sign-in session (sid)"
    if row.auth_identity_id != claims.get("auth_identity_id") or row.actor_type != claims.get("actor_type"):
        return "sign-in session of another identity or actor type"
    if row.ended_at is not None:
        return f"sign-in session ended ({row.ended_reason})"
    if clock.now_datetime() >= as_utc(row.expires_at):
        return "sign-in session past its absolute lifetime"
    return None


def end(sid: str, reason: str) -> bool:
    """End one sign-in session and its browser sessions; whether it was live. The caller commits."""
    return _end(SignInSession.id == sid, reason) > 0


def end_all(auth_identity_id: str, reason: str, *, keep: str | None = None) -> int:
    """End every live sign-in session of an identity (but ``keep``) and their browser sessions; how many.

    The one call for "everything this identity signed in to ends": a password change or reset, a
    deleted or disabled user, an admin's revoke, a global sign-out. The caller commits.
    """
    condition = SignInSession.auth_identity_id == auth_identity_id
    if keep is not None:
        condition = condition & (SignInSession.id != keep)
    return _end(condition, reason, auth_identity_id)


SCOPES = ("local", "global", "others")  # Supabase's sign-out scopes


def sign_out(claims: dict[str, Any], scope: str) -> int:
    """``POST /auth/logout``: end the token's sign-in session (local), every one of its identity (global),
    or every one but it (others); committed. How many ended. A token that is not of a live sign-in
    session gets the 401 (nothing to sign out)."""
    session = live(claims)
    if scope == "local":
        ended = int(end(session.id, SIGNED_OUT))
    else:
        ended = end_all(session.auth_identity_id, SIGNED_OUT, keep=session.id if scope == "others" else None)
    db.session.commit()
    return ended


def _end(which: ColumnElement[bool], reason: str, auth_identity_id: str | None = None) -> int:
    now = clock.now_datetime()
    live_rows = which & SignInSession.ended_at.is_(None) & (SignInSession.expires_at > now)
    sids = list(db.session.execute(db.select(SignInSession.id).where(live_rows)).scalars())
    if not sids:
        return 0
    db.session.execute(
        db.update(SignInSession)
        .where(SignInSession.id.in_(sids))
        .values(ended_at=now, ended_reason=reason)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        db.delete(BrowserSession)
        .where(BrowserSession.sign_in_session_id.in_(sids))
        .execution_options(synchronize_session=False)
    )
    for sid in sids:
        security_event("sign_in_session_ended", sid=sid, reason=reason, **_identity(auth_identity_id))
    return len(sids)


def _identity(auth_identity_id: str | None) -> dict[str, str]:
    return {"auth_identity_id": auth_identity_id} if auth_identity_id else {}


def purgeable(now: datetime, token_lifetime: int) -> ColumnElement[bool]:
    """Rows no token can need any more: past their absolute end, or ended longer ago than a token lives."""
    leeway = timedelta(seconds=clock.LEEWAY_SECONDS)
    return (SignInSession.expires_at <= now - leeway) | (
        SignInSession.ended_at <= now - timedelta(seconds=token_lifetime) - leeway
    )


def _seconds(moment: datetime) -> int:
    return math.ceil(as_utc(moment).timestamp())
