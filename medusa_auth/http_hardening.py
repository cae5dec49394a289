"""What every response and request gets: security headers, a bounded body, and the client address behind proxies."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

# Request bodies here are a few small JSON fields; anything larger is refused with 413 before parsing.
MAX_CONTENT_LENGTH = 64 * 1024

# Pages load their own stylesheet, script and images, post forms to themselves, and are never framed.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# JSON is data, never a document: nothing may load from it or frame it (OWASP REST Security).
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
# Pages here can carry invite and reset tokens in their URL: no Referer to other sites. Same-origin
# requests keep it, because Flask-WTF's CSRF check on https requires a same-origin Referer.
REFERRER_POLICY = "same-origin"


def security_headers(response: Response) -> Response:
    """The headers every response carries; a view that set its own Content-Security-Policy keeps it."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", PAGE_CSP if response.mimetype == "text/html" else API_CSP)
    if request.is_secure:  # https as the client sees it (ProxyFix reads X-Forwarded-Proto from trusted proxies)
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def refuse_oversized_body() -> None:
    """413 on a declared Content-Length over the limit, even where the view never reads the body."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def init_http_hardening(app: Flask) -> None:
    """Trust exactly TRUSTED_PROXIES hops of X-Forwarded-For/-Proto, cap bodies, and add the security headers."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's own default is None: unlimited
        app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.before_request(refuse_oversized_body)
    app.after_request(security_headers)
