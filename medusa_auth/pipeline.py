"""The request pipeline, in one deliberate order, with nothing per request that the request does not need.

Before the route (``before_request``, one hook):

1. cheap refusals: a declared body over ``MAX_CONTENT_LENGTH`` (413), before anything reads it;
2. the guard (``guard.py``): which credential the path takes, verified, on ``g.auth_context``; a
   verifier-only instance answers ``/auth`` with 501 there too, before any password or database work.

Methods a route does not have are refused by Flask's routing (405) before any hook runs.

After the route (``after_request``, one hook): the security headers and ``Cache-Control``, set here
only. Errors pass through it too, as JSON (``errors.py``). CORS headers come from flask-cors, which is
installed only when ``ADMIN_CORS`` or ``AUTH_CORS`` lists an origin (``cors.py``).
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from . import cors, guard
from .settings import Settings

# Pages load their own stylesheet, script and images, post forms to themselves, and are never framed.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# JSON is data, never a document: nothing may load from it or frame it (OWASP REST Security).
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
# No Referer leaves for another site (links can carry invite and reset tokens). Same-origin requests
# keep it; the pages, whose own URLs carry tokens, send none at all.
REFERRER_POLICY = "same-origin"
PAGE_REFERRER_POLICY = "no-referrer"
PAGES_PREFIX = "/app"
# The JWKS and discovery document set their own caching; everything else holds tokens or user data.
CACHEABLE_PREFIX = "/.well-known/"


def install(app: Flask, settings: Settings) -> None:
    """The pipeline's two hooks, and ProxyFix for exactly ``TRUSTED_PROXIES`` hops of X-Forwarded-For/-Proto."""
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    limit = settings.max_content_length

    def before_route() -> None:
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        guard.guard_request()

    def after_route(response: Response) -> Response:
        set_security_headers(response)
        return response

    app.before_request(before_route)
    app.after_request(after_route)
    cors.init_cors(app, settings)


def set_security_headers(response: Response) -> None:
    """The headers every response carries, added in one pass; a view that set one of them keeps its own."""
    current = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup
    path = current.path
    wanted = _PAGE_HEADERS if response.mimetype == "text/html" else _API_HEADERS
    if path.startswith(PAGES_PREFIX):
        wanted = _ON_PAGES[wanted is _PAGE_HEADERS]
    elif not path.startswith(CACHEABLE_PREFIX):
        wanted = _NO_STORE[wanted is _PAGE_HEADERS]
    if current.is_secure:  # https as the client sees it (ProxyFix reads X-Forwarded-Proto from trusted proxies)
        wanted = (*wanted, ("Strict-Transport-Security", HSTS))
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])


def _headers(content_security_policy: str, referrer_policy: str, cache: bool) -> tuple[tuple[str, str], ...]:
    return (
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", referrer_policy),
        ("Content-Security-Policy", content_security_policy),
        *((("Cache-Control", "no-store"),) if not cache else ()),
    )


# Every combination, built once: (API, page) for JSON and other data, HTML, the pages, and no-store.
_API_HEADERS = _headers(API_CSP, REFERRER_POLICY, cache=True)
_PAGE_HEADERS = _headers(PAGE_CSP, REFERRER_POLICY, cache=True)
_ON_PAGES = (_headers(API_CSP, PAGE_REFERRER_POLICY, False), _headers(PAGE_CSP, PAGE_REFERRER_POLICY, False))
_NO_STORE = (_headers(API_CSP, REFERRER_POLICY, False), _headers(PAGE_CSP, REFERRER_POLICY, False))
