"""What an app instance builds once at startup from its configuration, and reads on every request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .config import JwtConfig
from .keys.keyset import KeySource
from .passwords import Passwords
from .tokens import Tokens


@dataclass
class AuthState:
    jwt: JwtConfig | None  # None only when the CLI runs on a configuration the server would refuse
    keys: KeySource  # a static KeySet, or the remote JWKS on a verifier-only instance
    tokens: Tokens  # access and registration tokens (the http options)
    passwords: Passwords
    config_error: str | None = None


def auth_state() -> AuthState:
    state: AuthState = current_app.extensions["medusa_auth"]
    return state
