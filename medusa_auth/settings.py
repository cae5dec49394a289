"""Settings: the layered configuration read once into one frozen ``Settings``.

Layers, last wins: defaults → ``instance/config.py`` → the environment (and a ``.env`` file, never
overriding real variables, and not under ``test_config``) → ``test_config``. ``Settings`` records what
was asked for; what the service builds from it (keys, token issuers, the throttle) is built once by the
extension (``extension.py``), and key material is parsed under ``keys/`` (``keys/config.py``).

Every misconfiguration raises ``ConfigError``, whose message is one line that names the variable.
This module imports nothing of the service.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from dotenv import find_dotenv, load_dotenv
from flask import Config


class ConfigError(Exception):
    """A misconfiguration that stops startup; ``str()`` is one line that names the variable."""


# Every variable the service reads from the environment (SPEC §2), besides Flask's own and MAIL_*.
ENVIRONMENT_VARIABLES = (
    "APP_ENV",
    "JWT_SECRET_KEY",
    "JWT_SECRET_KEY_FILE",
    "JWT_SECRET_KEY_PASSPHRASE",
    "JWT_PUBLIC_KEY",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_ALGORITHM",
    "JWT_EXPIRES_IN",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_KEYID",
    "JWKS_CONTENT",
    "JWT_EXTRA_PUBLIC_KEYS",
    "JWT_EXTRA_PUBLIC_KEYS_FILE",
    "JWT_KEY_ENCRYPTION_KEY",
    "JWT_KEY_ENCRYPTION_KEY_FILE",
    "JWT_KEY_REFRESH_SECONDS",
    "JWKS_MAX_AGE",
    "JWKS_URL",
    "REVOCATION_REFRESH_SECONDS",
    "MEDUSA_BACKEND_URL",
    "INVITE_VALID_DURATION",
    "DATABASE_URL",
    "COOKIE_SECRET",
    "COOKIE_SECRET_FILE",
    "ADMIN_CORS",
    "AUTH_CORS",
    "STORE_CORS",
    "STOREFRONT_URL",
    "AUTH_METHODS_PER_ACTOR",
    "REDIS_URL",
    "RATELIMIT_KEY_PREFIX",
    "TRUSTED_PROXIES",
    "LOG_LEVEL",
    "AUTH_PROVIDERS",
    "AUTH_CALLBACK_URLS",
    "GOOGLE_ISSUER",
    "GITHUB_AUTHORIZE_URL",
    "GITHUB_TOKEN_URL",
    "GITHUB_API_URL",
    "MFA_ENCRYPTION_KEY",
    "MFA_ENCRYPTION_KEY_FILE",
    "MFA_REQUIRED_FOR",
    "AUTH_VERIFICATIONS_PER_ACTOR",
    "WEBAUTHN_RP_ID",
    "WEBAUTHN_ORIGINS",
)
# The variables ``get_jwt_config`` reads: the guide's, plus the key ring's and the JWKS's.
JWT_VARIABLES = tuple(
    name for name in ENVIRONMENT_VARIABLES if name.startswith(("JWT_", "JWKS_")) or name in ("MEDUSA_BACKEND_URL",)
) + ("INVITE_VALID_DURATION",)

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
OWASP_MIN = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}

DEFAULTS: dict[str, Any] = {
    # Fail closed: a deployment that forgets APP_ENV gets production's checks.
    "APP_ENV": "production",
    "JWT_EXPIRES_IN": "1d",
    "MEDUSA_BACKEND_URL": "http://localhost:9000",
    "INVITE_VALID_DURATION": "86400",
    "LOG_LEVEL": "INFO",
    "JWT_KEY_REFRESH_SECONDS": "30",
    # How long verifiers may cache the JWKS: the wait between the two steps of a rotation, and how
    # long a remote verifier may still accept a revoked key.
    "JWKS_MAX_AGE": "300",
    "SESSION_IDLE_SECONDS": 30 * 60,
    "SESSION_ABSOLUTE_SECONDS": 12 * 60 * 60,
    # How often each worker re-reads the ended sign-in sessions and the live API keys: how long a sign-out
    # or a revoked key made on one instance can go unnoticed by another's workers.
    "REVOCATION_REFRESH_SECONDS": 2,
    # Request bodies here are a few small JSON fields; anything larger is refused with 413 before parsing.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    **{f"PASSWORD_HASH_{name.upper()}": value for name, value in OWASP_MIN.items()},
}

APP_ENVS = ("development", "production", "test")
DEFAULT_RATELIMIT_KEY_PREFIX = "medusa_auth"
MAX_TRUSTED_PROXIES = 5
# Schemes of the Redis storages that ``limits`` knows.
REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
# URL area -> the variable that lists the origins allowed to call it from a browser, with credentials.
CORS_VARIABLES = {"/admin": "ADMIN_CORS", "/auth": "AUTH_CORS", "/store": "STORE_CORS"}
# Medusa's two actor types and the providers each may use unless AUTH_METHODS_PER_ACTOR says otherwise.
DEFAULT_AUTH_METHODS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"user": ("emailpass",), "customer": ("emailpass",)}
)
# An actor type or provider id is one lower-case path segment (it appears in /auth/{actor_type}/{provider}).
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Path segments other /auth routes use: an actor type of that name would be shadowed by them or shadow them.
VERIFIABLE_ENTITIES = ("email",)  # what a mailed code can prove; a phone would need an SMS provider
RESERVED_ACTOR_TYPES = frozenset({"token", "session", "mfa", "verification", "passkeys", "logout", "api_key"})
# Key sources: with none of them, development generates a key into instance/.
KEY_SOURCES = ("JWT_SECRET_KEY", "JWT_SECRET_KEY_FILE", "JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE", "JWKS_URL")
_KEY_RING = ("JWT_KEY_ENCRYPTION_KEY", "JWT_KEY_ENCRYPTION_KEY_FILE")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TRUE = ("1", "true", "yes", "on")

# The variables of one redirect provider whose id (upper-cased) is X: X_CLIENT_ID, X_CLIENT_SECRET, ...
PROVIDER_VARIABLES = (
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CLIENT_SECRET_FILE",
    "CALLBACK_URL",
    "DISPLAY_NAME",
    "ISSUER",
    "SCOPES",
    "AUTHORIZE_URL",
    "TOKEN_URL",
    "API_URL",
)
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*")
_PROVIDER_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Path segments of other /auth routes and the actor types: a provider by that name would shadow them.
RESERVED_PROVIDER_IDS = frozenset(
    {"emailpass", "passkey", "token", "session", "providers", "mfa", "verification", "user", "customer", "callback"}
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Built-in providers: their public endpoints, each overridable (tests point them at local servers).
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_ENDPOINTS = {
    "AUTHORIZE_URL": "https://github.com/login/oauth/authorize",
    "TOKEN_URL": "https://github.com/login/oauth/access_token",
    "API_URL": "https://api.github.com",
}
_DEFAULT_SCOPES = {"github": ("read:user", "user:email")}
_OPENID_SCOPES = ("openid", "email", "profile")
_DISPLAY_NAMES = {"google": "Google", "github": "GitHub"}
_MAX_DISPLAY_NAME = 64


@dataclass(frozen=True)
class SessionSettings:
    """Browser and sign-in sessions: lifetimes, whether cookies are Secure with the ``__Host-`` prefix, and
    how often ended sign-ins are re-read."""

    idle_seconds: int
    absolute_seconds: int  # a sign-in's whole life: its browser sessions' and its refreshed tokens'
    secure_cookies: bool
    revocation_refresh_seconds: int  # each worker re-reads the ended sign-in sessions and live API keys this often


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id's parameters (the OWASP minimum unless raised)."""

    time_cost: int
    memory_cost: int
    parallelism: int


