"""The JWT part of the configuration: key material parsed once, and the options of each signer.

``get_jwt_config()`` is the guide's ``getJwtConfig`` helper in Python: it reads the environment (or a
mapping of the same names: ``Settings.jwt_environment``) and returns the whole JWT configuration, the
http options and the user module's options, as one frozen object. Every misconfiguration raises
``ConfigError`` with one line naming the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..settings import DEFAULTS, ConfigError, aes_key, http_url, parse_duration, read_secret
from .material import (
    ALGORITHM_KEY_TYPES,
    MIN_HMAC_SECRET_BYTES,
    PRIVATE_JWK_MEMBERS,
    KeyMaterialError,
    PrivateKey,
    PublicKey,
    check_algorithm_fits,
    default_algorithm,
    key_type_name,
    load_private_pem,
    load_public_pem,
    looks_like_pem,
    same_public_key,
    thumbprint,
    to_joserfc_key,
    unescape_pem,
)
from .remote import PUBLIC_KEY_ALGORITHMS, check_jwks_url

_PEM_PUBLIC_BLOCK = re.compile(r"-----BEGIN (?:RSA )?PUBLIC KEY-----.*?-----END (?:RSA )?PUBLIC KEY-----", re.S)
RESET_TOKEN_SECONDS = 15 * 60


@dataclass(frozen=True)
class TokenOptions:
    """The guide's ``jwtOptions`` and ``jwtVerifyOptions`` for one kind of signer."""

    algorithm: str
    keyid: str
    issuer: str | None
    audience: tuple[str, ...]
    expires_in: int


@dataclass(frozen=True)
class JwtConfig:
    """The whole JWT configuration; keys are parsed here once and never per request."""

    http: TokenOptions  # access and registration tokens
    user_module: TokenOptions  # invite tokens: the same keys, lifetime INVITE_VALID_DURATION
    signing_key: PrivateKey | bytes | None  # None: a verifier-only instance
    verify_key: PublicKey | bytes | None  # None: verification goes to JWKS_URL
    jwks_content: bytes | None
    jwks_url: str | None
    backend_url: str
    # Public keys trusted (and published) beside the static key during a manual rotation.
    extra_public_keys: tuple[PublicKey, ...] = ()
    # Set: keys come from the managed ring in the database, private parts sealed under this key.
    key_encryption_key: bytes | None = None
    key_refresh_seconds: int = 30
    jwks_max_age: int = 300
    # JWT_ALGORITHM as asked (None: from the key); a verifier-only instance accepts only it, if set.
    requested_algorithm: str | None = None

    @property
    def can_sign(self) -> bool:
        return self.signing_key is not None or self.key_encryption_key is not None

    @property
    def longest_token_lifetime(self) -> int:
        """How long a retired key must still verify: the longest-lived token it can have signed."""
        return max(self.http.expires_in, self.user_module.expires_in, RESET_TOKEN_SECONDS)


def get_jwt_config(environ: Mapping[str, str] | None = None) -> JwtConfig:
    """Read the JWT configuration from ``environ`` (default: the process environment)."""
    env = {**DEFAULTS, **{k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}}
    key_encryption_key = _key_encryption_key(env)
    signing_key, verify_key, algorithm = _read_keys(env)
    backend_url = http_url(env["MEDUSA_BACKEND_URL"], "MEDUSA_BACKEND_URL")
    jwks_url = _jwks_url(env)
    if key_encryption_key is not None and signing_key is not None:
        raise ConfigError(
            "JWT_SECRET_KEY and JWT_KEY_ENCRYPTION_KEY are both set: the managed key ring replaces "
            "JWT_SECRET_KEY (move the key into it with `flask --app wsgi keys import`)"
        )
    if verify_key is None and jwks_url is None and key_encryption_key is None:
        raise ConfigError(
            "JWT_SECRET_KEY is not set: generate one with `flask --app wsgi keys generate` "
            "(or set JWT_PUBLIC_KEY or JWKS_URL for a verifier-only instance)"
        )
    if verify_key is None and algorithm not in PUBLIC_KEY_ALGORITHMS:
        raise ConfigError(f"JWT_ALGORITHM={algorithm} cannot verify with the public keys that JWKS_URL serves")
    keyid = env.get("JWT_KEYID") or _default_keyid(verify_key)
    http = TokenOptions(
        algorithm=algorithm,
        keyid=keyid,
        issuer=env.get("JWT_ISSUER"),
        audience=tuple(a.strip() for a in env.get("JWT_AUDIENCE", "").split(",") if a.strip()),
        expires_in=parse_duration(env["JWT_EXPIRES_IN"], "JWT_EXPIRES_IN"),
    )
    invite_seconds = parse_duration(env["INVITE_VALID_DURATION"], "INVITE_VALID_DURATION")
    return JwtConfig(
        http=http,
        user_module=TokenOptions(**{**http.__dict__, "expires_in": invite_seconds}),
        signing_key=signing_key,
        verify_key=verify_key,
        jwks_content=_jwks_content(env),
        jwks_url=jwks_url,
        backend_url=backend_url,
        extra_public_keys=_extra_public_keys(env),
        key_encryption_key=key_encryption_key,
        key_refresh_seconds=parse_duration(env["JWT_KEY_REFRESH_SECONDS"], "JWT_KEY_REFRESH_SECONDS"),
        jwks_max_age=parse_duration(env["JWKS_MAX_AGE"], "JWKS_MAX_AGE"),
        requested_algorithm=env.get("JWT_ALGORITHM"),
    )


