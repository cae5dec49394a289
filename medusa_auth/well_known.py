"""/.well-known: the JWKS (both of the guide's options), a discovery document, and the revocation feed."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.http import quote_etag

from .errors import ApiError
from .extension import medusa_auth
from .keys.material import ALGORITHM_KEY_TYPES

bp = Blueprint("well_known", __name__, url_prefix="/.well-known")

_CONDITIONAL_HEADERS = frozenset({"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_RANGE"})


@bp.get("/jwks.json")
def jwks() -> ResponseReturnValue:
    """The public keys, computed once per key set; 304 when the client's ETag still matches."""
    extension = medusa_auth()
    document = extension.keys.jwks
    if document is None:
        response = jsonify(error="No public key configured")
        response.status_code = 500
        return response
    # Verifiers may cache the set this long (JWKS_MAX_AGE); a new key is published as standby first.
    max_age = extension.jwt.jwks_max_age if extension.jwt else 0
    headers = {"ETag": quote_etag(document.etag), "Cache-Control": f"public, max-age={max_age}"}
    response = Response(document.body, headers=headers, mimetype="application/json")
    # The conditional machinery costs a third of this route; only a conditional request needs it.
    if not _CONDITIONAL_HEADERS.isdisjoint(request.environ):
        return response.make_conditional(request)
    return response


@bp.get("/openid-configuration")
def openid_configuration() -> dict[str, object]:
    """Where the keys are and which algorithms sign, for clients that discover rather than configure.

    ``issuer`` is the ``iss`` every token carries (JWT_ISSUER). Without JWT_ISSUER tokens carry no
    ``iss``, so the document names no issuer: a client that checks ``iss`` against the discovered
    issuer stops at discovery with "no issuer" instead of refusing every token later.
    """
    config = medusa_auth().jwt
    backend_url = config.backend_url if config else ""
    algorithm = config.http.algorithm if config else None
    issuer = config.http.issuer if config else None
    return {
        **({"issuer": issuer} if issuer else {}),
        "jwks_uri": f"{backend_url}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [algorithm] if algorithm else sorted(ALGORITHM_KEY_TYPES),
    }


@bp.get("/revoked-sessions")
def revoked_sessions() -> ResponseReturnValue:
    """The sign-in sessions ended whose tokens may still be live, ``{"ended_sessions": [sid, ...]}``, for
    remote verifiers (``JWT_REVOCATION_URL``). Only random ids: nothing about who they belonged to.

    ``no-cache`` with an ETag: every poll revalidates (a 304 while nothing changed), so no shared cache
    can add its own delay to the bound. 503 when this instance's own list is stale (its verifiers fail closed).
    """
    ended = medusa_auth().ended_sessions
    current = ended.current if ended is not None else None
    if current is None:
        raise ApiError(503, "unexpected_state", "The ended sign-in sessions are unknown on this instance")
    headers = {"ETag": quote_etag(current.etag), "Cache-Control": "public, no-cache"}
    response = Response(current.body, headers=headers, mimetype="application/json")
    if not _CONDITIONAL_HEADERS.isdisjoint(request.environ):
        return response.make_conditional(request)
    return response