@dataclass(frozen=True)
class MailSettings:
    """The ``MAIL_*`` settings; without a server, development writes mail to the log."""

    server: str | None
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    sender: str
    development: bool


@dataclass(frozen=True)
class ThrottleSettings:
    """Where the login-throttling counters live: Redis when ``redis_url`` is set, else the database."""

    redis_url: str | None
    key_prefix: str


@dataclass(frozen=True)
class MfaSettings:
    """Second factors (SPEC §11): the key that seals their secrets, and which actor types must have one."""

    # MFA_ENCRYPTION_KEY (32 bytes); None: a key derived from COOKIE_SECRET (extension.py).
    encryption_key: bytes | None = field(repr=False)
    required_for: frozenset[str]  # MFA_REQUIRED_FOR: actor types that reach nothing but enrolment without a factor
    # AUTH_VERIFICATIONS_PER_ACTOR: actor type -> provider -> the entity type it must verify ("email").
    verifications: Mapping[str, Mapping[str, str]]

    def verification_for(self, actor_type: str, provider: str) -> str | None:
        return self.verifications.get(actor_type, {}).get(provider)


@dataclass(frozen=True)
class RedirectProvider:
    """One OAuth 2.0 / OpenID Connect provider people are sent to and come back from (SPEC §10)."""

    id: str  # as in AUTH_PROVIDERS and the routes: "google", "github", "okta", ...
    identifier: str  # Medusa's provider identifier: "google", "github", or "oidc" for any other
    display_name: str
    client_id: str
    client_secret: str = field(repr=False)
    callback_url: str  # where the provider sends people back when a client names no callback_url
    scopes: tuple[str, ...]
    issuer: str | None  # OpenID Connect: endpoints from {issuer}/.well-known/openid-configuration
    authorize_url: str | None  # GitHub: its endpoints, given (it has no discovery)
    token_url: str | None
    api_url: str | None

    @property
    def openid(self) -> bool:
        return self.issuer is not None


