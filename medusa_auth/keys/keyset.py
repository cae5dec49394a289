"""The in-memory key set: who signs, which keys verify (by ``kid``), and the JWKS document.

A ``KeySet`` is immutable and built once at startup (later: once per key-ring change); requests only
read it, so a swap is one reference assignment and never a half-updated set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from .material import public_jwk, to_joserfc_key

if TYPE_CHECKING:
    from ..config import JwtConfig

# RFC 9864's fully specified name and RFC 8037's name run the same EdDSA code in joserfc.
_ALGORITHM_MODEL_NAMES = {"Ed25519": "EdDSA"}
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

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        return bool(self.model.verify(signing_input, signature, self.key))  # type: ignore[attr-defined]

    def is_canonical(self, signature: bytes) -> bool:
        """False for an ES256 signature with s > n/2: valid, but not what this service's signer writes."""
        return self.algorithm != "ES256" or ecdsa_s(signature) <= P256_ORDER // 2


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
        options = config.http
        if config.verify_key is None:
            return cls(None, (), _jwks(config, ()))
        model = JWSRegistry.algorithms[_ALGORITHM_MODEL_NAMES.get(options.algorithm, options.algorithm)]
        verifier = VerificationKey(options.keyid, options.algorithm, to_joserfc_key(config.verify_key), model)
        signer = None
        if config.signing_key is not None:
            signer = SigningKey(options.keyid, options.algorithm, to_joserfc_key(config.signing_key), model)
        return cls(signer, (verifier,), _jwks(config, (verifier,)))


def _jwks(config: JwtConfig, verifiers: Iterable[VerificationKey]) -> JwksDocument | None:
    """JWKS_CONTENT verbatim when set (the guide's option 1), else the public keys (option 2)."""
    if config.jwks_content is not None:
        return JwksDocument.of(config.jwks_content)
    keys = [public_jwk(v.key, v.kid, v.algorithm) for v in verifiers if v.key.key_type != "oct"]
    if not keys:
        return None  # a shared secret is never published
    return JwksDocument.of(json.dumps({"keys": keys}, separators=(",", ":")).encode())
