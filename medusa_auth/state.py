"""What an app instance builds once at startup from its configuration, and reads on every request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .config import JwtConfig
from .keys.keyset import KeySource
from .keys.ring import KeySealer
from .passwords import Passwords
from .tokens import Tokens


@dataclass
class AuthState:
    jwt: JwtConfig | None  # None only when the CLI runs on a configuration the server would refuse
    keys: KeySource  # a static KeySet, or the managed ring refreshing itself from the database
    tokens: Tokens  # access and registration tokens (the http options)
    passwords: Passwords
    config_error: str | None = None
    sealer: KeySealer | None = None  # set when the managed key ring is in use


def auth_state() -> AuthState:
    state: AuthState = current_app.extensions["medusa_auth"]
    return state
