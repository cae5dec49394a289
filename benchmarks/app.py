"""The service exactly as `gunicorn wsgi:app` builds it, plus two routes only the benchmark serves.

``/bench/plain`` is the unprotected baseline; ``/admin/bench/protected`` is the same view under
``/admin``, so the one difference between them is the guard's bearer check. gunicorn serves
``benchmarks.app:build_app()``; the in-process benchmark passes its settings.
"""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from medusa_auth import create_app

BODY = {"ok": True}


def build_app(settings: Mapping[str, Any] | None = None) -> Flask:
    """``create_app(settings)`` with the two benchmark routes added."""
    app = create_app(settings)

    @app.get("/bench/plain")
    def plain() -> dict[str, bool]:
        """The baseline: no credential needed."""
        return BODY

    @app.get("/admin/bench/protected")
    def protected() -> dict[str, bool]:
        """The same view behind the guard (any /admin path needs an access token)."""
        return BODY

    return app
