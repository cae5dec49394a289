"""The service exactly as `gunicorn wsgi:app` builds it, plus two routes only the benchmark serves.

``/bench/plain`` is the unprotected baseline; ``/admin/bench/protected`` is the same view under
``/admin``, so the one difference between them is the guard's bearer check.
"""

from medusa_auth import create_app

app = create_app()
BODY = {"ok": True}


@app.get("/bench/plain")
def plain() -> dict[str, bool]:
    """The baseline: no credential needed."""
    return BODY


@app.get("/admin/bench/protected")
def protected() -> dict[str, bool]:
    """The same view behind the guard (any /admin path needs an access token)."""
    return BODY
