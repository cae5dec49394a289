"""Browser sessions: server-side rows in the database, and every cookie setting in this one place.

The cookie carries a random id signed with ``COOKIE_SECRET``; the database keeps only the id's SHA-256,
so a copy of the table lets nobody in. Because the rows are shared, a sign-out, a password change or a
deleted user takes effect on every instance at once. A session ends after ``SESSION_IDLE_SECONDS``
without a request or ``SESSION_ABSOLUTE_SECONDS`` after sign-in, whichever comes first.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, after_this_request, current_app, request
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from .clock import now_datetime as utcnow
from .database import db
from .extension import medusa_auth
from .models import BrowserSession, User, as_utc, digest
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


def start(user_id: str, auth_identity_id: str) -> BrowserSession:
    """Sign ``user_id`` in with a new session id (never the one the browser brought: no fixation)."""
    _delete_current_row()
    flask_session.clear()  # a fresh CSRF token too
    raw_id = secrets.token_urlsafe(32)
    now = utcnow()
    absolute = _settings().absolute_seconds
    _delete_expired(user_id, now)
    row = BrowserSession(
        id_hash=digest(raw_id),
        user_id=user_id,
        auth_identity_id=auth_identity_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=absolute),
    )
    db.session.add(row)
    db.session.commit()
    security_event("session_started", user_id=user_id)
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
    """Sign the browser out: the row goes (on every instance at once) and the cookie is cleared."""
    if _delete_current_row():
        security_event("session_ended")
    db.session.commit()
    flask_session.clear()
    request.environ[_ENVIRON_KEY] = None

    @after_this_request
    def clear_cookie(response: Response) -> Response:
        response.delete_cookie(cookie_name(), **_cookie_attributes())
        return response


def end_all_for_user(user_id: str) -> int:
    """End every session of a user (password changed, user disabled); the caller commits."""
    result = db.session.execute(db.delete(BrowserSession).where(BrowserSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def auth_context(row: BrowserSession) -> dict[str, Any]:
    """The claims a session stands for, shaped as an access token's (Medusa's ``auth_context``)."""
    return {
        "actor_id": row.user_id,
        "actor_type": "user",
        "auth_identity_id": row.auth_identity_id,
        "app_metadata": {"user_id": row.user_id},
        "user_metadata": {},
    }


def signed_in_user() -> User | None:
    row = current()
    return db.session.get(User, row.user_id) if row is not None else None


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
    # Joined with its user: a deleted user's sessions end even where the database skips ON DELETE CASCADE.
    row = db.session.execute(
        db.select(BrowserSession)
        .join(User, User.id == BrowserSession.user_id)
        .where(BrowserSession.id_hash == digest(raw_id))
    ).scalar_one_or_none()
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


def _delete_expired(user_id: str, now: datetime) -> None:
    """Sessions a browser never came back to are swept when their user next signs in."""
    idle_cutoff = now - timedelta(seconds=_settings().idle_seconds)
    db.session.execute(
        db.delete(BrowserSession).where(
            BrowserSession.user_id == user_id,
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