@dataclass(frozen=True)
class RedirectProviders:
    """The enabled redirect providers (AUTH_PROVIDERS, in order) and the callback URLs clients may ask for."""

    providers: tuple[RedirectProvider, ...]
    callback_urls: frozenset[str]  # AUTH_CALLBACK_URLS, compared exactly

    def get(self, provider_id: str) -> RedirectProvider | None:
        return next((provider for provider in self.providers if provider.id == provider_id), None)


@dataclass(frozen=True)
class WebAuthnSettings:
    """Passkeys' relying party: its id (a domain) and the origins whose ceremonies count (SPEC §14)."""

    rp_id: str | None  # WEBAUTHN_RP_ID, else MEDUSA_BACKEND_URL's host; None (passkeys off) for an IP address
    origins: tuple[str, ...]  # MEDUSA_BACKEND_URL's origin, then WEBAUTHN_ORIGINS


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its configuration, checked, as it was asked for."""

    app_env: str
    instance_path: str
    backend_url: str  # MEDUSA_BACKEND_URL without a trailing slash: the base of every link we mail
    database_url: str  # the SQLAlchemy URL
    cookie_secret: str | None  # None: generated into instance/ outside production; production refuses
    sessions: SessionSettings
    cors_origins: Mapping[str, tuple[str, ...]]  # URL prefix -> origins allowed with credentials
    storefront_url: str | None  # STOREFRONT_URL without a trailing slash: where customers' reset links go
    # AUTH_METHODS_PER_ACTOR over the defaults: actor type -> the provider ids it may use (maybe none).
    auth_methods_per_actor: Mapping[str, tuple[str, ...]]
    trusted_proxies: int
    password_hashing: PasswordHashing
    mail: MailSettings
    throttle: ThrottleSettings
    max_content_length: int
    log_level: str
    redirect_providers: RedirectProviders
    mfa: MfaSettings
    webauthn: WebAuthnSettings
    # The JWT and JWKS variables as asked for, the mapping ``get_jwt_config`` reads.
    jwt_environment: Mapping[str, str]
    # Further settings for Flask and its extensions (TESTING, SQLALCHEMY_ENGINE_OPTIONS, WTF_*, ...).
    flask_extras: Mapping[str, Any]

    @property
    def development(self) -> bool:
        return self.app_env == "development"

    @property
    def backend_origin(self) -> str:
        parts = urlsplit(self.backend_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def wants_development_key(self) -> bool:
        """Development with no key source at all: a key is generated into instance/ (``make run``)."""
        asked = self.jwt_environment
        return self.development and not any(asked.get(name) for name in (*KEY_SOURCES, *_KEY_RING))

    def flask_config(self, cookie_secret: str | None) -> dict[str, Any]:
        """The keys Flask and its extensions read, derived from these settings (set once at startup)."""
        engine_options = dict(self.flask_extras.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        # SQL parameters (password hashes, emails) never reach a log line or an exception message.
        engine_options.setdefault("hide_parameters", True)
        if self.database_url.startswith("sqlite"):
            # Several gunicorn workers share the file: wait for a lock instead of failing at once.
            engine_options.setdefault("connect_args", {"timeout": 15})
        return {
            **self.flask_extras,
            "SECRET_KEY": cookie_secret,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": self.max_content_length,
            # Flask's own cookie holds only the CSRF token of the pages.
            "SESSION_COOKIE_NAME": cookie_name("medusa_csrf", self.sessions.secure_cookies),
            "SESSION_COOKIE_SECURE": self.sessions.secure_cookies,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_PATH": "/",
            "SESSION_COOKIE_DOMAIN": None,
        }


def cookie_name(basename: str, secure: bool) -> str:
    """__Host-: the browser accepts it only Secure, Path=/, with no Domain, so no subdomain can plant it."""
    return f"__Host-{basename}" if secure else basename


def layered_config(instance_path: str, test_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults, then instance/config.py, then the environment (.env included), then ``test_config``."""
    layered = Config(instance_path, DEFAULTS)
    layered.from_pyfile("config.py", silent=True)
    if test_config is None:
        load_dotenv(find_dotenv(usecwd=True), override=False)
    names = [*ENVIRONMENT_VARIABLES, *(name for name in os.environ if name.startswith("MAIL_"))]
    layered.update({name: os.environ[name] for name in names if os.environ.get(name)})
    # Each listed provider's own variables (OKTA_CLIENT_ID, ...): which names exist depends on the list.
    listed = {**layered, **(test_config or {})}.get("AUTH_PROVIDERS")
    provider_names = provider_variable_names(_provider_ids(listed))
    layered.update({name: os.environ[name] for name in provider_names if os.environ.get(name)})
    if test_config is not None:
        layered.update(test_config)
    return dict(layered)


