"""The in-memory key set: who signs, which keys verify (by ``kid``), and the JWKS document.

A ``KeySet`` is immutable and built once at startup (later: once per key-ring change); requests only
read it, so a swap is one reference assignment and never a half-updated set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from .material import ALGORITHMS, default_algorithm, public_jwk, thumbprint, to_joserfc_key

if TYPE_CHECKING:
    from .config import JwtConfig

# The order n of P-256: an ES256 signature (r, s) also verifies as (r, n - s), so each token has two spellings.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def ecdsa_s(signature: bytes) -> int:
    """The s half of a raw (r || s) ES256 signature."""
    return int.from_bytes(signature[len(signature) // 2 :], "big")


def with_low_s(signature: bytes) -> bytes:
    """The same ES256 signature with s <= n/2 (the one spelling this service emits)."""
    half = len(signature) // 2
    s = ecdsa_s(signature)
    if s <= P256_ORDER // 2:
        return signature
    return signature[:half] + (P256_ORDER - s).to_bytes(half, "big")


@dataclass(frozen=True)
class VerificationKey:
    """A key that verifies, with the one algorithm it is pinned to."""

    kid: str
    algorithm: str
    key: Key
    model: object = field(repr=False)  # joserfc's JWSAlgModel for `algorithm`
    # RSA's check, with the public key, padding and hash built once (see _rsa_check); else None.
    _rsa: tuple[RSAPublicKey, AsymmetricPadding, hashes.HashAlgorithm] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rsa", _rsa_check(self.model, self.key))

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        if self._rsa is None:
            return bool(self.model.verify(signing_input, signature, self.key))  # type: ignore[attr-defined]
        public_key, padding, hash_algorithm = self._rsa
        try:
            public_key.verify(signature, signing_input, padding, hash_algorithm)
        except InvalidSignature:
            return False
        return True

    def is_canonical(self, signature: bytes) -> bool:
        """False for an ES256 signature with s > n/2: valid, but not what this service's signer writes."""
        return self.algorithm != "ES256" or ecdsa_s(signature) <= P256_ORDER // 2


def _rsa_check(model: object, key: Key) -> tuple[RSAPublicKey, AsymmetricPadding, hashes.HashAlgorithm] | None:
    """For RS*/PS*, what joserfc's model passes to cryptography on every call, taken from it once.

    The call is then exactly joserfc's (same key, padding and hash), minus the per-call key lookup and
    object construction; RSA is the default algorithm, so the one on the hot path.
    """
    padding, hash_class = getattr(model, "padding", None), getattr(model, "hash_alg", None)
    public_key = key.get_op_key("verify")
    if not (isinstance(public_key, RSAPublicKey) and isinstance(padding, AsymmetricPadding) and hash_class):
        return None
    return public_key, padding, hash_class()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    key: Key
    model: object = field(repr=False)

    def sign(self, signing_input: bytes) -> bytes:
        signature = bytes(self.model.sign(signing_input, self.key))  # type: ignore[attr-defined]
        return with_low_s(signature) if self.algorithm == "ES256" else signature


@dataclass(frozen=True)
class JwksDocument:
    """The body served at /.well-known/jwks.json and its ETag, computed once per key set."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> JwksDocument:
        return cls(body=body, etag=hashlib.sha256(body).hexdigest()[:32])


class KeySource(Protocol):
    """What tokens and the JWKS route read keys from: a static KeySet, or the refreshing ring."""

    @property
    def signer(self) -> SigningKey | None: ...

    @property
    def jwks(self) -> JwksDocument | None: ...

    @property
    def by_kid(self) -> dict[str, VerificationKey]: ...

    def find(self, kid: str | None) -> VerificationKey | None: ...


class KeySet:
    """Signing key, verification keys by ``kid``, and the published JWKS."""

    def __init__(self, signer: SigningKey | None, verifiers: Iterable[VerificationKey], jwks: JwksDocument | None):
        self.signer = signer
        self.by_kid = {v.kid: v for v in verifiers}
        self.jwks = jwks
        # A token without `kid` is only tried against the key set's single key, never "any key".
        self.sole_key = next(iter(self.by_kid.values())) if len(self.by_kid) == 1 else None

    def find(self, kid: str | None) -> VerificationKey | None:
        return self.sole_key if kid is None else self.by_kid.get(kid)

    @classmethod
    def from_config(cls, config: JwtConfig) -> KeySet:
        """The guide's static keys: the configured key, plus any extra public keys trusted beside it."""
        options = config.http
        if config.verify_key is None:
            return cls(None, (), _jwks(config, ()))
        model = algorithm_model(options.algorithm)
        verifiers = [VerificationKey(options.keyid, options.algorithm, to_joserfc_key(config.verify_key), model)]
        for extra in config.extra_public_keys:
            key = to_joserfc_key(extra)
            algorithm = options.algorithm if key.key_type == verifiers[0].key.key_type else default_algorithm(extra)
            verifiers.append(VerificationKey(thumbprint(key), algorithm, key, algorithm_model(algorithm)))
        signer = None
        if config.signing_key is not None:
            signer = SigningKey(options.keyid, options.algorithm, to_joserfc_key(config.signing_key), model)
        return cls(signer, verifiers, _jwks(config, verifiers))


def algorithm_model(algorithm: str) -> Any:
    """joserfc's implementation of a JWS algorithm, looked up once per key."""
    return JWSRegistry.algorithms[ALGORITHMS[algorithm].joserfc_name]


def jwks_document(public_keys: list[dict[str, Any]]) -> JwksDocument | None:
    if not public_keys:
        return None  # a shared secret is never published; nothing else means nothing to serve
    return JwksDocument.of(json.dumps({"keys": public_keys}, separators=(",", ":")).encode())


def _jwks(config: JwtConfig, verifiers: Iterable[VerificationKey]) -> JwksDocument | None:
    """JWKS_CONTENT verbatim when set (the guide's option 1), else the public keys (option 2)."""
    if config.jwks_content is not None:
        return JwksDocument.of(config.jwks_content)
    return jwks_document([public_jwk(v.key, v.kid, v.algorithm) for v in verifiers if v.key.key_type != "oct"])
