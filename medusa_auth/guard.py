"""The before_request hook: find the credential, verify it, put the claims on ``g.auth_context``.

It guards by path, so a route added later under ``/admin`` is protected with no further code.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from flask import g, request

from . import sessions
from .cors import trusted_origins
from .errors import ApiError, signing_unavailable, unauthorized
from .extension import medusa_auth
from .security_log import security_event
from .tokens import Claims, InvalidToken, TokenKind, Tokens

# (path prefix, token kinds accepted there); the first matching prefix wins.
PROTECTED_PATHS: tuple[tuple[str, frozenset[TokenKind]], ...] = (
    # Medusa's two-step invite flow: the invitee has only a registration token (never a cookie) here.
    ("/admin/invites/accept", frozenset({TokenKind.REGISTRATION})),
    ("/admin", frozenset({TokenKind.ACCESS})),
    ("/auth/user/emailpass/update", frozenset({TokenKind.RESET})),
    ("/auth/token/refresh", frozenset({TokenKind.ACCESS, TokenKind.REGISTRATION})),
)

# Sign-in and every route that issues a token; a verifier-only instance has no key to sign with.
SIGN_IN_PREFIX = "/auth"
# Where a browser's session cookie stands in for an access token (the rule above must want ACCESS).
COOKIE_PATHS = ("/admin",)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_REPEATED_SLASHES = re.compile(r"/{2,}")
# Every prefix above lies under one of these: a request outside them is let through in one string test.
_GUARDED_ROOTS = tuple(sorted({prefix for prefix, _ in PROTECTED_PATHS} | {SIGN_IN_PREFIX}))


def required_kinds(path: str, rule: str | None) -> frozenset[TokenKind] | None:
    """The token kinds a path needs, judged on the raw path and on the route it matched (fail closed)."""
    path = _merge_slashes(path)
    for prefix, kinds in PROTECTED_PATHS:
        if _under(prefix, path) or (rule is not None and _under(prefix, rule)):
            return kinds
    return None


def path_under(prefix: str, path: str, rule: str | None = None) -> bool:
    """Whether the raw path (repeated slashes merged) or the route it matched lies under ``prefix``."""
    return _under(prefix, _merge_slashes(path)) or (rule is not None and _under(prefix, rule))


def _under(prefix: str, path: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def _merge_slashes(path: str) -> str:
    return _REPEATED_SLASHES.sub("/", path) if "//" in path else path


def bearer_token(header: str | None) -> str | None:
    """The credential of ``Bearer <token>`` (scheme in any case, spaces around the token allowed).

    No character scan here: a token with any character a compact JWS has not is refused by
    ``tokens.verify`` as malformed, and a cached token is the exact string of one that was not.
    """
    scheme, _, rest = (header or "").partition(" ")
    token = rest.strip(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def guard_request() -> None:
    """The pipeline's guard step: 501 for sign-in on a verifier-only instance, then the path's credential."""
    current = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
    path = _merge_slashes(current.path)
    rule = current.url_rule.rule if current.url_rule is not None else None
    if not path.startswith(_GUARDED_ROOTS) and not (rule or "").startswith(_GUARDED_ROOTS):
        return  # nothing under /admin or /auth: no credential to find, nothing to sign
    if _is_automatic_preflight():
        return
    extension = medusa_auth()
    if _under(SIGN_IN_PREFIX, path) and extension.keys.signer is None:
        raise signing_unavailable()
    kinds = required_kinds(path, rule)
    if kinds is None:
        return
    header = current.headers.get("Authorization")
    if header is None and TokenKind.ACCESS in kinds and any(_under(prefix, path) for prefix in COOKIE_PATHS):
        g.auth_context = _cookie_session_context()
        return
    g.auth_context = verify_bearer(extension.tokens, kinds)


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


def _cookie_session_context() -> dict[str, Any]:
    """The session cookie's claims; a state-changing request must come from one of our origins.

    SameSite=Lax already keeps the cookie off cross-site POSTs; the Origin check also refuses
    same-site neighbours (another subdomain) and browsers without SameSite.
    """
    row = sessions.current()
    if row is None:
        raise unauthorized()
    if request.method not in _SAFE_METHODS and not _from_trusted_origin():
        security_event("cross_site_refused", path=request.path, origin=request.headers.get("Origin"))
        raise ApiError(403, "not_allowed", "Cross-site requests with a session cookie are not allowed")
    return sessions.auth_context(row)


def _from_trusted_origin() -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        # Browsers send Origin on every cross-origin POST/PUT/DELETE; without one, trust Fetch Metadata.
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
    return origin in trusted_origins(medusa_auth().settings, request.path)


def _is_automatic_preflight() -> bool:
    """Flask's own OPTIONS answer (no view runs), which a CORS preflight needs without credentials."""
    return request.method == "OPTIONS" and bool(getattr(request.url_rule, "provide_automatic_options", False))