def load_settings(instance_path: str, test_config: Mapping[str, Any] | None = None) -> Settings:
    """The checked settings; ``ConfigError`` for a value that cannot be read."""
    return settings_from(layered_config(instance_path, test_config), instance_path)


def settings_from(config: Mapping[str, Any], instance_path: str) -> Settings:
    """``Settings`` from one layered mapping of names to values (defaults filled in)."""
    values = {**DEFAULTS, **{name: value for name, value in config.items() if value is not None and value != ""}}
    provider_names = provider_variable_names(_provider_ids(values.get("AUTH_PROVIDERS")))
    app_env = str(values.get("APP_ENV", "production"))
    if app_env not in APP_ENVS:
        raise ConfigError(f"APP_ENV={app_env!r} must be one of {', '.join(APP_ENVS)}")
    backend_url = http_url(str(values.get("MEDUSA_BACKEND_URL", DEFAULTS["MEDUSA_BACKEND_URL"])), "MEDUSA_BACKEND_URL")
    database = values.get("DATABASE_URL") or f"sqlite:///{os.path.join(instance_path, 'medusa_auth.sqlite3')}"
    return Settings(
        app_env=app_env,
        instance_path=instance_path,
        backend_url=backend_url,
        database_url=sqlalchemy_url(str(database)),
        cookie_secret=read_secret(values, "COOKIE_SECRET"),
        sessions=SessionSettings(
            idle_seconds=_whole_number(values, "SESSION_IDLE_SECONDS"),
            absolute_seconds=_whole_number(values, "SESSION_ABSOLUTE_SECONDS"),
            secure_cookies=app_env != "development",
            revocation_refresh_seconds=_whole_number(values, "REVOCATION_REFRESH_SECONDS"),
        ),
        cors_origins=MappingProxyType(
            {prefix: parse_origins(values.get(variable), variable) for prefix, variable in CORS_VARIABLES.items()}
        ),
        storefront_url=_storefront_url(values),
        auth_methods_per_actor=parse_auth_methods(values.get("AUTH_METHODS_PER_ACTOR")),
        trusted_proxies=_trusted_proxies(values),
        password_hashing=PasswordHashing(
            **{name: _whole_number(values, f"PASSWORD_HASH_{name.upper()}") for name in OWASP_MIN}
        ),
        mail=_mail(values, app_env),
        throttle=_throttle(values),
        max_content_length=_whole_number(values, "MAX_CONTENT_LENGTH"),
        log_level=str(values.get("LOG_LEVEL", "INFO")).upper(),
        redirect_providers=_redirect_providers(values),
        mfa=_mfa(values),
        webauthn=_webauthn(values, backend_url),
        jwt_environment=MappingProxyType({name: str(values[name]) for name in JWT_VARIABLES if name in values}),
        flask_extras=MappingProxyType(
            {k: v for k, v in values.items() if k not in _READ_HERE and k not in provider_names and k.isupper()}
        ),
    )


