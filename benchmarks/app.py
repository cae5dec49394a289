"""The service exactly as `gunicorn wsgi:app` builds it, plus three routes only the benchmark serves.

``/bench/plain`` is the unprotected baseline; ``/admin/bench/protected`` is the same view under
``/admin`` (a user's token), ``/store/customers/me/bench`` under the customer's prefix (a customer's
token), so the one difference between them is the guard's bearer and actor check. gunicorn serves
``benchmarks.app:build_app()``; the in-process benchmark passes its settings.
"""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from medusa_auth import create_app

BODY = {"ok": True}


def build_app(settings: Mapping[str, Any] | None = None) -> Flask:
    """``create_app(settings)`` with the benchmark routes added."""
    app = create_app(settings)

    @app.get("/bench/plain")
    def plain() -> dict[str, bool]:
        """The baseline: no credential needed."""
        return BODY

    @app.get("/admin/bench/protected")
    def protected() -> dict[str, bool]:
        """The same view behind the guard (any /admin path needs an access token)."""
        return BODY

    @app.get("/store/customers/me/bench")
    def protected_store() -> dict[str, bool]:
        """The same view where only a customer's token opens it (/store/customers/me*)."""
        return BODY

    return app
