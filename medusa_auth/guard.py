"""The before_request hook: find the credential, verify it, put the claims on ``g.auth_context``.

It guards by path, so a route added later under ``/admin`` is protected with no further code.
"""

from __future__ import annotations

import re

from flask import Flask, g, request

from .errors import unauthorized
from .events import security_event
from .state import auth_state
from .tokens import InvalidToken, TokenKind

# (path prefix, token kinds accepted there); the first matching prefix wins.
PROTECTED_PATHS: tuple[tuple[str, frozenset[TokenKind]], ...] = (
    ("/admin", frozenset({TokenKind.ACCESS})),
    ("/auth/token/refresh", frozenset({TokenKind.ACCESS, TokenKind.REGISTRATION})),
)

_BEARER = re.compile(r"Bearer +([^\s]+) *", re.IGNORECASE)
_REPEATED_SLASHES = re.compile(r"/{2,}")


def required_kinds(path: str, rule: str | None) -> frozenset[TokenKind] | None:
    """The token kinds a path needs, judged on the raw path and on the route it matched (fail closed)."""
    for candidate in (_REPEATED_SLASHES.sub("/", path), rule):
        if candidate is None:
            continue
        for prefix, kinds in PROTECTED_PATHS:
            if candidate == prefix or candidate.startswith(prefix + "/"):
                return kinds
    return None


def bearer_token(header: str | None) -> str | None:
    match = _BEARER.fullmatch(header or "")
    return match.group(1) if match else None


def guard_request() -> None:
    rule = request.url_rule.rule if request.url_rule is not None else None
    kinds = required_kinds(request.path, rule)
    if kinds is None:
        return
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is None:
        if header is not None:  # a missing header is an anonymous visit; a mangled one is worth a line
            security_event("token_refused", reason="malformed authorization header", path=request.path)
        raise unauthorized()
    try:
        g.auth_context = auth_state().tokens.verify(token, kinds)
    except InvalidToken as refused:
        security_event("token_refused", reason=str(refused), path=request.path)
        raise unauthorized() from None


def init_guard(app: Flask) -> None:
    app.before_request(guard_request)
