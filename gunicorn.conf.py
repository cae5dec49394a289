"""gunicorn settings, read from the working directory by `gunicorn wsgi:app`."""

import os

from medusa_auth.extensions import db

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
graceful_timeout = 20
# Build the app once in the master: a configuration error stops startup once, with its one line,
# instead of every worker failing in turn; keys are parsed once and shared by the forked workers.
preload_app = True


def post_fork(server, worker):
    """Connections must not cross a fork: each worker opens its own pool."""
    app = worker.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
