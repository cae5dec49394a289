"""The before_request hook: find the credential, verify it, check whose it is, put the claims on ``g.auth_context``.

It guards by path, so a route added later under ``/admin`` (or ``/store/customers/me``) is protected
with no further code. A path takes certain token kinds of one actor type: a customer's token on
``/admin``, a user's on ``/store/customers/me``, one actor type's registration token on another's
create route are refused with the same 401 as a forged token. The generic ``/auth/{actor_type}/{provider}``
routes are refused (401, never 404) for a pair that ``AUTH_METHODS_PER_ACTOR`` does not allow.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import Request, g, request

from . import api_keys, pending_steps, sessions
from .actors import CUSTOMER, USER
from .cors import trusted_origins
from .errors import (
    MFA_ENROLMENT_REQUIRED_MESSAGE,
    MFA_REQUIRED_MESSAGE,
    UNAVAILABLE_RETRY_SECONDS,
    ApiError,
    signing_unavailable,
    unauthorized,
)
from .extension import MedusaAuth, medusa_auth
from .security_log import security_event
from .tokens import (
    STEP_KINDS,
    Claims,
    InvalidToken,
    TokenKind,
    Tokens,
    VerificationUnavailable,
    second_factor_pending,
)

ANY_ACTOR = "*"
PATH_ACTOR = "<actor_type>"  # the actor type the route names in its path


@dataclass(frozen=True)
class Need:
    """What a path takes: token kinds, whose (an actor type, any, or the path's), whether a session cookie stands in
    (for a step kind: the sign-in waiting for that step in the browser's signed cookie, ``pending_steps``), and
    whether an actor that MFA_REQUIRED_FOR names may come without a second factor (only to enrol one)."""

    kinds: frozenset[TokenKind]
    actor: str
    cookie: bool = False
    enrolment: bool = False
    api_key: bool = False  # a secret API key over HTTP Basic stands in (Medusa's machines on /admin)


ACCESS = frozenset({TokenKind.ACCESS})
ACCESS_OR_REGISTRATION = frozenset({TokenKind.ACCESS, TokenKind.REGISTRATION})

# (path prefix, what it needs); the first matching prefix wins.
PROTECTED_PATHS: tuple[tuple[str, Need], ...] = (
    # Medusa's two-step invite flow: the invitee has only a registration token (never a cookie) here.
    ("/admin/invites/accept", Need(frozenset({TokenKind.REGISTRATION}), USER)),
    ("/admin", Need(ACCESS, USER, cookie=True, api_key=True)),
    ("/store/customers/me", Need(ACCESS, CUSTOMER, cookie=True)),
    # Creating a customer takes a customer registration token; an access token gets Medusa's 400 there.
    ("/store/customers", Need(ACCESS_OR_REGISTRATION, CUSTOMER, cookie=True)),
    ("/auth/token/refresh", Need(ACCESS_OR_REGISTRATION, ANY_ACTOR, enrolment=True)),
    # A sign-in waiting for its second factor: its challenge token (or the browser's pending challenge) opens this
    # and nothing else.
    ("/auth/mfa/challenges", Need(frozenset({TokenKind.MFA_CHALLENGE}), ANY_ACTOR, cookie=True)),
    ("/auth/mfa/factors", Need(ACCESS_OR_REGISTRATION, ANY_ACTOR, cookie=True, enrolment=True)),
    ("/auth/mfa", Need(ACCESS_OR_REGISTRATION, ANY_ACTOR, cookie=True)),
    # A sign-in waiting for its email to be verified (its token, or the browser's pending verification), or anyone
    # signed in proving theirs.
    (
        "/auth/verification",
        Need(ACCESS_OR_REGISTRATION | {TokenKind.VERIFICATION}, ANY_ACTOR, cookie=True, enrolment=True),
    ),
    # Any actor's passkeys, registered or not (a customer's storefront, the admin's account page).
    ("/auth/passkeys", Need(ACCESS_OR_REGISTRATION, ANY_ACTOR, cookie=True)),
)
# Routes with the actor type in their path, judged on the raw path and on the matched rule alike.
PROTECTED_ROUTES: tuple[tuple[re.Pattern[str], Need], ...] = (
    # A reset token sets a forgotten password; a signed-in person (token or session) changes their own.
    (
        re.compile(r"/auth/(?P<actor_type>[^/]+)/(?P<provider>[^/]+)/update"),
        Need(frozenset({TokenKind.RESET, TokenKind.ACCESS}), PATH_ACTOR, cookie=True),
    ),
)

# Sign-in and every route that issues a token; a verifier-only instance has no key to sign with.
SIGN_IN_PREFIX = "/auth"
# Every storefront route: once a publishable key exists, each request must name a live one (Medusa's).
STORE_PREFIX = "/store"
PUBLISHABLE_KEY_REQUIRED = (
    "Publishable API key required in the request header: x-publishable-api-key. "
    "You can manage your keys in settings in the dashboard."
)
PUBLISHABLE_KEY_INVALID = "A valid publishable key is required to proceed with the request"
SECRET_KEY_AS_BEARER = 'A secret API key goes in HTTP Basic authentication: Authorization: Basic base64("sk_...:")'
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_REPEATED_SLASHES = re.compile(r"/{2,}")
# Every prefix above lies under one of these: a request outside them is let through in one string test.
_GUARDED_ROOTS = tuple(sorted({prefix for prefix, _ in PROTECTED_PATHS} | {SIGN_IN_PREFIX, STORE_PREFIX}))


def required(path: str, rule: str | None) -> tuple[Need, str | None] | None:
    """What a path needs, and the actor type a route names in its path; judged on the raw path and on the
    matched route (fail closed)."""
    path = _merge_slashes(path)
    for prefix, need in PROTECTED_PATHS:
        if _under(prefix, path) or (rule is not None and _under(prefix, rule)):
            return need, None
    for pattern, need in PROTECTED_ROUTES:
        for candidate in (path, rule):
            match = pattern.fullmatch(candidate) if candidate is not None else None
            if match is not None:
                return need, match.group("actor_type")
    return None


def session_kinds(actor_type: str) -> frozenset[TokenKind]:
    """The kinds of token a browser session may hold for ``actor_type``: those some cookie path takes for it."""
    kinds: set[TokenKind] = set()
    for _, need in PROTECTED_PATHS:
        if need.cookie and need.actor == actor_type:
            kinds |= need.kinds
    return frozenset(kinds)


def session_may_hold(kind: TokenKind, claims: Claims) -> bool:
    """Whether a browser may stand for this token: an actor's access token, or a registration token of an actor
    type whose create route takes a session (a customer's; never a user's: invites take bearers); or a sign-in
    waiting for a step whose routes take the browser's pending step (any actor's, as their tokens)."""
    if kind in STEP_KINDS:
        waits = any(need.cookie and kind in need.kinds for _, need in PROTECTED_PATHS)
    else:
        waits = kind in session_kinds(str(claims.get("actor_type")))
    if waits:
        return True
    security_event("session_refused", reason=f"no session holds a {claims.get('actor_type')} {kind} token")
    return False


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
    """The guard step: 501 for sign-in on a verifier-only instance, the actor/provider pair, the path's credential."""
    current = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
    path = _merge_slashes(current.path)
    rule = current.url_rule.rule if current.url_rule is not None else None
    if not path.startswith(_GUARDED_ROOTS) and not (rule or "").startswith(_GUARDED_ROOTS):
        return  # nothing under /admin, /store/customers or /auth: no credential to find, nothing to sign
    if _is_automatic_preflight():
        return
    extension = medusa_auth()
    if _under(SIGN_IN_PREFIX, path):
        if extension.keys.signer is None:
            raise signing_unavailable()
        _check_actor_and_provider(current)
    found = required(path, rule)
    if found is not None:
        g.auth_context = _credential_context(current, extension, *found)
    # After the credential, so a request without one is the 401 it would be anywhere (Medusa checks the key first).
    if path_under(STORE_PREFIX, path, rule):
        _check_publishable_key(current)


def _credential_context(current: Request, extension: MedusaAuth, need: Need, path_actor: str | None) -> dict[str, Any]:
    """The request's credential as the path needs it: a session cookie, a secret API key, or a bearer token."""
    actor = need.actor if need.actor != PATH_ACTOR else path_actor or ""  # a route always names it; "" matches none
    header = current.headers.get("Authorization")
    if need.api_key and api_keys.is_basic(header):
        # A machine's secret key: no person signed in, so no second factor to ask for (MFA_REQUIRED_FOR names
        # people's actor types; "api-key" is refused there at startup).
        return _secret_key_context(header)
    if need.cookie and header is None:
        claims = _cookie_context(need, actor)
    else:
        claims = verify_bearer(extension.tokens, need.kinds, actor)
    if not need.enrolment and claims.get("actor_id") and not claims.get("mfa_enabled"):
        if claims.get("actor_type") in extension.settings.mfa.required_for:
            security_event("mfa_enrolment_required", actor_type=claims.get("actor_type"), path=_logged_path())
            raise unauthorized(MFA_ENROLMENT_REQUIRED_MESSAGE)
    return claims


def signed_in_by_cookie() -> bool:
    """Whether the request's credential is the session cookie (a path that takes one, and no Authorization)."""
    return request.headers.get("Authorization") is None


def _check_actor_and_provider(current: Request) -> None:
    """A generic /auth route for an actor type or provider not allowed: the same 401 whether or not they exist."""
    arguments = current.view_args or {}
    actor_type = arguments.get("actor_type")
    if actor_type is None:
        return
    actors = medusa_auth().actors
    provider = arguments.get("provider")
    allowed = actors.exists(actor_type) if provider is None else actors.allows(actor_type, provider)
    if not allowed:
        security_event("actor_refused", actor_type=str(actor_type)[:64], provider=str(provider)[:64], path=current.path)
        raise unauthorized()


def verify_bearer(tokens: Tokens, kinds: Collection[TokenKind], actor: str = ANY_ACTOR) -> Claims:
    """The claims of the request's bearer token of ``actor``'s, or the one 401 (the reason goes to the security log)."""
    return verified_bearer(tokens, kinds, actor)[1]


def verified_bearer(tokens: Tokens, kinds: Collection[TokenKind], actor: str = ANY_ACTOR) -> tuple[TokenKind, Claims]:
    """``verify_bearer``, also telling which of ``kinds`` the token is."""
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is None:
        if header is not None:  # a missing header is an anonymous visit; a mangled one is worth a line
            security_event("token_refused", reason="malformed authorization header", path=_logged_path())
        raise unauthorized()
    if token.startswith(api_keys.PREFIXES[api_keys.SECRET]):
        security_event("token_refused", reason="secret API key sent as a bearer token", path=_logged_path())
        raise unauthorized(SECRET_KEY_AS_BEARER)
    try:
        kind, claims = tokens.verify_kind(token, kinds)
    except InvalidToken as refused:
        security_event("token_refused", reason=str(refused), path=_logged_path())
        raise unauthorized() from None
    except VerificationUnavailable as unknown:  # fail closed, but the token is not called invalid
        security_event("token_unchecked", reason=str(unknown), path=_logged_path())
        message = "Tokens cannot be checked right now. Try again shortly."
        raise ApiError(503, unknown.error_type, message, {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)}) from None
    if actor != ANY_ACTOR and claims.get("actor_type") != actor:
        reason = f"{claims.get('actor_type')} token where {actor} was expected"
        security_event("token_refused", reason=reason, path=_logged_path())
        raise unauthorized()
    if kind is not TokenKind.MFA_CHALLENGE:  # a challenge token is the sign-in before its second factor
        _require_second_factor(claims)
    return kind, claims


