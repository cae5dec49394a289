"""gunicorn settings, read from the working directory by `gunicorn wsgi:app`."""

import json
import os

import gunicorn.util

from medusa_auth.database import db
from medusa_auth.errors import error_type

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
# The path without its query string and no Referer: links carrying invite or reset tokens stay out of the log.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'
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


def json_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals (request line or headers too long, malformed HTTP) as Medusa's JSON error.

    gunicorn has no hook for these and writes an HTML page that echoes the request line (which may
    hold a token); this writes only the reason. Replaces gunicorn.util.write_error in every worker.
    """
    body = json.dumps({"type": error_type(status_int), "message": reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin1") + body)


gunicorn.util.write_error = json_error