def check_server_settings(settings: Settings) -> None:
    """What a server cannot run without; apart from reading, so the repair commands still start."""
    if not settings.cookie_secret and settings.app_env == "production":
        raise ConfigError("COOKIE_SECRET is not set: it signs session cookies and is required in production")


def parse_duration(value: str, variable: str) -> int:
    """``1d``, ``12h``, ``30m``, ``900s``, ``2w`` or plain seconds, as jsonwebtoken's expiresIn reads them."""
    match = _DURATION.match(value)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{variable}={value!r} is not a duration: use seconds or 1d, 12h, 30m, 900s")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def read_secret(env: Mapping[str, Any], variable: str) -> str | None:
    """A value given directly or through ``<variable>_FILE`` (Docker secrets), not both."""
    direct, path = env.get(variable) or None, env.get(f"{variable}_FILE") or None
    if direct and path:
        raise ConfigError(f"{variable} and {variable}_FILE are both set: keep one")
    if path:
        try:
            with open(str(path), encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{variable}_FILE={path!r} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{variable}_FILE={path!r} is not a text file (a PEM is expected)") from exc
    return str(direct) if direct is not None else None


def http_url(value: str, variable: str) -> str:
    """An http(s) URL without its trailing slash."""
    value = value.rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable}={value!r} is not an http(s) URL")
    return value


def parse_origins(value: str | None, variable: str) -> tuple[str, ...]:
    """Comma-separated ``scheme://host[:port]`` origins; a wildcard is refused (it would carry cookies)."""
    origins = []
    for item in (value or "").split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ConfigError(f"{variable}: {origin!r} is not an origin like https://admin.example.com")
        origins.append(origin)
    return tuple(origins)


def parse_auth_methods(value: str | None) -> Mapping[str, tuple[str, ...]]:
    """``user=emailpass;customer=emailpass,google``: each actor named replaces its default; ``customer=`` allows none.

    Actor types not named keep their default (``user`` and ``customer``: emailpass); which providers
    exist is checked where they are built (``actors.py``).
    """
    methods = dict(DEFAULT_AUTH_METHODS)
    variable = "AUTH_METHODS_PER_ACTOR"
    for actor_type, providers in _per_actor(value, variable, "actor=provider,provider (e.g. customer=emailpass)"):
        if actor_type in RESERVED_ACTOR_TYPES:
            raise ConfigError(f"{variable}: {actor_type!r} cannot be an actor type (another /auth route uses the name)")
        names = tuple(dict.fromkeys(name.strip() for name in providers.split(",") if name.strip()))
        for name in names:
            if not _NAME.fullmatch(name) or name == "providers":
                raise ConfigError(f"{variable}: {name!r} is not a provider id (lower-case letters, digits, _)")
        methods[actor_type] = names
    return MappingProxyType(methods)


def aes_key(env: Mapping[str, Any], variable: str) -> bytes | None:
    """32 random bytes in base64url (directly or in ``<variable>_FILE``): an AES-256-GCM key, or None if unset."""
    value = read_secret(env, variable)
    if value is None:
        return None
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{variable} must be 32 random bytes in base64url "
            "(python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
        )
    return key


def _mfa(values: Mapping[str, Any]) -> MfaSettings:
    required = tuple(name.strip() for name in str(values.get("MFA_REQUIRED_FOR", "")).split(",") if name.strip())
    for name in required:
        if name == "api-key":  # Medusa's actor type of a secret API key: a machine, with no second factor to enrol
            raise ConfigError("MFA_REQUIRED_FOR: api-key is not allowed (a secret API key has no second factor)")
        if not _NAME.fullmatch(name):
            raise ConfigError(f"MFA_REQUIRED_FOR: {name!r} is not an actor type (lower-case letters, digits, _)")
    return MfaSettings(
        encryption_key=aes_key(values, "MFA_ENCRYPTION_KEY"),
        required_for=frozenset(required),
        verifications=parse_verifications(values.get("AUTH_VERIFICATIONS_PER_ACTOR")),
    )


