"""Issue and verify every kind of token; knows keys and config, nothing of Flask requests.

Verification is written out here rather than delegated to a general JOSE decoder because what it
accepts must be narrow: a compact JWS of at most a few KiB, a header of only ``alg``/``kid``/``typ``
(so ``jku``, ``x5u``, ``jwk``, ``x5c`` and ``crit`` are refused, never followed), the key chosen by
``kid`` from the in-memory set alone, the algorithm pinned to that key, strict JSON (no duplicate
members, no NaN), and the token's kind decided before anyone reads its claims. The signature itself
is checked by joserfc's algorithm implementations (for RSA, the same ``cryptography`` call with the
padding and hash taken from joserfc once per key). A verified token is remembered per worker; see
token_cache.py for why a hit is as safe as verifying again.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeGuard, cast

from . import clock
from .keys.config import TokenOptions
from .keys.keyset import KeySource
from .strict_json import reject_constant as _reject_constant
from .strict_json import reject_duplicate_members as _reject_duplicates
from .token_cache import TokenCache, VerifiedToken

MAX_TOKEN_LENGTH = 8192  # a real access token is well under 2 KiB
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
_MAX_KID_LENGTH = 256
_MAX_VERIFIED_HEADERS = 16

Claims = dict[str, Any]


class TokenKind(StrEnum):
    ACCESS = "access"  # an actor's bearer token (a user's, a customer's, ...)
    REGISTRATION = "registration"  # an auth identity not yet linked to an actor of the token's type (actor_id "")
    INVITE = "invite"
    RESET = "reset"
    MFA_CHALLENGE = "mfa_challenge"  # a sign-in waiting for its second factor: opens only its challenge
    VERIFICATION = "verification"  # a sign-in waiting for a verified email: opens only /auth/verification


# The `typ` header each kind is signed with; access and registration tokens keep Medusa's "JWT"
# so that tokens from Medusa and from the guide's Node.js code are read as what they are.
_TYP = {
    TokenKind.ACCESS: "JWT",
    TokenKind.REGISTRATION: "JWT",
    TokenKind.INVITE: "invite+jwt",
    TokenKind.RESET: "reset+jwt",
    TokenKind.MFA_CHALLENGE: "mfa-challenge+jwt",
    TokenKind.VERIFICATION: "verification+jwt",
}
# The claim only each kind of unfinished sign-in carries (decided with its `typ` before anything else is read).
_STEP_CLAIM = {TokenKind.MFA_CHALLENGE: "mfa_challenge_id", TokenKind.VERIFICATION: "verification_entity_type"}
# The kinds of a sign-in with a step still to take (a second factor, a verification).
STEP_KINDS = frozenset(_STEP_CLAIM)


# The kinds a sign-in session issues (they carry its ``sid``), refused once it has ended.
SESSION_KINDS = frozenset({TokenKind.ACCESS, TokenKind.REGISTRATION})

# Kinds no other signer makes: this service's signer writes low-s ES256 signatures, so these need them.
_SIGNED_ONLY_HERE = frozenset({TokenKind.INVITE, TokenKind.RESET, TokenKind.MFA_CHALLENGE, TokenKind.VERIFICATION})


class InvalidToken(Exception):
    """The token is refused; the reason is for the security log, never for the client."""


class VerificationUnavailable(Exception):
    """A check the token needs cannot be made now (the ended sign-in sessions are unknown): the token is
    neither accepted nor called invalid; the guard answers 503, so a client keeps it and retries."""

    def __init__(self, reason: str, error_type: str = "unexpected_state"):
        super().__init__(reason)
        self.error_type = error_type  # Medusa's error type for the 503


class ExpiredToken(InvalidToken):
    """A well-formed, correctly signed token past its ``exp`` (pages and errors say so apart)."""


@dataclass(frozen=True)
class IssuedToken:
    """A signed token with the jti and expiry its issuer stores (as a hash) to make it single use."""

    token: str
    jti: str
    expires_at: int


class SigningUnavailable(Exception):
    """This instance holds no private key (a verifier-only instance)."""


class Revocations(Protocol):
    """The ended sign-in sessions a process knows (revocation.RefreshingEndedSessions)."""

    def refusal(self, sid: str | None) -> str | None:
        """Why a token of sign-in session ``sid`` must be refused, or None; ``VerificationUnavailable`` when
        the ended sessions are not known well enough to tell."""
        ...


@dataclass(frozen=True)
class SignIn:
    """What an access or registration token carries of the sign-in that issued it (OpenID Connect's names)."""

    sid: str
    auth_time: int  # the sign-in's NumericDate; refreshed tokens keep it
    not_after: int  # the sign-in's absolute end: no token of it expires later


# Medusa's two actor types: what a Tokens built without a configuration (a verifier, a test) knows.
DEFAULT_ACTOR_TYPES = frozenset({"user", "customer"})


class Tokens:
    """Signs and verifies with one key set and one set of options (issuer, audience, lifetime).

    ``actor_types``: the actor types whose access and registration tokens exist (the extension passes
    the configured ones); a token naming any other type is of no kind, refused like a forged one.
    ``revocations``: the ended sign-in sessions, checked on every verification of an access or
    registration token, cached or not (None: no check, the guide's simple verifier).
    """

    def __init__(
        self,
        keys: KeySource,
        options: TokenOptions,
        actor_types: Collection[str] = DEFAULT_ACTOR_TYPES,
        revocations: Revocations | None = None,
    ):
        self.keys = keys
        self.options = options
        self.actor_types = frozenset(actor_types)
        self.revocations = revocations
        self.cache = TokenCache()  # its own: entries were checked against these options
        # Header segments of tokens whose signature verified (a signer uses one or two); only these
        # skip parsing, so a forger cannot fill this, and a full table just means parsing again.
        self._verified_headers: dict[str, Claims] = {}

    # -- issuing -----------------------------------------------------------------------------

    def issue_auth_token(
        self,
        auth_identity_id: str,
        actor_id: str | None,
        user_metadata: dict[str, Any],
        earliest_iat: int = 0,
        *,
        actor_type: str = "user",
        auth_provider: str = "emailpass",
        mfa_enabled: bool = False,
        mfa_challenge_completed_at: str | None = None,
        sign_in: SignIn | None = None,
    ) -> str:
        """Medusa 2.21's token for an auth identity as one actor: access once that actor is linked, else registration.

        ``app_metadata`` carries only this actor's link (Medusa copies every link of the identity: a
        storefront need not learn that its shopper is also an admin). ``earliest_iat``: the identity's
        ``tokens_valid_from``, so a token minted in the very second its credentials changed is not
        refused with the ones minted before the change. ``sign_in``: the session the token belongs to
        (``sid``, ``auth_time``); the token expires by the session's absolute end at the latest.
        ``mfa_enabled``: the identity has an enabled second factor; ``mfa_challenge_completed_at``: when
        this sign-in passed it (ISO time).
        """
        claims = self._auth_claims(auth_identity_id, actor_id, user_metadata, actor_type, auth_provider)
        claims["mfa_enabled"] = mfa_enabled
        claims["mfa_challenge_completed_at"] = mfa_challenge_completed_at
        not_after = None
        if sign_in is not None:
            claims |= {"sid": sign_in.sid, "auth_time": sign_in.auth_time}
            not_after = sign_in.not_after
        kind = TokenKind.ACCESS if actor_id else TokenKind.REGISTRATION
        return self.issue(kind, claims, self.options.expires_in, earliest_iat, not_after).token

    def issue_step_token(
        self,
        kind: TokenKind,
        step: str,
        auth_identity_id: str,
        user_metadata: dict[str, Any],
        lifetime: int,
        earliest_iat: int = 0,
        *,
        actor_type: str,
        auth_provider: str,
    ) -> str:
        """Medusa 2.21's token of a sign-in with a step still to take (``actor_id: ""``): a second factor
        (``step``: the challenge id) or a verification (the entity type). Of its own kind, it is never
        taken for a registration token and opens nothing but that step's routes."""
        self._check_actor_type(actor_type)
        claims = step_claims(kind, step, auth_identity_id, actor_type, auth_provider, user_metadata)
        return self.issue(kind, claims, lifetime, earliest_iat).token

    def _auth_claims(
        self, auth_identity_id: str, actor_id: str | None, user_metadata: dict[str, Any], actor_type: str, provider: str
    ) -> Claims:
        self._check_actor_type(actor_type)
        return _actor_claims(auth_identity_id, actor_id, user_metadata, actor_type, provider)

    def _check_actor_type(self, actor_type: str) -> None:
        if actor_type not in self.actor_types:
            raise ValueError(f"unknown actor type {actor_type!r}")

    def sign(self, kind: TokenKind, claims: Claims, lifetime: int) -> str:
        return self.issue(kind, claims, lifetime).token

    def issue(
        self, kind: TokenKind, claims: Claims, lifetime: int, earliest_iat: int = 0, not_after: int | None = None
    ) -> IssuedToken:
        """``sign``, also returning the jti and expiry (for tokens stored as a hash); ``exp`` at most ``not_after``."""
        signer = self.keys.signer
        if signer is None:
            raise SigningUnavailable()
        now, jti = clock.now(), str(uuid.uuid4())
        issued_at = max(now, min(earliest_iat, now + 1))  # never more than a second ahead: well inside the leeway
        expires_at = issued_at + lifetime if not_after is None else min(issued_at + lifetime, not_after)
        payload: Claims = {**claims, "iat": issued_at, "exp": expires_at, "jti": jti}
        if self.options.issuer:
            payload["iss"] = self.options.issuer
        if self.options.audience:
            audience = self.options.audience
            payload["aud"] = audience[0] if len(audience) == 1 else list(audience)
        header = {"alg": signer.algorithm, "typ": _TYP[kind], "kid": signer.kid}
        signing_input = f"{_b64_json(header)}.{_b64_json(payload)}"
        token = f"{signing_input}.{_b64encode(signer.sign(signing_input.encode()))}"
        return IssuedToken(token, jti, expires_at)

    # -- verifying ---------------------------------------------------------------------------

    def verify(self, token: str, kinds: Collection[TokenKind]) -> Claims:
        """The claims of a valid token of one of ``kinds``; ``InvalidToken`` for anything else."""
        return self.verify_kind(token, kinds)[1]

    def verify_kind(self, token: str, kinds: Collection[TokenKind]) -> tuple[TokenKind, Claims]:
        """``verify``, also telling which of ``kinds`` the token is (decided here, never read from its claims)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed")
        verified = self.cache.get(token, clock.LEEWAY_SECONDS)
        if verified is None or self.keys.find(verified.kid) is not verified.key:
            verified = self._verify_afresh(token)
            self.cache.put(token, verified)
        # Per call, never cached: the same token may be presented where another kind is expected.
        if verified.kind not in kinds:
            raise InvalidToken(f"{verified.kind} token where {'/'.join(kinds)} was expected")
        if self.revocations is not None and verified.kind in SESSION_KINDS:
            # After the cache, on every call: a hit never outlives its sign-in session.
            refusal = self.revocations.refusal(verified.claims.get("sid"))
            if refusal is not None:
                self.cache.discard(token)
                raise InvalidToken(refusal)
        kind = cast(TokenKind, verified.kind)  # the cache stores what _kind_of decided
        return kind, dict(verified.claims)  # a copy: a caller changing its claims cannot change the cache's

    def _verify_afresh(self, token: str) -> VerifiedToken:
        """Every check of a compact JWS but the kind's: signature, header, claims; ``InvalidToken`` if any fails."""
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("malformed")
        encoded_header, encoded_payload, encoded_signature = token.split(".")
        header = self._header(encoded_header)
        kid = header.get("kid")
        key = self.keys.find(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        if header.get("alg") != key.algorithm:
            raise InvalidToken("algorithm does not match the key")
        signature = _b64decode(encoded_signature)
        if _b64encode(signature) != encoded_signature:
            raise InvalidToken("non-canonical signature encoding")  # one token, one spelling
        if not key.verify(f"{encoded_header}.{encoded_payload}".encode("ascii"), signature):
            raise InvalidToken("bad signature")
        if len(self._verified_headers) < _MAX_VERIFIED_HEADERS:
            self._verified_headers[encoded_header] = header
        claims = _decode_json(encoded_payload, "payload")
        self._check_registered_claims(claims)
        kind = self._kind_of(header.get("typ"), claims)
        if kind in _SIGNED_ONLY_HERE and not key.is_canonical(signature):
            # Single-use tokens must have one spelling; access tokens accept both for Node's ES256 signers.
            raise InvalidToken("non-canonical ECDSA signature (high s)")
        return VerifiedToken(claims, kind, kid, key, claims["exp"], clock.now())

    def _header(self, encoded_header: str) -> Claims:
        """The decoded header, checked for its members; a header already seen on a valid token is not re-parsed."""
        header = self._verified_headers.get(encoded_header)
        if header is not None:
            return header
        header = _decode_json(encoded_header, "header")
        if not header.keys() <= _ALLOWED_HEADER:
            raise InvalidToken(f"header parameters not allowed: {sorted(header.keys() - _ALLOWED_HEADER)}")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > _MAX_KID_LENGTH):
            raise InvalidToken("bad kid")
        return header

    def _kind_of(self, typ: Any, claims: Claims) -> TokenKind:
        """A token's kind from its `typ` header and the claims only that kind carries (a configured actor type)."""
        if typ is None or (isinstance(typ, str) and typ.upper() == "JWT"):
            actor_id = claims.get("actor_id")
            if (
                isinstance(actor_id, str)
                and self._is_actor_type(claims.get("actor_type"))
                and isinstance(claims.get("auth_identity_id"), str)
                and isinstance(claims.get("app_metadata", {}), dict)
                and isinstance(claims.get("sid", ""), str)  # looked up in a set: it must hash, and mean one thing
            ):
                return TokenKind.ACCESS if actor_id else TokenKind.REGISTRATION
        elif (
            typ == _TYP[TokenKind.INVITE] and isinstance(claims.get("id"), str) and isinstance(claims.get("email"), str)
        ):
            return TokenKind.INVITE
        elif (
            typ == _TYP[TokenKind.RESET]
            and claims.get("purpose") == "reset"
            and self._is_actor_type(claims.get("actor_type"))
        ):
            return TokenKind.RESET
        else:
            step_kind = next((kind for kind, claim in _STEP_CLAIM.items() if typ == _TYP[kind]), None)
            if (
                step_kind is not None
                and isinstance(claims.get(_STEP_CLAIM[step_kind]), str)
                and isinstance(claims.get("auth_identity_id"), str)
                and self._is_actor_type(claims.get("actor_type"))
            ):
                return step_kind
        raise InvalidToken("unrecognised token kind")

    def _is_actor_type(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.actor_types  # a list or dict would not even hash

    def _check_registered_claims(self, claims: Claims) -> None:
        current, leeway = clock.now(), clock.LEEWAY_SECONDS
        exp = claims.get("exp")
        if not _is_number(exp):
            raise InvalidToken("exp missing or not a number")
        if current > exp + leeway:
            raise ExpiredToken("expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not _is_number(value) or value > current + leeway):
                raise InvalidToken(f"{name} in the future or not a number")
        if self.options.issuer is not None and claims.get("iss") != self.options.issuer:
            raise InvalidToken("wrong issuer")
        if self.options.audience:
            audience = claims.get("aud")
            values = [audience] if isinstance(audience, str) else audience
            if not isinstance(values, list) or not any(
                a in self.options.audience for a in values if isinstance(a, str)
            ):
                raise InvalidToken("wrong audience")


def _actor_claims(
    auth_identity_id: str, actor_id: str | None, user_metadata: dict[str, Any], actor_type: str, provider: str
) -> Claims:
    return {
        "actor_id": actor_id or "",
        "actor_type": actor_type,
        "auth_identity_id": auth_identity_id,
        "auth_provider": provider,
        "app_metadata": {f"{actor_type}_id": actor_id} if actor_id else {},
        "user_metadata": user_metadata,
    }


def step_claims(
    kind: TokenKind,
    step: str,
    auth_identity_id: str,
    actor_type: str,
    auth_provider: str,
    user_metadata: dict[str, Any] | None = None,
) -> Claims:
    """The claims (but ``iat``, ``exp``, ``jti``) of a sign-in with ``kind``'s step still to take: its token's,
    and those of the same step kept in a browser's cookie (``pending_steps``)."""
    claims = _actor_claims(auth_identity_id, None, user_metadata or {}, actor_type, auth_provider)
    claims.update(mfa_enabled=kind is TokenKind.MFA_CHALLENGE, mfa_challenge_completed_at=None)
    claims[_STEP_CLAIM[kind]] = step
    return claims


def step_of(kind: TokenKind, claims: Claims) -> str:
    """The step a verified token of a step kind names: its challenge id, or the entity type to verify."""
    return str(claims[_STEP_CLAIM[kind]])


def second_factor_pending(claims: Claims) -> bool:
    """Medusa 2.21's claims say the identity has a second factor and this sign-in has not passed it."""
    return bool(claims.get("mfa_enabled")) and not isinstance(claims.get("mfa_challenge_completed_at"), str)


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number that fits a float (a 400-digit integer does not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf, which JSON cannot carry back out
        raise ValueError("number out of range")
    return value


def _decode_json(segment: str, part: str) -> Claims:
    try:
        value = _STRICT_JSON.decode(_b64decode(segment).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidToken(f"{part} is not strict JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"{part} is not a JSON object")
    return value


# Built once: json.loads with these hooks would build a new decoder on every call.
_STRICT_JSON = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
)


# base64.urlsafe_b64* are these binascii calls behind a few Python frames that cost more than the work.
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64decode(segment: str) -> bytes:
    try:
        return binascii.a2b_base64(segment.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("bad base64url") from exc


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def _b64_json(value: Claims) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
