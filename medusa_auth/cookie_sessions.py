"""Flask's signed-cookie sessions, with the signing serializer built once instead of on every request.

Flask's ``SecureCookieSessionInterface`` builds an itsdangerous serializer in ``open_session`` on every
request, cookie or not, and that construction (key derivation setup, a trial ``dumps``) was a fifth of
a plain route's time. The serializer holds only its keys and settings, so one per secret serves all.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    """The same cookies as Flask's default; a new serializer only when the secret or its fallbacks change."""

    def __init__(self) -> None:
        self._built_for: tuple[Any, ...] | None = None
        self._serializer: URLSafeTimedSerializer | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's answer, without parsing a Cookie header the request does not have (API clients send none)."""
        if "HTTP_COOKIE" not in request.environ and self.get_signing_serializer(app) is not None:
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        secrets = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if secrets != self._built_for:
            self._serializer = super().get_signing_serializer(app)
            self._built_for = secrets
        return self._serializer
