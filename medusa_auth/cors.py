"""CORS as Medusa configures it: ``ADMIN_CORS``, ``AUTH_CORS`` and ``STORE_CORS`` list the origins of a
dashboard or storefront served elsewhere. Only requests carrying one of those origins get CORS headers, with
credentials; none by default, and then flask-cors is not installed at all (it would cost every
request a hook).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS

from .settings import Settings

PREFLIGHT_MAX_AGE_SECONDS = 600


def init_cors(app: Flask, settings: Settings) -> None:
    """Register flask-cors for each area whose origins are listed (credentials allowed for them only)."""
    resources: dict[str | re.Pattern[str], dict[str, Any]] = {
        f"{prefix}/*": {"origins": list(origins)} for prefix, origins in settings.cors_origins.items() if origins
    }
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


def trusted_origins(settings: Settings, path: str) -> frozenset[str]:
    """Origins whose cookie-carrying requests to ``path`` are welcome: ours, and the area's CORS list."""
    for prefix, origins in settings.cors_origins.items():
        if path == prefix or path.startswith(prefix + "/"):
            return frozenset({settings.backend_origin, *origins})
    return frozenset({settings.backend_origin})
