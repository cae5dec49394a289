"""gunicorn settings, read from the working directory by `gunicorn wsgi:app`."""

import os

from medusa_auth.extensions import db

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
graceful_timeout = 20
# Build the app once in the master: a configuration error (or an unreadable key ring) stops startup
# once, with its one line, instead of every worker failing in turn. Keys are parsed once and the forked
# workers start from that set; with the managed ring each worker then re-reads the ring on its own
# (JWT_KEY_REFRESH_SECONDS, and at once on an unknown kid), so preloading never pins a stale ring.
preload_app = True


def post_fork(server, worker):
    """Connections must not cross a fork: each worker opens its own pool."""
    app = worker.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
