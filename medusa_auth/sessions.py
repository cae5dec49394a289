"""Browser sessions: server-side rows in the database, and every cookie setting in this one place.

The cookie carries a random id signed with ``COOKIE_SECRET``; the database keeps only the id's SHA-256,
so a copy of the table lets nobody in. Because the rows are shared, a sign-out, a password change or a
deleted user takes effect on every instance at once. A session ends after ``SESSION_IDLE_SECONDS``
without a request or ``SESSION_ABSOLUTE_SECONDS`` after sign-in, whichever comes first.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, after_this_request, current_app, request
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, Select, or_
from sqlalchemy.orm import aliased

from . import sign_in_sessions
from .actors import ACTOR_MODELS, USER, actor_key, identities_of
from .clock import now_datetime as utcnow
from .database import db
from .extension import medusa_auth
from .mfa import factors
from .models import BrowserSession, SignInSession, User, as_utc, digest
from .security_log import security_event
from .settings import SessionSettings
from .settings import cookie_name as prefixed_cookie_name

TOUCH_EVERY_SECONDS = 60  # last_seen_at is written at most this often, not on every request
_COOKIE_BASENAME = "medusa_session"
_NOT_LOADED = object()
# Cached per request in the WSGI environ, not on g: an app context can outlive one request.
_ENVIRON_KEY = "medusa_auth.session"


def _settings() -> SessionSettings:
    return medusa_auth().settings.sessions


def cookie_name() -> str:
    return prefixed_cookie_name(_COOKIE_BASENAME, _settings().secure_cookies)


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="medusa_auth.session")


def start(
    actor_type: str,
    actor_id: str,
    auth_identity_id: str,
    auth_provider: str = "emailpass",
    sign_in: SignInSession | None = None,
    mfa_completed_at: str | None = None,
) -> BrowserSession:
    """Sign an actor in with a new session id (never the one the browser brought: no fixation).

    ``actor_id`` is ``""`` for an identity not yet linked to an actor of ``actor_type`` (where a
    session of that kind is useful: creating a customer). ``sign_in``: the sign-in session of the
    token the browser brought (``POST /auth/session``); without one (a page's sign-in), a new one starts.
    The browser session belongs to it: it ends when the sign-in does, and never outlives its absolute end.
    ``mfa_completed_at``: when the sign-in passed its second factor, kept as a token keeps it (an identity
    with an enabled factor and no completion has a session every guarded route refuses).
    """
    _set_aside()
    if sign_in is None:
        sign_in = sign_in_sessions.start(auth_identity_id, actor_type, auth_provider)
    raw_id = secrets.token_urlsafe(32)
    now = utcnow()
    absolute = _settings().absolute_seconds
    _delete_expired(auth_identity_id, now)
    row = BrowserSession(
        id_hash=digest(raw_id),
        actor_type=actor_type,
        actor_id=actor_id,
        auth_provider=auth_provider,
        auth_identity_id=auth_identity_id,
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + timedelta(seconds=absolute), as_utc(sign_in.expires_at)),
        sign_in_session_id=sign_in.id,
        mfa_enabled=factors.has_enabled_factor(auth_identity_id),
        mfa_challenge_completed_at=mfa_completed_at,
    )
    db.session.add(row)
    db.session.commit()
    security_event("session_started", actor_type=actor_type, actor_id=actor_id, auth_identity_id=auth_identity_id)
    request.environ[_ENVIRON_KEY] = row
    value = _signer().sign(raw_id).decode()

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(cookie_name(), value, max_age=absolute, **_cookie_attributes())
        return response

    return row


def current() -> BrowserSession | None:
    """The request's live session, or None; an expired one is deleted on sight."""
    cached = request.environ.get(_ENVIRON_KEY, _NOT_LOADED)
    if cached is not _NOT_LOADED:
        return cached
    row = _load(request.cookies.get(cookie_name()))
    request.environ[_ENVIRON_KEY] = row
    return row


def end() -> None:
    """Sign the browser out: its sign-in session ends (with every bearer token of it, on every instance),
    the row goes and the cookie is cleared."""
    row = current()
    if row is not None and row.sign_in_session_id is not None:
        sign_in_sessions.end(row.sign_in_session_id, sign_in_sessions.SIGNED_OUT)
    if _set_aside():
        security_event("session_ended")
    db.session.commit()
    _clear_cookie()


def await_step() -> None:
    """A sign-in waiting for a step (``pending_steps``) begins in this browser: the session it had ends here, as
    ``start`` ends it (its sign-in session goes on: bearer tokens of it are not this browser's to end), and its
    cookie is cleared; the caller commits."""
    if _set_aside():
        security_event("session_ended", reason="another sign-in began")
        _clear_cookie()


def _set_aside() -> bool:
    """Another sign-in begins, or this one ends: the browser's session row goes and Flask's cookie is emptied (the
    pages' CSRF token and any pending step with it); whether there was a row."""
    deleted = _delete_current_row()
    flask_session.clear()
    request.environ[_ENVIRON_KEY] = None
    return deleted


def _clear_cookie() -> None:
    @after_this_request
    def clear_cookie(response: Response) -> Response:
        response.delete_cookie(cookie_name(), **_cookie_attributes())
        return response


def end_all_for(auth_identity_id: str, actors: dict[str, str]) -> int:
    """End every session of an identity and of its actors (``actor type -> id``); the caller commits."""
    ended = BrowserSession.auth_identity_id == auth_identity_id
    for actor_type, actor_id in actors.items():
        ended = ended | ((BrowserSession.actor_type == actor_type) & (BrowserSession.actor_id == actor_id))
    result = db.session.execute(db.delete(BrowserSession).where(ended))
    return int(getattr(result, "rowcount", 0) or 0)


def end_actor_access(actor_type: str, actor_id: str, reason: str) -> int:
    """End everything an actor is signed in with: the sign-in sessions of its identities (their bearer tokens,
    on every instance) and its browser sessions. For a deleted or disabled user, an admin's revoke; the
    caller commits. How many sign-in sessions ended."""
    ended = 0
    for auth_identity_id in identities_of(actor_type, actor_id):
        ended += sign_in_sessions.end_all(auth_identity_id, reason)
    # Browser sessions from before sign-in sessions existed (and any other of the actor's).
    same_actor = (BrowserSession.actor_type == actor_type) & (BrowserSession.actor_id == actor_id)
    db.session.execute(db.delete(BrowserSession).where(same_actor))
    return ended


def auth_context(row: BrowserSession) -> dict[str, Any]:
    """The claims a session stands for, shaped as the token it was started with (Medusa's ``auth_context``).

    ``iat`` is the second after the sign-in's: a credentials change deletes the sessions started before
    it, so a session that still exists was started in or after the change's second, and the change's
    marker (``tokens_valid_from``) is that second plus one; a session must not look older than it is.
    """
    return {
        "actor_id": row.actor_id,
        "actor_type": row.actor_type,
        "auth_identity_id": row.auth_identity_id,
        "auth_provider": row.auth_provider,
        "app_metadata": {actor_key(row.actor_type): row.actor_id} if row.actor_id else {},
        "user_metadata": {},
        "mfa_enabled": row.mfa_enabled,
        "mfa_challenge_completed_at": row.mfa_challenge_completed_at,
        "iat": math.floor(as_utc(row.created_at).timestamp()) + 1,
        **({"sid": row.sign_in_session_id} if row.sign_in_session_id else {}),
    }


def signed_in_user() -> User | None:
    """The user the browser's session stands for (the pages are the admins'), or None."""
    row = current()
    if row is None or row.actor_type != USER or not row.actor_id:
        return None
    return db.session.get(User, row.actor_id)


def _cookie_attributes() -> dict[str, Any]:
    return {"path": "/", "secure": _settings().secure_cookies, "httponly": True, "samesite": "Lax"}


def _raw_id(cookie: str | None) -> str | None:
    if not cookie or len(cookie) > 256:
        return None
    try:
        return _signer().unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def _load(cookie: str | None) -> BrowserSession | None:
    raw_id = _raw_id(cookie)
    if raw_id is None:
        return None
    row = db.session.execute(_LIVE_SESSION.where(BrowserSession.id_hash == digest(raw_id))).scalar_one_or_none()
    if row is None:
        return None
    now = utcnow()
    idle = timedelta(seconds=_settings().idle_seconds)
    if now >= as_utc(row.expires_at) or now >= as_utc(row.last_seen_at) + idle:
        db.session.delete(row)
        db.session.commit()
        return None
    if now - as_utc(row.last_seen_at) >= timedelta(seconds=TOUCH_EVERY_SECONDS):
        row.last_seen_at = now
        db.session.commit()
    return row


def _delete_expired(auth_identity_id: str, now: datetime) -> None:
    """Sessions a browser never came back to are swept when their identity next signs in."""
    idle_cutoff = now - timedelta(seconds=_settings().idle_seconds)
    db.session.execute(
        db.delete(BrowserSession).where(
            BrowserSession.auth_identity_id == auth_identity_id,
            (BrowserSession.expires_at <= now) | (BrowserSession.last_seen_at <= idle_cutoff),
        )
    )


def _delete_current_row() -> bool:
    """Delete the row the request's cookie names; whether there was one."""
    raw_id = _raw_id(request.cookies.get(cookie_name()))
    if raw_id is None:
        return False
    result = db.session.execute(db.delete(BrowserSession).where(BrowserSession.id_hash == digest(raw_id)))
    return bool(getattr(result, "rowcount", 0))


def _live_session_query() -> Select[BrowserSession]:
    """A session row whose actor still exists, in one query: a deleted user's or customer's sessions end
    even where the database skips ON DELETE CASCADE. A session of an actor type without a table here
    can only be a registration session (``actor_id`` "").
    """
    query = db.select(BrowserSession)
    alive: list[ColumnElement[bool]] = [BrowserSession.actor_id == ""]
    for actor_type, model in ACTOR_MODELS.items():
        actor = aliased(model)
        same_actor = (BrowserSession.actor_type == actor_type) & (actor.id == BrowserSession.actor_id)
        query = query.outerjoin(actor, same_actor)
        alive.append(actor.id.is_not(None))
    return query.where(or_(*alive))


_LIVE_SESSION = _live_session_query()


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    """Flask's own signed cookie (it holds only the pages' CSRF token), with its serializer built once.

    Flask's interface builds an itsdangerous serializer on every request, cookie or not, and that
    construction was a fifth of a plain route's time; one per secret serves every request. A request
    without a Cookie header (every API client) gets an empty session without parsing anything.
    """

    def __init__(self) -> None:
        self._built_for: tuple[Any, ...] | None = None
        self._serializer: URLSafeTimedSerializer | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and self.get_signing_serializer(app) is not None:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to write or vary for a session nobody read or changed (every API request)."""
        if session.accessed or session.modified or session:
            super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        secrets = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if secrets != self._built_for:
            self._serializer = super().get_signing_serializer(app)
            self._built_for = secrets
        return self._serializer
