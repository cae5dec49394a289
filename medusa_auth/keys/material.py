"""Key material: PEM loading, generation, and the JWK (public) form of a key.

Everything here runs at startup or in the CLI, never per request.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

MIN_RSA_BITS = 2048
MIN_HMAC_SECRET_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash output

# JWK members that only a private or symmetric key carries (RFC 7518 §6, RFC 8037 §2).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


class KeyMaterialError(ValueError):
    """Key text that cannot be used; the message says why in a few words."""


def unescape_pem(text: str) -> str:
    """Accept PEMs written on one line with literal ``\\n`` (the guide's advice for .env files)."""
    text = text.strip().strip('"').strip("'")
    if "-----BEGIN" in text and "\\n" in text:
        text = text.replace("\\r", "").replace("\\n", "\n")
    return text


def looks_like_pem(text: str) -> bool:
    return text.lstrip().startswith("-----BEGIN")


def load_private_pem(text: str, passphrase: str | None = None) -> PrivateKey:
    """Parse a PEM private key (PKCS#1, PKCS#8, SEC1; encrypted when a passphrase is given)."""
    data = text.encode()
    password = passphrase.encode() if passphrase else None
    try:
        key: Any = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if password is None:
            raise KeyMaterialError("the key is encrypted: set JWT_SECRET_KEY_PASSPHRASE") from exc
        raise KeyMaterialError("a passphrase was given but the key is not encrypted") from exc
    except ValueError as exc:
        if password is not None and b"ENCRYPTED" in data:
            raise KeyMaterialError("JWT_SECRET_KEY_PASSPHRASE does not decrypt the key") from exc
        key = _load_mislabelled_der(data, password)
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and others
        raise KeyMaterialError(f"not a usable private key ({type(exc).__name__})") from exc
    return _check_private(key)


def _load_mislabelled_der(data: bytes, password: bytes | None) -> Any:
    """The guide's own example puts a PKCS#8 body under an ``RSA PRIVATE KEY`` label; read the body."""
    match = _PEM_BLOCK.search(data)
    if not match:
        raise KeyMaterialError("not a PEM private key")
    try:
        der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        return serialization.load_der_private_key(der, password=password)
    except Exception as exc:
        raise KeyMaterialError("not a readable PEM private key") from exc


def _check_private(key: Any) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _check_curve(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise KeyMaterialError(f"unsupported key type {type(key).__name__}; use RSA, EC P-256 or Ed25519")


def load_public_pem(text: str) -> PublicKey:
    """Parse a PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA)."""
    if "PRIVATE KEY" in text:
        raise KeyMaterialError("holds a private key; a public key is expected here")
    try:
        key: Any = serialization.load_pem_public_key(text.encode())
    except Exception as exc:
        raise KeyMaterialError("not a readable PEM public key") from exc
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyMaterialError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _check_curve(key)
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise KeyMaterialError(f"unsupported key type {type(key).__name__}; use RSA, EC P-256 or Ed25519")
    return key


def _check_curve(key: Any) -> Any:
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyMaterialError(f"EC key on curve {key.curve.name}; only P-256 (ES256) is supported")
    return key


def same_public_key(a: PublicKey, b: PublicKey) -> bool:
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(*der) == b.public_bytes(*der)


def to_joserfc_key(key: PrivateKey | PublicKey | bytes) -> Key:
    """Wrap a native key (or an HMAC secret) in joserfc's JWK class for its type."""
    if isinstance(key, bytes):
        return OctKey.import_key(key)
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return RSAKey(key, key)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECKey(key, key)
    return OKPKey(key, key)


def public_jwk(key: Key, kid: str, alg: str) -> dict[str, Any]:
    """The JWKS entry for a key: type, id, use, algorithm and public members only."""
    members = {k: v for k, v in key.as_dict(private=False).items() if k not in PRIVATE_JWK_MEMBERS}
    return {**members, "kid": kid, "use": "sig", "alg": alg}


def thumbprint(key: Key) -> str:
    """RFC 7638 SHA-256 thumbprint, the default ``kid``."""
    return key.thumbprint()


def generate_private_key(kind: str = "RSA") -> PrivateKey:
    """A fresh signing key: ``RSA`` (2048 bits, as the guide's openssl command), ``EC`` (P-256) or ``Ed25519``."""
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyMaterialError(f"unknown key type {kind!r}")


def private_key_pem(key: PrivateKey, passphrase: str | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


@dataclass(frozen=True)
class Algorithm:
    """What one JWS algorithm needs and is called, in every place that asks."""

    key_type: str  # the key it takes, as key_type_name() names keys: "RSA", "EC P-256", "Ed25519", "secret"
    generated_as: str | None  # generate_private_key()'s kind for a new key of it (None: no key pair)
    jwk_type: tuple[str, str | None]  # (kty, crv) of its JWK
    joserfc_name: str  # the implementation in joserfc's registry


# Every supported algorithm, the one table of them; "EdDSA" and RFC 9864's "Ed25519" run the same code,
# and the first algorithm listed for a key type is that type's default.
ALGORITHMS: dict[str, Algorithm] = {
    "RS256": Algorithm("RSA", "RSA", ("RSA", None), "RS256"),
    "PS256": Algorithm("RSA", "RSA", ("RSA", None), "PS256"),
    "ES256": Algorithm("EC P-256", "EC", ("EC", "P-256"), "ES256"),
    "EdDSA": Algorithm("Ed25519", "Ed25519", ("OKP", "Ed25519"), "EdDSA"),
    "Ed25519": Algorithm("Ed25519", "Ed25519", ("OKP", "Ed25519"), "EdDSA"),
    "HS256": Algorithm("secret", None, ("oct", None), "HS256"),
}
ALGORITHM_KEY_TYPES: dict[str, str] = {name: algorithm.key_type for name, algorithm in ALGORITHMS.items()}


def default_algorithm_for_jwk(kty: Any, crv: Any) -> str | None:
    """The algorithm a JWK without ``alg`` is used with: RS256, ES256 or EdDSA by its type."""
    return next((name for name, algorithm in ALGORITHMS.items() if algorithm.jwk_type == (kty, crv)), None)


def key_type_name(key: PrivateKey | PublicKey | bytes) -> str:
    if isinstance(key, bytes):
        return "secret"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {'P-256' if isinstance(key.curve, ec.SECP256R1) else key.curve.name}"
    return "Ed25519"


def default_algorithm(key: PrivateKey | PublicKey | bytes) -> str:
    """RS256 for RSA (the guide's default), ES256 for P-256, EdDSA for Ed25519, HS256 for a secret."""
    kind = key_type_name(key)
    return next((alg for alg, wanted in ALGORITHM_KEY_TYPES.items() if wanted == kind), "RS256")


def check_algorithm_fits(algorithm: str, key: PrivateKey | PublicKey | bytes) -> None:
    wanted = ALGORITHM_KEY_TYPES.get(algorithm)
    if wanted is None:
        raise KeyMaterialError(f"unsupported algorithm {algorithm!r}; use one of {', '.join(ALGORITHM_KEY_TYPES)}")
    have = key_type_name(key)
    if have != wanted:
        raise KeyMaterialError(f"{algorithm} needs a key of type {wanted}, but the key is {have}")


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
