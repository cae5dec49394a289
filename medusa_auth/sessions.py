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

from flask import Flask, Response, after_this_request, current_app, request
from flask import session as flask_session
from itsdangerous import BadSignature, Signer

from .clock import now_datetime as utcnow
from .database import db
from .models import Session, User, as_utc, digest
from .security_log import security_event

DEFAULT_IDLE_SECONDS = 30 * 60
DEFAULT_ABSOLUTE_SECONDS = 12 * 60 * 60
TOUCH_EVERY_SECONDS = 60  # last_seen_at is written at most this often, not on every request
_COOKIE_BASENAME = "medusa_session"
_CSRF_COOKIE_BASENAME = "medusa_csrf"
_NOT_LOADED = object()
# Cached per request in the WSGI environ, not on g: an app context can outlive one request.
_ENVIRON_KEY = "medusa_auth.session"


def init_sessions(app: Flask) -> None:
    """Cookie attributes for our session cookie and for Flask's own (which holds only the CSRF token)."""
    app.config.setdefault("SESSION_IDLE_SECONDS", DEFAULT_IDLE_SECONDS)
    app.config.setdefault("SESSION_ABSOLUTE_SECONDS", DEFAULT_ABSOLUTE_SECONDS)
    secure = app.config["APP_ENV"] != "development"
    app.config.update(
        SESSION_COOKIE_NAME=_cookie_name(_CSRF_COOKIE_BASENAME, secure),
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
    )


def cookie_name() -> str:
    return _cookie_name(_COOKIE_BASENAME, current_app.config["SESSION_COOKIE_SECURE"])


def _cookie_name(basename: str, secure: bool) -> str:
    # __Host-: the browser accepts it only Secure, Path=/, with no Domain, so no subdomain can plant it.
    return f"__Host-{basename}" if secure else basename


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt="medusa_auth.session")


def start(user_id: str, auth_identity_id: str) -> Session:
    """Sign ``user_id`` in with a new session id (never the one the browser brought: no fixation)."""
    _delete_current_row()
    flask_session.clear()  # a fresh CSRF token too
    raw_id = secrets.token_urlsafe(32)
    now = utcnow()
    absolute = int(current_app.config["SESSION_ABSOLUTE_SECONDS"])
    _delete_expired(user_id, now)
    row = Session(
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


def current() -> Session | None:
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
    result = db.session.execute(db.delete(Session).where(Session.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def auth_context(row: Session) -> dict[str, Any]:
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
    config = current_app.config
    return {"path": "/", "secure": config["SESSION_COOKIE_SECURE"], "httponly": True, "samesite": "Lax"}


def _raw_id(cookie: str | None) -> str | None:
    if not cookie or len(cookie) > 256:
        return None
    try:
        return _signer().unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def _load(cookie: str | None) -> Session | None:
    raw_id = _raw_id(cookie)
    if raw_id is None:
        return None
    # Joined with its user: a deleted user's sessions end even where the database skips ON DELETE CASCADE.
    row = db.session.execute(
        db.select(Session).join(User, User.id == Session.user_id).where(Session.id_hash == digest(raw_id))
    ).scalar_one_or_none()
    if row is None:
        return None
    now = utcnow()
    idle = timedelta(seconds=int(current_app.config["SESSION_IDLE_SECONDS"]))
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
    idle_cutoff = now - timedelta(seconds=int(current_app.config["SESSION_IDLE_SECONDS"]))
    db.session.execute(
        db.delete(Session).where(
            Session.user_id == user_id, (Session.expires_at <= now) | (Session.last_seen_at <= idle_cutoff)
        )
    )


def _delete_current_row() -> bool:
    """Delete the row the request's cookie names; whether there was one."""
    raw_id = _raw_id(request.cookies.get(cookie_name()))
    if raw_id is None:
        return False
    result = db.session.execute(db.delete(Session).where(Session.id_hash == digest(raw_id)))
    return bool(getattr(result, "rowcount", 0))
