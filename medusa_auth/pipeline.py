"""The request pipeline, in one deliberate order, with nothing per request that the request does not need.

Before the route (``before_request``, one hook):

1. cheap refusals: a declared body over ``MAX_CONTENT_LENGTH`` (413), before anything reads it;
2. the guard (``guard.py``): which credential the path takes, verified, on ``g.auth_context``; a
   verifier-only instance answers ``/auth`` with 501 there too, before any password or database work.

Methods a route does not have are refused by Flask's routing (405) before any hook runs.

Around the app (``SecurityHeaders``, WSGI middleware): the security headers and ``Cache-Control`` of
every response, errors included, set here only. It adds them to the header list the response starts
with, so no request pays for a hook, context lookups or werkzeug's header checks of constant values.
CORS headers come from flask-cors, which is installed only when ``ADMIN_CORS`` or ``AUTH_CORS`` lists
an origin (``cors.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from . import cors, guard
from .settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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
    """The pipeline's hook and middleware, and ProxyFix for exactly ``TRUSTED_PROXIES`` hops of X-Forwarded-*."""
    limit = settings.max_content_length

    def before_route() -> None:
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge()
        guard.guard_request()

    app.before_request(before_route)
    cors.init_cors(app, settings)
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:  # outside: the headers see the scheme the client used
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


class SecurityHeaders:
    """WSGI middleware: the headers every response carries; a view that set one of them keeps its own."""

    def __init__(self, app: WSGIApplication):
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start_with_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower(): value for name, value in headers}
            html = present.get("content-type", "").startswith("text/html")
            wanted = headers_for(environ.get("PATH_INFO", ""), html, environ.get("wsgi.url_scheme") == "https")
            headers.extend(header for header in wanted if header[0].lower() not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_headers)


def headers_for(path: str, html: bool, https: bool) -> tuple[tuple[str, str], ...]:
    """The security and cache headers of a response to ``path`` (each combination built once, below)."""
    if path.startswith(PAGES_PREFIX):
        wanted = _ON_PAGES[html]
    elif path.startswith(CACHEABLE_PREFIX):
        wanted = _CACHEABLE[html]
    else:
        wanted = _NO_STORE[html]
    return (*wanted, _HSTS) if https else wanted


def _headers(content_security_policy: str, referrer_policy: str, cache: bool) -> tuple[tuple[str, str], ...]:
    return (
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", referrer_policy),
        ("Content-Security-Policy", content_security_policy),
        *((("Cache-Control", "no-store"),) if not cache else ()),
    )


# Every combination, built once, indexed by "is it HTML": data (JSON) or a page.
_CACHEABLE = (_headers(API_CSP, REFERRER_POLICY, True), _headers(PAGE_CSP, REFERRER_POLICY, True))
_ON_PAGES = (_headers(API_CSP, PAGE_REFERRER_POLICY, False), _headers(PAGE_CSP, PAGE_REFERRER_POLICY, False))
_NO_STORE = (_headers(API_CSP, REFERRER_POLICY, False), _headers(PAGE_CSP, REFERRER_POLICY, False))
_HSTS = ("Strict-Transport-Security", HSTS)
