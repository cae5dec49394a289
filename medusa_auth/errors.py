"""The one JSON error contract, Medusa's ``{"type": ..., "message": ...}``, for every failure."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from .database import db
from .tokens import SigningUnavailable

log = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Invalid auth token provided"
MFA_REQUIRED_MESSAGE = "MFA verification is required to complete this request"  # Medusa 2.21's words
# MFA_REQUIRED_FOR names the actor type, and this actor has no factor yet: it may only enrol one.
MFA_ENROLMENT_REQUIRED_MESSAGE = "MFA enrolment is required to complete this request"
SIGNING_UNAVAILABLE_MESSAGE = "This instance only verifies tokens (it holds no signing key): sign in at the issuer"

# Medusa's error types for the statuses werkzeug raises on its own.
_TYPE_BY_STATUS = {
    400: "invalid_data",
    401: "unauthorized",
    403: "not_allowed",
    404: "not_found",
    405: "not_allowed",
    408: "invalid_data",
    409: "conflict",
    413: "invalid_data",
    414: "invalid_data",
    415: "invalid_data",
    417: "invalid_data",
    431: "invalid_data",
    422: "duplicate_error",
    429: "too_many_requests",
    501: "not_implemented",
}

# The database cannot be reached or is not answering: the request may succeed later, so 503, not 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
UNAVAILABLE_RETRY_SECONDS = 5


class ApiError(Exception):
    """An error a route or service raises to answer with Medusa's JSON body."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers or {}


def error_type(status: int) -> str:
    """Medusa's error type for an HTTP status."""
    return _TYPE_BY_STATUS.get(status, "unknown_error")


def unauthorized(message: str = UNAUTHORIZED_MESSAGE) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def signing_unavailable() -> ApiError:
    """501 from a verifier-only instance asked to sign in or issue a token."""
    return ApiError(501, "not_implemented", SIGNING_UNAVAILABLE_MESSAGE)


def invalid_data(message: str) -> ApiError:
    return ApiError(400, "invalid_data", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(type=type_, message=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def api_error_response(error: ApiError) -> Response:
    """The JSON answer to an ``ApiError``, its headers (WWW-Authenticate) kept."""
    return error_response(error.status, error.type, error.message, error.headers)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, api_error_response)

    @app.errorhandler(SigningUnavailable)
    def handle_signing_unavailable(_: SigningUnavailable) -> Response:
        error = signing_unavailable()
        return error_response(error.status, error.type, error.message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        # Keep werkzeug's headers (Allow, WWW-Authenticate, Retry-After); replace only the body.
        original = error.get_response()
        status = error.code or 500
        message = error.description or original.status
        response = error_response(status, error_type(status), message)
        for name in ("Allow", "WWW-Authenticate", "Retry-After"):
            if name in original.headers:
                response.headers[name] = original.headers[name]
        return response

    def handle_database_unavailable(error: Exception) -> Response:
        _rollback_quietly()
        # The driver's first line ("connection refused"), never the SQL statement or its parameters.
        orig = getattr(error, "orig", None) or error
        log.error("database unavailable: %s: %s", type(orig).__name__, str(orig).strip().split("\n", 1)[0][:200])
        return service_unavailable("The database is unavailable. Try again shortly.", "database_error")

    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, handle_database_unavailable)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        _rollback_quietly()
        log.error("unhandled error: %s", type(error).__name__, exc_info=error)
        return error_response(500, "unknown_error", "An unknown error occurred.")

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (Flask runs teardowns in reverse).
    app.teardown_appcontext(_end_session_quietly)


def service_unavailable(message: str, type_: str = "unexpected_state") -> Response:
    """503 with Retry-After: a dependency (database, Redis) is down, not the request at fault."""
    return error_response(503, type_, message, {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})


def _end_session_quietly(_: BaseException | None) -> None:
    """End the request's transaction; if the database went away after the answer was ready, keep the answer.

    The ROLLBACK that ends a request runs in the teardown, after the view has answered, and a PostgreSQL
    restart can terminate the connection just before it. No error handler runs during teardown: the
    exception would reach gunicorn, which answers 500 in place of the answer. SQLAlchemy has already
    invalidated the dead connection (the pool replaces it), so there is nothing left to undo.
    """
    try:
        db.session.remove()
    except DATABASE_UNAVAILABLE as error:
        orig = getattr(error, "orig", None) or error
        log.warning("ending a request's transaction failed, the answer stands: %s", type(orig).__name__)
        db.session.remove()  # the session, its dead connection already invalidated, closes cleanly now


def _rollback_quietly() -> None:
    """Roll back the request's session; with the database gone the rollback itself can fail."""
    try:
        db.session.rollback()
    except DATABASE_UNAVAILABLE:
        log.warning("rollback failed: the database is unavailable")
