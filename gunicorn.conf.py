"""gunicorn settings, read from the working directory by `gunicorn wsgi:app`."""

import contextlib
import json
import logging
import os
import re
import socket
import time
from pathlib import Path

import gunicorn.glogging
import gunicorn.util
from werkzeug.exceptions import RequestTimeout

from medusa_auth import background
from medusa_auth.database import db
from medusa_auth.errors import error_type

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '9000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or "2")
# Threads: a client that sends its request slowly holds one thread, not a whole worker (finding 7 of
# "Hardening, round two"). Every per-process cache of the service takes a lock; see the README's Deployment.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or "8")
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
accesslog = "-"
# Common Log Format, with the atoms RedactingLogger builds: the route without its query string, no
# Referer, user agent or user name, so no link or token a client sent is ever logged.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s'
graceful_timeout = 20
# A stopping worker runs the background jobs its requests queued (a reset's mail) for at most this long.
BACKGROUND_DRAIN_SECONDS = graceful_timeout / 2
# A request body must arrive within half the worker timeout (15 s by default): a stalled client gets
# 408 and frees its thread, and under the sync worker it gets it before the master kills the worker.
BODY_DEADLINE_SHARE = 0.5
# Build the app once in the master: a configuration error (or an unreadable key ring) stops startup
# once, with its one line, instead of every worker failing in turn. Keys are parsed once and the forked
# workers start from that set; with the managed ring each worker then re-reads the ring on its own
# (JWT_KEY_REFRESH_SECONDS, and at once on an unknown kid), so preloading never pins a stale ring.
preload_app = True
# gunicornc's socket would be one path per user ($HOME/.gunicorn/gunicorn.ctl) shared by every
# instance on the machine; nothing here uses it.
control_socket_disable = True


def post_fork(server, worker):
    """Connections must not cross a fork: each worker opens its own pool."""
    app = worker.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)


def post_worker_init(worker):
    """The worker's app behind the body deadline; its routes spell the paths the logs may show."""
    RedactingLogger.routes = route_segments(worker.wsgi)
    worker.wsgi = BodyDeadline(worker.wsgi, worker.cfg.timeout * BODY_DEADLINE_SHARE)
    redact_every_handler()


def worker_exit(server, worker):
    """A worker stopped in an orderly way (a deploy, a restart) first runs what its requests queued: a reset
    answered 201 must not lose its mail to the interpreter's exit, which stops the background thread."""
    if not background.wait_idle(BACKGROUND_DRAIN_SECONDS):
        worker.log.warning("background jobs still queued after %.0f s were dropped at exit", BACKGROUND_DRAIN_SECONDS)


def when_ready(server):
    """The app's own log handlers (set up while the master preloaded it) redact too."""
    redact_every_handler()


def pre_request(worker, req):
    """gunicorn's default logs the raw path at debug; this logs it as the access log does."""
    worker.log.debug("%s %s", req.method, route_shaped(req.path))


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


# -- slow request bodies --------------------------------------------------------------------------


class BodyDeadline:
    """WSGI middleware: a request body that has not arrived by the deadline ends in 408, not a held thread."""

    def __init__(self, app, seconds):
        self.app, self.seconds = app, seconds

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None and (environ.get("CONTENT_LENGTH") or environ.get("HTTP_TRANSFER_ENCODING")):
            environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], sock, self.seconds)
        return self.app(environ, start_response)


class DeadlineInput:
    """``wsgi.input`` whose reads give up at one deadline for the whole body (no reset by a trickle of bytes)."""

    def __init__(self, body, sock, seconds):
        self.body, self.sock, self.seconds = body, sock, seconds
        self.deadline = time.monotonic() + seconds

    def read(self, size=None):
        return self._bounded(self.body.read, size)

    def readline(self, size=None):
        return self._bounded(self.body.readline, size)

    def readlines(self, size=None):
        return self._bounded(self.body.readlines, size)

    def __iter__(self):
        return iter(self.readline, b"")

    def _bounded(self, read, size):
        previous = self.sock.gettimeout()
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            return read(size)
        except TimeoutError:
            # Nothing more is read from this client (gunicorn would otherwise wait to drain the body).
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)
            raise RequestTimeout(f"The request body did not arrive within {self.seconds:g} s") from None
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(previous)


# -- logs: of what a client sent, only the method and the route -----------------------------------