def parse_verifications(value: str | None) -> Mapping[str, Mapping[str, str]]:
    """``customer=emailpass:email;user=emailpass:email``: which actor/provider pairs verify which entity type."""
    variable = "AUTH_VERIFICATIONS_PER_ACTOR"
    parsed: dict[str, dict[str, str]] = {}
    for actor_type, pairs in _per_actor(value, variable, "actor=provider:entity (customer=emailpass:email)"):
        for pair in pairs.split(","):
            provider, colon, entity_type = (part.strip() for part in pair.partition(":"))
            if not colon or not _NAME.fullmatch(provider) or entity_type not in VERIFIABLE_ENTITIES:
                raise ConfigError(
                    f"{variable}: {pair.strip()!r} is not provider:entity ({', '.join(VERIFIABLE_ENTITIES)})"
                )
            parsed.setdefault(actor_type, {})[provider] = entity_type
    return MappingProxyType({actor: MappingProxyType(pairs) for actor, pairs in parsed.items()})


def _per_actor(value: str | None, variable: str, shape: str) -> Iterator[tuple[str, str]]:
    """``actor=...;actor=...``: each entry's actor type (a name) and what follows its ``=``; ConfigError naming
    ``shape`` for an entry that is not of it."""
    for entry in (value or "").split(";"):
        if not entry.strip():
            continue
        actor_type, equals, rest = entry.partition("=")
        actor_type = actor_type.strip()
        if not equals or not _NAME.fullmatch(actor_type):
            raise ConfigError(f"{variable}: {entry.strip()!r} is not {shape}")
        yield actor_type, rest


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy URL; plain ``postgres://`` and ``postgresql://`` URLs get the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _whole_number(values: Mapping[str, Any], variable: str) -> int:
    value = str(values[variable]).strip()
    if not value.isascii() or not value.isdigit():
        raise ConfigError(f"{variable}={value!r} must be a whole number")
    return int(value)


def _webauthn(values: Mapping[str, Any], backend_url: str) -> WebAuthnSettings:
    """The relying party: a domain that each origin's host is, or ends with (browsers refuse any other).

    A backend on an IP address (``http://127.0.0.1:9000``) has no relying party unless WEBAUTHN_RP_ID
    names one: passkeys are then off, and only a configuration that asks for them is refused.
    """
    backend = urlsplit(backend_url)
    asked = str(values.get("WEBAUTHN_RP_ID") or "").strip().lower()
    rp_id = asked or str(backend.hostname)
    extra_origins = parse_origins(values.get("WEBAUTHN_ORIGINS"), "WEBAUTHN_ORIGINS")
    if not _DOMAIN.fullmatch(rp_id) or rp_id.replace(".", "").isdigit():
        if asked or extra_origins:
            raise ConfigError(f"WEBAUTHN_RP_ID={rp_id!r} must be a domain (a passkey's relying party is never an IP)")
        return WebAuthnSettings(rp_id=None, origins=())
    origins = tuple(dict.fromkeys((f"{backend.scheme}://{backend.netloc}", *extra_origins)))
    for origin in origins:
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith("." + rp_id):
            variable = "WEBAUTHN_ORIGINS" if origin in extra_origins else "MEDUSA_BACKEND_URL"
            raise ConfigError(f"{variable}: {origin!r} is not on the relying party's domain {rp_id!r} (WEBAUTHN_RP_ID)")
    return WebAuthnSettings(rp_id=rp_id, origins=origins)


def _storefront_url(values: Mapping[str, Any]) -> str | None:
    return http_url(str(values["STOREFRONT_URL"]), "STOREFRONT_URL") if values.get("STOREFRONT_URL") else None


def _trusted_proxies(values: Mapping[str, Any]) -> int:
    proxies = str(values.get("TRUSTED_PROXIES", "0")).strip()
    if not proxies.isascii() or not proxies.isdigit() or int(proxies) > MAX_TRUSTED_PROXIES:
        raise ConfigError(
            f"TRUSTED_PROXIES={proxies!r} must be how many proxies stand in front, 0 to {MAX_TRUSTED_PROXIES}"
        )
    return int(proxies)