def _read_keys(env: Mapping[str, str]) -> tuple[PrivateKey | bytes | None, PublicKey | bytes | None, str]:
    """The signing key, the key that verifies, and the algorithm pinned to them."""
    secret = read_secret(env, "JWT_SECRET_KEY")
    public_text = read_secret(env, "JWT_PUBLIC_KEY")
    requested = env.get("JWT_ALGORITHM")
    if requested is not None and requested not in ALGORITHM_KEY_TYPES:
        raise ConfigError(f"JWT_ALGORITHM={requested} is not supported: use one of {', '.join(ALGORITHM_KEY_TYPES)}")
    signing: PrivateKey | bytes | None = None
    if secret is not None:
        signing = _parse_signing_key(secret, env.get("JWT_SECRET_KEY_PASSPHRASE"), requested)
    public: PublicKey | None = None
    if public_text is not None:
        if isinstance(signing, bytes):
            raise ConfigError("JWT_PUBLIC_KEY is set, but JWT_SECRET_KEY is a shared secret (HS256): remove one")
        try:
            public = load_public_pem(unescape_pem(public_text))
        except KeyMaterialError as exc:
            raise ConfigError(f"JWT_PUBLIC_KEY: {exc}") from exc
        if signing is not None and not same_public_key(public, signing.public_key()):
            raise ConfigError("JWT_PUBLIC_KEY does not match the private key in JWT_SECRET_KEY")
    verify: PublicKey | bytes | None
    if isinstance(signing, bytes):
        verify = signing
    else:
        verify = public or (signing.public_key() if signing is not None else None)
    if verify is None:
        return None, None, requested or "RS256"
    algorithm = requested or default_algorithm(verify)
    try:
        check_algorithm_fits(algorithm, verify)
    except KeyMaterialError as exc:
        raise ConfigError(f"JWT_ALGORITHM={algorithm}: {exc}") from exc
    return signing, verify, algorithm


def _parse_signing_key(secret: str, passphrase: str | None, requested: str | None) -> PrivateKey | bytes:
    text = unescape_pem(secret)
    if not looks_like_pem(text):
        if requested and requested != "HS256":
            raise ConfigError(
                f"JWT_ALGORITHM={requested} needs a PEM private key in JWT_SECRET_KEY, not a plain secret"
            )
        raw = secret.encode()
        if len(raw) < MIN_HMAC_SECRET_BYTES:
            raise ConfigError(
                f"JWT_SECRET_KEY: an HS256 secret needs at least {MIN_HMAC_SECRET_BYTES} bytes (RFC 7518 §3.2)"
            )
        return raw
    if requested and requested.startswith("HS"):
        raise ConfigError(
            f"JWT_ALGORITHM={requested} is symmetric and cannot be used with the PEM key in JWT_SECRET_KEY"
        )
    if "PUBLIC KEY" in text.split("\n", 1)[0]:
        raise ConfigError("JWT_SECRET_KEY holds a public key: put it in JWT_PUBLIC_KEY and the private key here")
    try:
        return load_private_pem(text, passphrase)
    except KeyMaterialError as exc:
        raise ConfigError(f"JWT_SECRET_KEY: {exc}") from exc


def _key_encryption_key(env: Mapping[str, str]) -> bytes | None:
    """The AES-256-GCM key that seals the ring's private keys at rest."""
    return aes_key(env, "JWT_KEY_ENCRYPTION_KEY")


def _extra_public_keys(env: Mapping[str, str]) -> tuple[PublicKey, ...]:
    """Further PEM public keys, one after another in one value or file, that verify (and are published)."""
    bundle = read_secret(env, "JWT_EXTRA_PUBLIC_KEYS")
    if bundle is None:
        return ()
    blocks = _PEM_PUBLIC_BLOCK.findall(unescape_pem(bundle))
    if not blocks:
        raise ConfigError("JWT_EXTRA_PUBLIC_KEYS holds no PEM public key")
    try:
        return tuple(load_public_pem(block) for block in blocks)
    except KeyMaterialError as exc:
        raise ConfigError(f"JWT_EXTRA_PUBLIC_KEYS: {exc}") from exc


def _default_keyid(verify_key: PublicKey | bytes | None) -> str:
    return thumbprint(to_joserfc_key(verify_key)) if verify_key is not None else ""


def _jwks_content(env: Mapping[str, str]) -> bytes | None:
    """The guide's option 1: a JWKS served verbatim, vetted so that no private member is published."""
    content = env.get("JWKS_CONTENT")
    if content is None:
        return None
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise ConfigError("JWKS_CONTENT is not valid JSON") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "kty" in k for k in keys):
        raise ConfigError('JWKS_CONTENT must be {"keys": [...]} with a "kty" in every key')
    leaked = sorted({m for k in keys for m in k if m in PRIVATE_JWK_MEMBERS})
    if leaked:
        raise ConfigError(f"JWKS_CONTENT holds private key members ({', '.join(leaked)}): publish public keys only")
    return content.encode()


def _jwks_url(env: Mapping[str, str]) -> str | None:
    if not env.get("JWKS_URL"):
        return None
    url = http_url(env["JWKS_URL"], "JWKS_URL")
    try:
        return check_jwks_url(url)
    except ValueError as exc:
        raise ConfigError(f"JWKS_URL: {exc}") from exc


def describe_key(config: JwtConfig) -> str:
    """One line for the startup log; never the key itself."""
    if config.key_encryption_key is not None:
        every = config.key_refresh_seconds
        return f"managed key ring in the database (new keys {config.http.algorithm}), refreshed every {every} s"
    kind = key_type_name(config.verify_key) if config.verify_key is not None else "remote JWKS"
    role = "signs and verifies" if config.can_sign else "verifies only"
    return f"{config.http.algorithm} ({kind}) kid={config.http.keyid} {role}"
