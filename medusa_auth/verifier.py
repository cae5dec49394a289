"""``JWTVerifier``: the Flask extension another service installs to trust medusa_auth's tokens.

It needs no key and no database, only where the issuer publishes its JWKS::

    verifier = JWTVerifier(app)                # or JWTVerifier() and later verifier.init_app(app)

    @app.get("/orders")
    @verifier.required
    def orders():
        return {"customer": g.auth_context["actor_id"]}

Settings, read from ``app.config`` at ``init_app``:

- ``JWKS_URL``: the issuer's JWKS (https, or http to loopback); when unset,
  ``$MEDUSA_BACKEND_URL/.well-known/jwks.json``, as the guide's Node.js middleware does.
- ``JWT_ISSUER``, ``JWT_AUDIENCE`` (comma-separated): required in every token when set.
- ``JWT_ALGORITHM``: the one algorithm accepted; unset, any public-key algorithm the issuer publishes.
- ``JWT_PROTECTED_PATHS``: path prefixes guarded before every request (a list, or comma-separated),
  so routes added under them later are protected with no decorator.
- ``JWT_REVOCATION_URL``: the issuer's revocation feed (``$MEDUSA_BACKEND_URL/.well-known/revoked-sessions``),
  polled every ``JWT_REVOCATION_REFRESH_SECONDS`` (default 5) with ``If-None-Match``; a token of an ended
  sign-in session is refused within that plus the issuer's REVOCATION_REFRESH_SECONDS. When no poll has
  succeeded for ``JWT_REVOCATION_MAX_STALENESS_SECONDS`` (default 60), every token is refused (fail
  closed). Unset: no revocation check (the guide's simple mode: one JWKS, nothing else).

Tokens of the actor types in ``actor_types`` (default: ``("user",)``, the admins) open the routes;
``JWTVerifier(app, actor_types=("customer",))`` protects a storefront service with shoppers' tokens.

Refusals are medusa_auth's own 401 (``{"type": "unauthorized", ...}`` with ``WWW-Authenticate: Bearer``),
built by the same guard code; the verified claims are on ``g.auth_context``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request

from .errors import ApiError, api_error_response
from .guard import path_under, verify_bearer
from .keys.config import TokenOptions
from .keys.remote import JwksPolicy, RemoteJwks, check_jwks_url, remote_algorithms
from .revocation import FeedPolicy, RefreshingEndedSessions, feed_loader
from .settings import ConfigError
from .tokens import TokenKind, Tokens

EXTENSION_NAME = "medusa_auth.verifier"
JWKS_PATH = "/.well-known/jwks.json"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class _AppVerifier:
    """What one app's verifier holds: its key source, its token rules and the prefixes it guards."""

    keys: RemoteJwks
    tokens: Tokens
    prefixes: tuple[str, ...]
    ended_sessions: RefreshingEndedSessions | None  # None: no JWT_REVOCATION_URL, no revocation check


class JWTVerifier:
    """Verifies bearer tokens against a remote JWKS, by decorator or by path prefix."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        kinds: Collection[TokenKind] = (TokenKind.ACCESS,),
        actor_types: Collection[str] = ("user",),
        policy: JwksPolicy | None = None,
    ):
        self.kinds = frozenset(kinds)
        self.actor_types = frozenset(actor_types)  # whose tokens open the routes (a customer's too, if named)
        self.policy = policy
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the settings, build the JWKS client (nothing is fetched yet) and install the guard."""
        keys = RemoteJwks(jwks_url(app.config), algorithms=_algorithms(app.config), policy=self.policy)
        options = TokenOptions(
            algorithm=app.config.get("JWT_ALGORITHM") or "",
            keyid="",
            issuer=app.config.get("JWT_ISSUER") or None,
            audience=_names(app.config.get("JWT_AUDIENCE")),
            expires_in=0,  # a verifier issues nothing
        )
        ended = revocation_feed(app.config)
        app.extensions[EXTENSION_NAME] = _AppVerifier(
            keys, Tokens(keys, options, self.actor_types, ended), _names(app.config.get("JWT_PROTECTED_PATHS")), ended
        )
        app.before_request(self._guard_prefixes)
        app.register_error_handler(ApiError, api_error_response)

    def required(self, view: View) -> View:
        """Decorate a view so it runs only for a valid bearer token, its claims on ``g.auth_context``."""

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            g.auth_context = verify_bearer(_app_verifier().tokens, self.kinds)
            return view(*args, **kwargs)

        return cast(View, guarded)

    def counters(self) -> dict[str, int]:
        """The current app's JWKS client counters (fetches, not_modified, failures, hits, misses, ...)."""
        return _app_verifier().keys.counters()

    def _guard_prefixes(self) -> None:
        verifier = _app_verifier()
        rule = request.url_rule.rule if request.url_rule is not None else None
        if any(path_under(prefix, request.path, rule) for prefix in verifier.prefixes):
            g.auth_context = verify_bearer(verifier.tokens, self.kinds)


def jwks_url(config: Mapping[str, Any]) -> str:
    """``JWKS_URL``, or the JWKS under ``MEDUSA_BACKEND_URL``; ``ConfigError`` when neither is usable."""
    if config.get("JWKS_URL"):
        url, variable = str(config["JWKS_URL"]), "JWKS_URL"
    elif config.get("MEDUSA_BACKEND_URL"):
        url, variable = str(config["MEDUSA_BACKEND_URL"]).rstrip("/") + JWKS_PATH, "MEDUSA_BACKEND_URL"
    else:
        raise ConfigError("JWKS_URL is not set: JWTVerifier needs the issuer's JWKS (or MEDUSA_BACKEND_URL)")
    try:
        return check_jwks_url(url)
    except ValueError as error:
        raise ConfigError(f"{variable}: {error}") from error


def revocation_feed(config: Mapping[str, Any]) -> RefreshingEndedSessions | None:
    """The ended sign-in sessions polled from ``JWT_REVOCATION_URL``, or None when it is unset."""
    url = config.get("JWT_REVOCATION_URL")
    if not url:
        return None
    policy = FeedPolicy(
        refresh_seconds=_seconds(config, "JWT_REVOCATION_REFRESH_SECONDS", FeedPolicy.refresh_seconds),
        max_staleness=_seconds(config, "JWT_REVOCATION_MAX_STALENESS_SECONDS", FeedPolicy.max_staleness),
    )
    try:
        load = feed_loader(str(url), policy)
    except ValueError as error:
        raise ConfigError(f"JWT_REVOCATION_URL: {error}") from error
    return RefreshingEndedSessions(load, policy.refresh_seconds, policy.max_staleness)


def _seconds(config: Mapping[str, Any], variable: str, default: float) -> float:
    value = config.get(variable)
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds < 86400:
        raise ConfigError(f"{variable}={value!r} must be a number of seconds")
    return seconds


def _algorithms(config: Mapping[str, Any]) -> frozenset[str]:
    try:
        return remote_algorithms(config.get("JWT_ALGORITHM") or None)
    except ValueError as error:
        raise ConfigError(f"JWT_ALGORITHM: {error}") from error


def _names(value: str | Collection[str] | None) -> tuple[str, ...]:
    """A comma-separated setting (or a list of strings) as a tuple, blanks dropped."""
    items = value.split(",") if isinstance(value, str) else (value or ())
    return tuple(item.strip() for item in items if item.strip())


def _app_verifier() -> _AppVerifier:
    verifier: _AppVerifier = current_app.extensions[EXTENSION_NAME]
    return verifier