def _throttle(values: Mapping[str, Any]) -> ThrottleSettings:
    """REDIS_URL may hold a password, so an error never echoes it."""
    redis_url = values.get("REDIS_URL")
    if redis_url and urlsplit(str(redis_url)).scheme not in REDIS_SCHEMES:
        raise ConfigError(f"REDIS_URL must be a Redis URL ({', '.join(s + '://' for s in REDIS_SCHEMES)})")
    prefix = str(values.get("RATELIMIT_KEY_PREFIX") or DEFAULT_RATELIMIT_KEY_PREFIX)
    return ThrottleSettings(redis_url=str(redis_url) if redis_url else None, key_prefix=prefix)


def _mail(values: Mapping[str, Any], app_env: str) -> MailSettings:
    use_tls = str(values.get("MAIL_USE_TLS", "")).strip().lower() in _TRUE
    port = str(values.get("MAIL_PORT") or (587 if use_tls else 25))
    if not port.isascii() or not port.isdigit():
        raise ConfigError(f"MAIL_PORT={port!r} must be a port number")
    return MailSettings(
        server=values.get("MAIL_SERVER") or None,
        port=int(port),
        username=values.get("MAIL_USERNAME") or None,
        password=values.get("MAIL_PASSWORD") or None,
        use_tls=use_tls,
        sender=values.get("MAIL_FROM") or "medusa-auth@localhost",
        development=app_env == "development",
    )


def provider_variable_names(provider_ids: Iterable[str]) -> tuple[str, ...]:
    """Every variable the listed providers may read: ``OKTA_CLIENT_ID``, ``OKTA_ISSUER``, ..."""
    return tuple(f"{provider_id.upper()}_{suffix}" for provider_id in provider_ids for suffix in PROVIDER_VARIABLES)


def _provider_ids(listed: Any) -> list[str]:
    """The ids AUTH_PROVIDERS lists, as written (``_redirect_providers`` checks them)."""
    return [item.strip() for item in str(listed or "").split(",") if item.strip()]


def _redirect_providers(values: Mapping[str, Any]) -> RedirectProviders:
    providers: list[RedirectProvider] = []
    for provider_id in _provider_ids(values.get("AUTH_PROVIDERS")):
        if not _PROVIDER_ID.fullmatch(provider_id):
            raise ConfigError(
                f"AUTH_PROVIDERS: {provider_id!r} is not a provider id (lower-case letters, digits and _, "
                "starting with a letter, at most 32)"
            )
        if provider_id in RESERVED_PROVIDER_IDS:
            raise ConfigError(f"AUTH_PROVIDERS: {provider_id!r} is not a redirect provider id (the name is taken)")
        if any(provider.id == provider_id for provider in providers):
            raise ConfigError(f"AUTH_PROVIDERS lists {provider_id!r} twice")
        providers.append(_redirect_provider(provider_id, values))
    callback_urls = [item.strip() for item in str(values.get("AUTH_CALLBACK_URLS") or "").split(",") if item.strip()]
    return RedirectProviders(
        providers=tuple(providers),
        callback_urls=frozenset(callback_url(url, "AUTH_CALLBACK_URLS") for url in callback_urls),
    )


