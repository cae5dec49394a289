"""Verify an OpenID Connect id_token as narrowly as ``tokens.py`` verifies our own (never ``authlib.jose``).

The key comes from the provider's JWKS through the project's own client (``keys/remote.py``: cached,
size-capped, no redirects, https except to loopback, one refetch per cooldown for an unknown ``kid``)
and pins the algorithm: ``alg: none``, an HMAC keyed with the client secret (which OpenID Connect
allows), and any algorithm the key was not published for are refused. Headers that point elsewhere
for a key (``jku``, ``x5u``, ``jwk``, ``x5c``) and ``crit`` are refused, never followed. Then the claims
of OpenID Connect Core §3.1.3.7: ``iss`` exactly the issuer, ``aud`` holding the client id (and ``azp``
the client id when there are several audiences, or whenever present), ``exp`` not past and ``iat`` not
in the future (with the project's leeway), and ``nonce`` exactly the one sent with this sign-in.
"""

from __future__ import annotations

import hmac
from typing import Any

from .. import clock
from ..keys.keyset import KeySource

# The same narrow reading as our own tokens: canonical base64url, strict JSON (no duplicate members).
from ..tokens import _COMPACT_JWS, InvalidToken, _b64decode, _b64encode, _decode_json, _is_number

MAX_ID_TOKEN_LENGTH = 16 * 1024  # real id_tokens are 1-2 KiB
# Members a provider's id_token header may carry; certificate thumbprints identify, they are not followed.
_ALLOWED_HEADER = frozenset({"alg", "kid", "typ", "x5t", "x5t#S256"})
_MAX_SUB_LENGTH = 255  # OpenID Connect Core §2: sub is at most 255 ASCII characters

Claims = dict[str, Any]


class IdTokenRefused(Exception):
    """The id_token is not to be trusted; the message says which check failed (no token material)."""


def verify_id_token(id_token: str, keys: KeySource, *, issuer: str, client_id: str, nonce: str) -> Claims:
    """The claims of an id_token signed by a key of ``keys`` and issued for this sign-in; else ``IdTokenRefused``."""
    try:
        claims = _verified_claims(id_token, keys)
    except InvalidToken as error:
        raise IdTokenRefused(str(error)) from None
    _check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce)
    return claims


def _verified_claims(id_token: str, keys: KeySource) -> Claims:
    if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(id_token):
        raise IdTokenRefused("it is not a signed JWT")
    encoded_header, encoded_payload, encoded_signature = id_token.split(".")
    header = _decode_json(encoded_header, "header")
    if not header.keys() <= _ALLOWED_HEADER:
        raise IdTokenRefused(f"header parameters not allowed: {', '.join(sorted(header.keys() - _ALLOWED_HEADER))}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IdTokenRefused("its kid is not a string")
    key = keys.find(kid)
    if key is None:
        raise IdTokenRefused("no key of the provider's JWKS has its kid")
    if header.get("alg") != key.algorithm:
        raise IdTokenRefused(f"its algorithm {header.get('alg')!r} is not the provider key's {key.algorithm}")
    signature = _b64decode(encoded_signature)
    if _b64encode(signature) != encoded_signature:
        raise IdTokenRefused("its signature is not canonical base64url")
    if not key.verify(f"{encoded_header}.{encoded_payload}".encode("ascii"), signature):
        raise IdTokenRefused("its signature does not verify with the provider's key")
    return _decode_json(encoded_payload, "payload")


def _check_claims(claims: Claims, *, issuer: str, client_id: str, nonce: str) -> None:
    now, leeway = clock.now(), clock.LEEWAY_SECONDS
    if claims.get("iss") != issuer:
        raise IdTokenRefused("its issuer is not the provider's")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IdTokenRefused("its audience is not this client")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise IdTokenRefused("its authorized party is not this client")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp) or not _is_number(iat):
        raise IdTokenRefused("exp or iat is missing")
    if now > exp + leeway:
        raise IdTokenRefused("it has expired")
    if iat > now + leeway or (claims.get("nbf") is not None and not _not_after(claims["nbf"], now + leeway)):
        raise IdTokenRefused("it is not valid yet")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise IdTokenRefused("its nonce is not this sign-in's")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > _MAX_SUB_LENGTH:
        raise IdTokenRefused("its sub is missing or too long")


def _not_after(value: Any, moment: float) -> bool:
    return _is_number(value) and value <= moment