def _require_second_factor(claims: Claims) -> None:
    """Medusa 2.21's 401 for a credential whose identity has a second factor this sign-in has not passed."""
    if second_factor_pending(claims):
        security_event("token_refused", reason="second factor not completed", path=_logged_path())
        raise unauthorized(MFA_REQUIRED_MESSAGE)


def _secret_key_context(header: str) -> dict[str, Any]:
    """The auth context of a live secret key in HTTP Basic, or the one 401 (the reason goes to the security log)."""
    token = api_keys.secret_from_basic(header)
    key_id = medusa_auth().api_keys.find(api_keys.SECRET, token) if token is not None else None
    if key_id is None:
        reason = "malformed secret API key" if token is None else "unknown or revoked secret API key"
        security_event("api_key_refused", reason=reason, path=_logged_path())
        raise unauthorized()
    return api_keys.auth_context(key_id)


def _check_publishable_key(current: Request) -> None:
    """Once a publishable key exists, a /store request must name a live one in x-publishable-api-key (400, Medusa's)."""
    live = medusa_auth().api_keys
    if not live.publishable_required():
        return
    token = current.headers.get(api_keys.PUBLISHABLE_KEY_HEADER)
    if token is None:
        raise ApiError(400, "not_allowed", PUBLISHABLE_KEY_REQUIRED)
    if live.find(api_keys.PUBLISHABLE, token.strip(" ")) is None:
        security_event("api_key_refused", reason="unknown or revoked publishable key", path=_logged_path())
        raise ApiError(400, "not_allowed", PUBLISHABLE_KEY_INVALID)


