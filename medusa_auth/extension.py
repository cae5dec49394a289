"""``MedusaAuth``: the one extension object. It builds, once at startup, what requests only read:
the key source, the token issuers, the password hasher and the throttle's limiter.

Request code reaches them one way, ``medusa_auth()`` (the current app's extension), the way
Flask-Security-Too and Flask-Limiter keep theirs in ``app.extensions``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
from flask import Flask, current_app
from limits.strategies import FixedWindowRateLimiter

from .actors import CUSTOMER, Actors
from .api_keys import LiveApiKeys, hash_key
from .database import db, migrate
from .keys.config import JwtConfig, TokenOptions, describe_key, get_jwt_config
from .keys.development import development_cookie_secret, development_key_file
from .keys.keyset import KeySet, KeySource
from .keys.remote import RemoteJwks, remote_algorithms
from .keys.ring import KeySealer, RefreshingKeySet, check_ring, load_keyset
from .mfa.secrets_at_rest import MfaKeys
from .passwords import Passwords
from .providers.oauth import ProviderClient, build_client
from .providers.passkey import RelyingParty, build_relying_party
from .providers.state import StateStore, build_state_store
from .revocation import ISSUER_MAX_STALENESS_SECONDS, RefreshingEndedSessions, ended_sids
from .settings import DEFAULT_AUTH_METHODS, ConfigError, Settings, check_server_settings
from .throttle_store import build_limiter
from .tokens import Tokens

log = logging.getLogger(__name__)

EXTENSION_NAME = "medusa_auth"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_UNCONFIGURED = TokenOptions(algorithm="", keyid="", issuer=None, audience=(), expires_in=0)


class MedusaAuth:
    """What an app builds once from its ``Settings`` and reads on every request."""

    settings: Settings
    actors: Actors  # the actor types and the providers each may use (AUTH_METHODS_PER_ACTOR)
    jwt: JwtConfig | None  # None only when a repair command runs on a configuration the server refuses
    keys: KeySource  # a static KeySet, the managed ring refreshing itself, or a remote JWKS
    tokens: Tokens  # access, registration and reset tokens: the http options
    invite_tokens: Tokens  # invite tokens: the user module's options (INVITE_VALID_DURATION), the same keys
    passwords: Passwords
    throttle: FixedWindowRateLimiter  # login and reset counters, in Redis or the database
    redirect_providers: dict[str, ProviderClient]  # AUTH_PROVIDERS' clients by id, in their order
    sign_in_states: StateStore  # redirect sign-ins in flight, in Redis or the database
    passkeys: RelyingParty  # WebAuthn: the relying party and its challenges, in Redis or the database
    # The sign-in sessions ended on any instance, re-read every REVOCATION_REFRESH_SECONDS; None on a
    # verifier-only instance (its database is not the issuer's) and on a configuration the server refuses.
    ended_sessions: RefreshingEndedSessions | None
    api_keys: LiveApiKeys  # this worker's view of the unrevoked API keys (secret and publishable)
    sealer: KeySealer | None  # set when the managed key ring is in use
    mfa_keys: MfaKeys  # seals second-factor secrets, hashes recovery and verification codes
    config_error: str | None  # why the server would refuse to start (repair commands still run)

    def __init__(self, app: Flask | None = None, settings: Settings | None = None):
        if app is not None and settings is not None:
            self.init_app(app, settings)

    def init_app(self, app: Flask, settings: Settings) -> None:
        """Bind to ``app``: Flask's own settings, the database, then keys, issuers, hasher and throttle."""
        self.settings = settings
        self.config_error = None
        app.extensions[EXTENSION_NAME] = self
        cookie_secret = self._cookie_secret(settings)
        app.config.update(settings.flask_config(cookie_secret))
        self.mfa_keys = MfaKeys(self._mfa_master_key(settings, cookie_secret))
        db.init_app(app)
        migrate.init_app(app, db, directory=str(MIGRATIONS))
        hashing = settings.password_hashing
        self.passwords = Passwords(hashing.time_cost, hashing.memory_cost, hashing.parallelism)
        try:
            self.actors = Actors.from_settings(
                settings.auth_methods_per_actor, settings.redirect_providers.providers, settings.webauthn
            )
            check_server_settings(settings)
            self.jwt = get_jwt_config(self._jwt_environment(settings))
            self.keys, self.sealer = self._key_source(app, self.jwt)
        except ConfigError as error:
            if not repair_command_may_start():
                raise
            # `keys generate`, `jwks export` and `db` exist to fix the configuration, so they still start.
            log.warning("configuration error: %s (the server will not start until it is fixed)", error)
            self.config_error = str(error)
            self.actors = Actors.from_settings(DEFAULT_AUTH_METHODS)
            self.jwt, self.keys, self.sealer = None, KeySet(None, (), None), None
        else:
            log.info("keys: %s", describe_key(self.jwt))
            if self.actors.providers_for(CUSTOMER) and settings.storefront_url is None and settings.app_env != "test":
                log.warning("STOREFRONT_URL is not set: customers' password-reset links cannot be mailed")
            unused = [p.id for p in settings.redirect_providers.providers if p.id not in self.actors.path_segments()]
            if unused:
                log.warning("AUTH_PROVIDERS: %s allowed for no actor type (AUTH_METHODS_PER_ACTOR)", ", ".join(unused))
            _warn_of_passkey_origins_without_cors(settings)
        options = self.jwt.http if self.jwt is not None else _UNCONFIGURED
        self.ended_sessions = self._ended_sessions(app, settings, self.jwt)
        self.tokens = Tokens(self.keys, options, self.actors.types, self.ended_sessions)
        invite_options = self.jwt.user_module if self.jwt is not None else options
        self.invite_tokens = Tokens(self.keys, invite_options, self.actors.types)
        self.throttle = build_limiter(settings.throttle)
        self.redirect_providers = {p.id: build_client(p) for p in settings.redirect_providers.providers}
        self.sign_in_states = build_state_store(settings.throttle)
        refresh_seconds = settings.sessions.revocation_refresh_seconds
        self.api_keys = LiveApiKeys(hash_key(app.config.get("SECRET_KEY")), refresh_seconds)
        self.passkeys = build_relying_party(settings.webauthn, settings.throttle)

    @property
    def backend_url(self) -> str:
        """MEDUSA_BACKEND_URL: the base of every link we mail (never the request's Host header)."""
        return self.settings.backend_url

    def require_configuration(self) -> None:
        """For commands that need a working configuration: the one line, as a CLI error."""
        if self.config_error is not None:
            raise click.ClickException(self.config_error)

    @staticmethod
    def _cookie_secret(settings: Settings) -> str | None:
        if settings.cookie_secret or settings.app_env == "production":
            return settings.cookie_secret
        return development_cookie_secret(settings.instance_path)

    @staticmethod
    def _mfa_master_key(settings: Settings, cookie_secret: str | None) -> bytes:
        """MFA_ENCRYPTION_KEY, else COOKIE_SECRET (HKDF separates the keys derived from it)."""
        if settings.mfa.encryption_key is not None:
            return settings.mfa.encryption_key
        if cookie_secret:
            return cookie_secret.encode()
        return os.urandom(32)  # no COOKIE_SECRET: the server refuses to start; a repair command seals nothing

    @staticmethod
    def _jwt_environment(settings: Settings) -> dict[str, str]:
        """The asked-for JWT variables; in development with no key at all, a key generated into instance/."""
        environment = dict(settings.jwt_environment)
        if settings.wants_development_key:
            environment["JWT_SECRET_KEY_FILE"] = development_key_file(settings.instance_path)
        return environment

    @staticmethod
    def _key_source(app: Flask, config: JwtConfig) -> tuple[KeySource, KeySealer | None]:
        """The guide's static keys, the managed ring (checked now, so a bad ring stops the server), or a JWKS."""
        if config.key_encryption_key is not None:
            sealer = KeySealer(config.key_encryption_key)
            ring = RefreshingKeySet(lambda: load_keyset(sealer, config), config.key_refresh_seconds)
            if not repair_command_may_start():
                with app.app_context():
                    try:
                        check_ring(ring)
                    except ConfigError:
                        db.engine.dispose()  # this app is abandoned: close what the check opened
                        raise
            return ring, sealer
        if config.verify_key is not None or config.jwks_url is None:
            if config.jwks_url is not None:
                log.warning("JWKS_URL is ignored: this instance holds its own keys and verifies with them")
            return KeySet.from_config(config), None
        # A verifier-only instance; an issuer never fetches its own JWKS.
        return RemoteJwks(config.jwks_url, algorithms=remote_algorithms(config.requested_algorithm)), None

    @staticmethod
    def _ended_sessions(app: Flask, settings: Settings, config: JwtConfig | None) -> RefreshingEndedSessions | None:
        """The issuer's ended sign-in sessions, read from its database (refreshed on first use, then every
        REVOCATION_REFRESH_SECONDS); none where this instance signs nothing."""
        if config is None or not config.can_sign:
            return None
        with app.app_context():
            engine = db.engine
        lifetime = config.http.expires_in
        return RefreshingEndedSessions(
            lambda current: ended_sids(engine, lifetime, current),
            settings.sessions.revocation_refresh_seconds,
            ISSUER_MAX_STALENESS_SECONDS,
            unavailable_type="database_error",
        )