def _redirect_provider(provider_id: str, values: Mapping[str, Any]) -> RedirectProvider:
    """One provider's settings from its variables; ``ConfigError`` naming the variable for any fault."""
    prefix = provider_id.upper()

    def required(suffix: str) -> str:
        value = values.get(f"{prefix}_{suffix}")
        if not value or not str(value).strip():
            raise ConfigError(f"{prefix}_{suffix} is not set: provider {provider_id} (in AUTH_PROVIDERS) needs it")
        return str(value).strip()

    def given(suffix: str) -> str | None:
        value = values.get(f"{prefix}_{suffix}")
        return str(value).strip() if value is not None and str(value).strip() else None

    client_secret = read_secret(values, f"{prefix}_CLIENT_SECRET")
    if not client_secret:
        raise ConfigError(f"{prefix}_CLIENT_SECRET is not set: provider {provider_id} (in AUTH_PROVIDERS) needs it")
    display_name = given("DISPLAY_NAME") or _DISPLAY_NAMES.get(provider_id) or provider_id.replace("_", " ").title()
    if len(display_name) > _MAX_DISPLAY_NAME or not display_name.isprintable():
        raise ConfigError(f"{prefix}_DISPLAY_NAME must be printable and at most {_MAX_DISPLAY_NAME} characters")
    client_id = required("CLIENT_ID")
    if len(client_id) > 512 or not client_id.isprintable():
        raise ConfigError(f"{prefix}_CLIENT_ID must be printable and at most 512 characters")
    github = provider_id == "github"
    endpoints = {suffix: given(suffix) for suffix in GITHUB_ENDPOINTS}
    issuer = given("ISSUER") or (GOOGLE_ISSUER if provider_id == "google" else None)
    if github:
        if issuer:
            raise ConfigError(f"{prefix}_ISSUER is set, but GitHub has no OpenID Connect issuer: leave it out")
        endpoints = {suffix: value or GITHUB_ENDPOINTS[suffix] for suffix, value in endpoints.items()}
    else:
        stray = next((suffix for suffix, value in endpoints.items() if value), None)
        if stray is not None:
            raise ConfigError(
                f"{prefix}_{stray} is set, but {provider_id} is an OpenID Connect provider: "
                f"its endpoints come from {prefix}_ISSUER's discovery document"
            )
        if issuer is None:
            raise ConfigError(
                f"{prefix}_ISSUER is not set: {provider_id} is an OpenID Connect provider, "
                "found at {issuer}/.well-known/openid-configuration"
            )
    asked_scopes = [scope for scope in re.split(r"[\s,]+", given("SCOPES") or "") if scope]
    scopes = tuple(asked_scopes) or _DEFAULT_SCOPES.get(provider_id, _OPENID_SCOPES)
    if not github and "openid" not in scopes:
        raise ConfigError(f"{prefix}_SCOPES={' '.join(scopes)!r} must include openid (it asks for the id_token)")
    return RedirectProvider(
        id=provider_id,
        identifier=provider_id if provider_id in _DISPLAY_NAMES else "oidc",
        display_name=display_name,
        client_id=client_id,
        client_secret=client_secret,
        callback_url=callback_url(required("CALLBACK_URL"), f"{prefix}_CALLBACK_URL"),
        scopes=scopes,
        issuer=endpoint_url(issuer, f"{prefix}_ISSUER") if issuer else None,
        authorize_url=_endpoint_or_none(endpoints["AUTHORIZE_URL"], f"{prefix}_AUTHORIZE_URL"),
        token_url=_endpoint_or_none(endpoints["TOKEN_URL"], f"{prefix}_TOKEN_URL"),
        api_url=_endpoint_or_none(endpoints["API_URL"], f"{prefix}_API_URL"),
    )


def endpoint_url(value: str, variable: str) -> str:
    """A provider endpoint: https (plain http only to loopback), no credentials, query or fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable}={value!r} is not an http(s) URL")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"{variable}={value!r} must use https (plain http only to loopback)")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigError(f"{variable}={value!r} must not carry credentials, a query or a fragment")
    return value


def _endpoint_or_none(value: str | None, variable: str) -> str | None:
    return endpoint_url(value, variable) if value else None


def callback_url(value: str, variable: str) -> str:
    """A URL the provider sends people back to with a code: https (http only to loopback), no fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable}: {value!r} is not an http(s) URL")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"{variable}: {value!r} must use https (plain http only to loopback)")
    if parts.fragment or parts.username is not None or parts.password is not None:
        raise ConfigError(f"{variable}: {value!r} must not carry a fragment or credentials")
    return value


# Names this module turns into Settings; every other upper-case name passes to Flask as it is.
_READ_HERE = frozenset(
    {
        *ENVIRONMENT_VARIABLES,
        "SESSION_IDLE_SECONDS",
        "SESSION_ABSOLUTE_SECONDS",
        "MAX_CONTENT_LENGTH",
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_USE_TLS",
        "MAIL_FROM",
        *(f"PASSWORD_HASH_{name.upper()}" for name in OWASP_MIN),
    }
)