def _cookie_context(need: Need, actor: str) -> dict[str, Any]:
    """The browser's credential, if the path takes it: the sign-in it holds waiting for one of the path's steps, else
    its session; a state-changing request must come from one of our origins (``_refuse_cross_site``)."""
    step = pending_steps.pending(need.kinds & STEP_KINDS, None if actor == ANY_ACTOR else actor)
    if step is not None:
        _refuse_cross_site()
        # No second factor to ask for: a pending challenge is the sign-in before it, and opens only its challenge.
        return step.claims()
    return _cookie_session_context(need, actor)


def _cookie_session_context(need: Need, actor: str) -> dict[str, Any]:
    """The session cookie's claims, if its actor and kind are the path's."""
    row = sessions.current()
    if row is None:
        raise unauthorized()
    kind = TokenKind.ACCESS if row.actor_id else TokenKind.REGISTRATION
    if (actor != ANY_ACTOR and row.actor_type != actor) or kind not in need.kinds:
        reason = f"{row.actor_type} {kind} session where {actor} was expected"
        security_event("session_refused", reason=reason, path=_logged_path())
        raise unauthorized()
    _refuse_cross_site()
    claims = sessions.auth_context(row)
    _require_second_factor(claims)
    return claims


def _refuse_cross_site() -> None:
    """A state-changing request with a cookie must come from one of our origins: 403 otherwise.

    SameSite=Lax already keeps the cookie off cross-site POSTs; the Origin check also refuses
    same-site neighbours (another subdomain) and browsers without SameSite.
    """
    if request.method not in _SAFE_METHODS and not _from_trusted_origin():
        security_event("cross_site_refused", path=_logged_path(), origin=request.headers.get("Origin"))
        raise ApiError(403, "not_allowed", "Cross-site requests with a session cookie are not allowed")


def _logged_path() -> str:
    """The route a refused request matched, never its raw path: a path segment is client text (it may hold a
    password pasted in the wrong place), and the logs keep only what the service itself spells."""
    return request.url_rule.rule if request.url_rule is not None else "(no route)"


def _from_trusted_origin() -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        # Browsers send Origin on every cross-origin POST/PUT/DELETE; without one, trust Fetch Metadata.
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
    return origin in trusted_origins(medusa_auth().settings, request.path)


def _is_automatic_preflight() -> bool:
    """Flask's own OPTIONS answer (no view runs), which a CORS preflight needs without credentials."""
    return request.method == "OPTIONS" and bool(getattr(request.url_rule, "provide_automatic_options", False))