def _warn_of_passkey_origins_without_cors(settings: Settings) -> None:
    """An origin of WEBAUTHN_ORIGINS is a page on another origin running passkey ceremonies against /auth: unless
    it reaches /auth through a proxy of its own, the browser needs AUTH_CORS to let it (a warning, not an error)."""
    # The first origin is MEDUSA_BACKEND_URL's own, which needs no CORS; WEBAUTHN_ORIGINS' follow, without it.
    without_cors = [o for o in settings.webauthn.origins[1:] if o not in settings.cors_origins["/auth"]]
    if without_cors:
        log.warning(
            "WEBAUTHN_ORIGINS: %s not in AUTH_CORS: passkeys work there only if that page reaches /auth "
            "through a proxy of its own",
            ", ".join(without_cors),
        )


def medusa_auth() -> MedusaAuth:
    """The current app's extension: the one way request code reaches keys, tokens, passwords and settings."""
    extension: MedusaAuth = current_app.extensions[EXTENSION_NAME]
    return extension


def repair_command_may_start() -> bool:
    """Whether the app is being loaded for a command (resolving ``flask <group> ...``), not to serve.

    ``flask run``, ``flask shell`` and ``flask routes`` load the app inside their own command, so
    they refuse a bad configuration like gunicorn does; app commands that need a working
    configuration refuse through ``require_configuration``.
    """
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.command, click.Group)