# The service's ids (a prefix and a ULID) may be logged; any other segment a route does not spell may
# be a token or a password that a client put in the path.
SERVICE_ID = re.compile(r"[a-z]+_[0-9A-HJKMNP-TV-Z]{26}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HIDDEN = "…"
# Redacted from every line of every logger: a query string, and anything shaped like a JWT or a credential.
QUERY_STRING = re.compile(r"\?[^\s\"'<>]+")
CREDENTIAL = re.compile(r"eyJ[\w-]*\.[\w.-]*|\b(?:Bearer|Basic)\s+\S+", re.IGNORECASE)
# In gunicorn's own messages, a client's bytes are quoted (a request line, a header name or value).
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def redact(text):
    """``text`` without query strings, tokens or credentials."""
    return CREDENTIAL.sub(HIDDEN, QUERY_STRING.sub("", text))


def route_shaped(target):
    """A request path as the routes spell it: each other segment, unless a service id, hidden."""
    if not target.startswith("/"):
        return HIDDEN  # an absolute-form target, or nothing parsed
    path = target.split("?", 1)[0]
    return "/".join(s if s in RedactingLogger.routes or SERVICE_ID.fullmatch(s) else HIDDEN for s in path.split("/"))


def route_segments(app):
    """Every literal segment of the app's routes, the configured actor types and providers (the segments of
    /auth/{actor_type}/{provider}: names an operator chose, never a client), and the names of its static files."""
    rules = app.url_map.iter_rules() if hasattr(app, "url_map") else ()
    segments = {segment for rule in rules for segment in rule.rule.split("/") if "<" not in segment}
    actors = getattr(getattr(app, "extensions", {}).get("medusa_auth"), "actors", None)
    if actors is not None:
        segments.update(actors.path_segments())
    for owner in [app, *getattr(app, "blueprints", {}).values()]:
        if getattr(owner, "static_folder", None) and Path(owner.static_folder).is_dir():
            segments.update(path.name for path in Path(owner.static_folder).rglob("*"))
    return frozenset(segments)


class RedactingFormatter(logging.Formatter):
    """Another formatter's output, with ``redact`` applied to the whole line and its traceback."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record):
        return redact(self.inner.format(record))


def redact_every_handler():
    """Every handler of every logger (gunicorn's, the app's, Flask's, werkzeug's) formats through ``redact``."""
    root = logging.getLogger()
    loggers = [root, *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler.formatter, RedactingFormatter):
                handler.setFormatter(RedactingFormatter(handler.formatter))


class RedactingLogger(gunicorn.glogging.Logger):
    """gunicorn's logger, keeping out of every line what a client chose beyond the method and the route."""

    routes = frozenset()  # the literal segments of the app's routes, set in each worker

    def setup(self, cfg):
        super().setup(cfg)
        redact_every_handler()

    def atoms(self, resp, req, environ, request_time):
        """The access log's atoms: the server's own facts and the route-shaped path, nothing else."""
        method = environ.get("REQUEST_METHOD") if environ.get("REQUEST_METHOD") in METHODS else HIDDEN
        path = route_shaped(environ.get("PATH_INFO") or getattr(req, "path", None) or "")
        protocol = environ.get("SERVER_PROTOCOL") or "-"
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "t": self.now(),
            "r": f"{method} {path} {protocol}",
            "m": method,
            "U": path,
            "H": protocol,
            "s": status,
            "b": "-" if sent is None else str(sent),
            "B": sent,
            "T": request_time.seconds,
            "D": request_time.seconds * 1_000_000 + request_time.microseconds,
            "M": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "L": f"{request_time.seconds}.{request_time.microseconds:06d}",
            "p": f"<{os.getpid()}>",
        }

    def critical(self, msg, *args, **kwargs):
        self._log(logging.CRITICAL, msg, args, kwargs)

    def error(self, msg, *args, **kwargs):
        self._log(logging.ERROR, msg, args, kwargs)

    def warning(self, msg, *args, **kwargs):
        self._log(logging.WARNING, msg, args, kwargs)

    def info(self, msg, *args, **kwargs):
        self._log(logging.INFO, msg, args, kwargs)

    def debug(self, msg, *args, **kwargs):
        self._log(logging.DEBUG, msg, args, kwargs)

    def exception(self, msg, *args, **kwargs):
        self._log(logging.ERROR, msg, args, {"exc_info": True, **kwargs})

    def log(self, lvl, msg, *args, **kwargs):
        level = self.LOG_LEVELS.get(lvl.lower(), logging.INFO) if isinstance(lvl, str) else lvl
        self._log(level, msg, args, kwargs)

    def _log(self, level, msg, args, kwargs):
        if self.error_log.isEnabledFor(level):
            self.error_log.log(level, "%s", self._message(str(msg), args), **kwargs)

    @staticmethod
    def _message(msg, args):
        """gunicorn's message with a request's target route-shaped and the client's quoted bytes hidden."""
        if "request" in msg.lower():  # "Error handling request %s %s": the method and the raw URI
            args = tuple(route_shaped(a) if isinstance(a, str) and a.startswith("/") else a for a in args)
        try:
            text = msg % args if args else msg
        except (TypeError, ValueError):  # a message that is not a format string: keep every part
            text = " ".join(map(str, (msg, *args)))
        return QUOTED.sub(f"'{HIDDEN}'", text)


logger_class = RedactingLogger
