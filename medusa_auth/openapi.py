"""GET /openapi.json: the OpenAPI 3.1 description of the API, a static document kept true by a test."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

bp = Blueprint("openapi", __name__)

DOCUMENT_MAX_AGE = 300


@cache
def document() -> bytes:
    """The document as shipped in the package, read once."""
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """This service's API description, for clients, generators and the schemathesis run in the tests."""
    body = document()
    response = Response(body, mimetype="application/json")
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = DOCUMENT_MAX_AGE
    return response.make_conditional(request)
