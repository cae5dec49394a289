"""The before_request hook: find the credential, verify it, put the claims on ``g.auth_context``.

It guards by path, so a route added later under ``/admin`` is protected with no further code.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from flask import Flask, g, request

from .errors import signing_unavailable, unauthorized
from .events import security_event
from .state import auth_state
from .tokens import Claims, InvalidToken, TokenKind, Tokens

# (path prefix, token kinds accepted there); the first matching prefix wins.
PROTECTED_PATHS: tuple[tuple[str, frozenset[TokenKind]], ...] = (
    ("/admin", frozenset({TokenKind.ACCESS})),
    ("/auth/token/refresh", frozenset({TokenKind.ACCESS, TokenKind.REGISTRATION})),
)

# Sign-in and every route that issues a token; a verifier-only instance has no key to sign with.
SIGN_IN_PREFIX = "/auth"

_BEARER = re.compile(r"Bearer +([^\s]+) *", re.IGNORECASE)
_REPEATED_SLASHES = re.compile(r"/{2,}")


def required_kinds(path: str, rule: str | None) -> frozenset[TokenKind] | None:
    """The token kinds a path needs, judged on the raw path and on the route it matched (fail closed)."""
    for prefix, kinds in PROTECTED_PATHS:
        if path_under(prefix, path, rule):
            return kinds
    return None


def path_under(prefix: str, path: str, rule: str | None = None) -> bool:
    """Whether the raw path (repeated slashes merged) or the route it matched lies under ``prefix``."""
    for candidate in (_REPEATED_SLASHES.sub("/", path), rule):
        if candidate is not None and (candidate == prefix or candidate.startswith(prefix.rstrip("/") + "/")):
            return True
    return False


def bearer_token(header: str | None) -> str | None:
    match = _BEARER.fullmatch(header or "")
    return match.group(1) if match else None


def guard_request() -> None:
    rule = request.url_rule.rule if request.url_rule is not None else None
    kinds = required_kinds(request.path, rule)
    if kinds is None:
        return
    g.auth_context = verify_bearer(auth_state().tokens, kinds)


def verify_bearer(tokens: Tokens, kinds: Collection[TokenKind]) -> Claims:
    """The claims of the request's bearer token, or the one 401 (the reason goes to the security log)."""
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is None:
        if header is not None:  # a missing header is an anonymous visit; a mangled one is worth a line
            security_event("token_refused", reason="malformed authorization header", path=request.path)
        raise unauthorized()
    try:
        return tokens.verify(token, kinds)
    except InvalidToken as refused:
        security_event("token_refused", reason=str(refused), path=request.path)
        raise unauthorized() from None


def refuse_sign_in_when_verifier_only() -> None:
    """A verifier-only instance answers /auth with 501 before any password or database work."""
    if path_under(SIGN_IN_PREFIX, request.path) and auth_state().tokens.keys.signer is None:
        raise signing_unavailable()


def init_guard(app: Flask) -> None:
    app.before_request(refuse_sign_in_when_verifier_only)
    app.before_request(guard_request)
