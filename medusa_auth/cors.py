"""CORS as Medusa configures it: ``ADMIN_CORS`` and ``AUTH_CORS`` list the origins of a dashboard or
storefront served elsewhere. Only requests carrying one of those origins get CORS headers, with
credentials; none by default.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_cors import CORS

from .config import ConfigError

# URL area -> the variable that lists the origins allowed to call it from a browser.
CORS_AREAS = {"/admin": "ADMIN_CORS", "/auth": "AUTH_CORS"}
PREFLIGHT_MAX_AGE_SECONDS = 600


def parse_origins(value: str | None, variable: str) -> tuple[str, ...]:
    """Comma-separated ``scheme://host[:port]`` origins; a wildcard is refused (it would carry cookies)."""
    origins = []
    for item in (value or "").split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ConfigError(f"{variable}: {origin!r} is not an origin like https://admin.example.com")
        origins.append(origin)
    return tuple(origins)


def init_cors(app: Flask) -> None:
    """Register flask-cors for each area whose origins are listed (credentials allowed for them only)."""
    resources: dict[str | re.Pattern[str], dict[str, Any]] = {}
    for prefix, variable in CORS_AREAS.items():
        origins = parse_origins(app.config.get(variable), variable)
        app.config[f"{variable}_ORIGINS"] = origins
        if origins:
            resources[f"{prefix}/*"] = {"origins": list(origins)}
    if resources:
        # always_send=False: a request without an allowed Origin (a server, curl, a same-origin page) gets
        # no CORS headers at all, rather than flask-cors's default of naming the configured origins anyway.
        CORS(
            app,
            resources=resources,
            supports_credentials=True,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
            always_send=False,
        )


def trusted_origins(path: str) -> frozenset[str]:
    """Origins whose cookie-carrying requests to ``path`` are welcome: ours, and the area's CORS list."""
    backend = urlsplit(current_app.config["MEDUSA_BACKEND_URL"])
    own = f"{backend.scheme}://{backend.netloc}"
    for prefix, variable in CORS_AREAS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return frozenset({own, *current_app.config.get(f"{variable}_ORIGINS", ())})
    return frozenset({own})
