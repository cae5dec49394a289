"""The one JSON error contract, Medusa's ``{"type": ..., "message": ...}``, for every failure."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from .extensions import db
from .tokens import SigningUnavailable

log = logging.getLogger(__name__)

UNAUTHORIZED_MESSAGE = "Invalid auth token provided"
SIGNING_UNAVAILABLE_MESSAGE = "This instance only verifies tokens (it holds no signing key): sign in at the issuer"

# Medusa's error types for the statuses werkzeug raises on its own.
_TYPE_BY_STATUS = {
    400: "invalid_data",
    401: "unauthorized",
    403: "not_allowed",
    404: "not_found",
    405: "not_allowed",
    409: "conflict",
    413: "invalid_data",
    415: "invalid_data",
    422: "duplicate_error",
    429: "too_many_requests",
    501: "not_implemented",
}


class ApiError(Exception):
    """An error a route or service raises to answer with Medusa's JSON body."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers or {}


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
        response = error_response(status, _TYPE_BY_STATUS.get(status, "unknown_error"), message)
        for name in ("Allow", "WWW-Authenticate", "Retry-After"):
            if name in original.headers:
                response.headers[name] = original.headers[name]
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        db.session.rollback()
        log.error("unhandled error: %s", type(error).__name__, exc_info=error)
        return error_response(500, "unknown_error", "An unknown error occurred.")
