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

    @property
    def backend_url(self) -> str:
        """MEDUSA_BACKEND_URL: the base of every link we mail (never the request's Host header)."""
        if self.jwt is None:
            raise RuntimeError(self.config_error or "the JWT configuration is not loaded")
        return self.jwt.backend_url

    @property
    def user_tokens(self) -> Tokens:
        """Invite tokens: the user module's options (INVITE_VALID_DURATION), on the same keys."""
        options = self.jwt.user_module if self.jwt is not None else self.tokens.options
        return Tokens(self.keys, options)


def auth_state() -> AuthState:
    state: AuthState = current_app.extensions["medusa_auth"]
    return state
