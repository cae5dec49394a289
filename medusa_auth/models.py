"""Typed SQLAlchemy 2 models, after Medusa's user, customer and auth modules.

An ``AuthIdentity`` is who can authenticate; its ``ProviderIdentity`` rows say how (here: emailpass,
keyed by the lower-cased email). ``app_metadata.user_id`` links it to a ``User`` once one exists,
``app_metadata.customer_id`` to a ``Customer`` (one identity may be both, see actors.py); until then
its tokens for that actor type are registration tokens (``actor_id: ""``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from ulid import ULID

from .database import db


def new_id(prefix: str) -> str:
    """Medusa-style ids: a prefix and a ULID, so ids sort by creation time."""
    return f"{prefix}_{ULID()}"


def digest(secret: str) -> str:
    """What the database keeps of a secret identifier (session id, token jti): its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (SQLite hands back naive ones, stored as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def normalize_email(email: str) -> str:
    """The form an email is stored and compared in: NFKC, then lower-cased as a whole.

    Case-insensitive (Medusa's emails are not, and users trip on it). The addresses the routes accept
    are ASCII (``request_data.is_email``), for which NFKC changes nothing; it is here so that a lookup
    by an unchecked string cannot tell compatibility spellings (fullwidth letters, ligatures) apart.
    """
    return unicodedata.normalize("NFKC", email.strip()).lower()


def assign(row: Any, fields: dict[str, Any]) -> None:
    """Set the fields an update names, as given (``None`` clears one); ``metadata`` is the ``metadata_`` column."""
    for name, value in fields.items():
        setattr(row, "metadata_" if name == "metadata" else name, value)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class User(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "user"
    # Lists read oldest first; deep pages continue from a (created_at, id) pair (keyset).
    __table_args__ = (Index("ix_user_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("user"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "avatar_url": self.avatar_url,
            "metadata": self.metadata_,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "deleted_at": None,
        }


class Customer(Timestamped, db.Model):  # type: ignore[name-defined]
    """Medusa's customer (a storefront shopper); ``has_account`` when an auth identity is linked to it."""

    __tablename__ = "customer"
    # Medusa's index: one customer with an account per email (guests may share one), deleted ones aside.
    __table_args__ = (
        Index(
            "uq_customer_email_has_account",
            "email",
            "has_account",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        Index("ix_customer_created_at_id", "created_at", "id"),  # listed oldest first, like users and invites
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("cus"))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(255))
    company_name: Mapped[str | None] = mapped_column(String(255))
    has_account: Mapped[bool] = mapped_column(default=False)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_by: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict[str, Any]:
        """Medusa's store customer (its default fields; this service keeps no addresses)."""
        return {
            "id": self.id,
            "email": self.email,
            "company_name": self.company_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "metadata": self.metadata_,
            "has_account": self.has_account,
            "addresses": [],
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "deleted_at": isoformat(self.deleted_at),
        }


class AuthIdentity(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "auth_identity"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("authid"))
    app_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A NumericDate: tokens of this identity with an earlier ``iat`` are refused (its credentials changed).
    tokens_valid_from: Mapped[int | None] = mapped_column(Integer)
    provider_identities: Mapped[list[ProviderIdentity]] = relationship(
        back_populates="auth_identity", cascade="all, delete-orphan"
    )

    @property
    def user_id(self) -> str | None:
        value = (self.app_metadata or {}).get("user_id")
        return value if isinstance(value, str) and value else None


class ProviderIdentity(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "provider_identity"
    __table_args__ = (UniqueConstraint("provider", "entity_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("provid"))
    entity_id: Mapped[str] = mapped_column(String(320))  # the normalized email for emailpass
    provider: Mapped[str] = mapped_column(String(64))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    user_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # An argon2id PHC string that records its own parameters; never serialised anywhere.
    password_hash: Mapped[str | None] = mapped_column(String(512))
    auth_identity: Mapped[AuthIdentity] = relationship(back_populates="provider_identities")


class BrowserSession(db.Model):  # type: ignore[name-defined]
    """A signed-in browser: the cookie carries a random id, the database only its SHA-256.

    It stands for one actor (``actor_type``, ``actor_id``) of one auth identity, as the token it was
    started with did; ``actor_id`` is ``""`` for an identity not yet linked to an actor of that type.
    """

    __tablename__ = "browser_session"
    __table_args__ = (Index("ix_browser_session_actor", "actor_type", "actor_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    auth_provider: Mapped[str] = mapped_column(String(64))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the absolute lifetime's end
    # The second-factor state of the token the session was started with (Medusa 2.21's claims).
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    mfa_challenge_completed_at: Mapped[str | None] = mapped_column(String(40))
    # The sign-in this browser belongs to: ending either ends both (None: a session from before sign-in sessions).
    sign_in_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sign_in_session.id", ondelete="CASCADE"), index=True
    )


class SignInSession(db.Model):  # type: ignore[name-defined]
    """One sign-in (password, third party, registration, second factor): its tokens carry its ``id`` as ``sid``.

    Refresh keeps the ``sid`` and never reaches past ``expires_at`` (SESSION_ABSOLUTE_SECONDS after the
    sign-in). Once ``ended_at`` is set, every instance refuses its tokens within REVOCATION_REFRESH_SECONDS
    and its browser sessions are gone.
    """

    __tablename__ = "sign_in_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("sess"))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    actor_type: Mapped[str] = mapped_column(String(32))
    auth_provider: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the sign-in: tokens' auth_time
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Every instance reads the sessions ended within the longest token lifetime, by this index.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class PasswordReset(db.Model):  # type: ignore[name-defined]
    """The one live reset token of an identity, as a hash of its jti; a new request replaces it."""

    __tablename__ = "password_reset"

    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), primary_key=True)
    jti_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Invite(Timestamped, db.Model):  # type: ignore[name-defined]
    """An invitation by email; the database keeps a hash of its token's jti, never the token."""

    __tablename__ = "invite"
    __table_args__ = (Index("ix_invite_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("invite"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    accepted: Mapped[bool] = mapped_column(default=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jti_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_by: Mapped[str | None] = mapped_column(String(64))  # the inviting user's id; None from the CLI

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "accepted": self.accepted,
            "accepted_at": isoformat(self.accepted_at),
            "expires_at": isoformat(self.expires_at),
            "metadata": self.metadata_,
            "created_by": self.created_by,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "deleted_at": None,
        }


class ApiKey(Timestamped, db.Model):  # type: ignore[name-defined]
    """Medusa's API key: a secret key (``sk_``) opens /admin over HTTP Basic, a publishable one (``pk_``) /store.

    Found by ``token_hash``, an HMAC-SHA256 of the token (api_keys.py); the token itself is kept only for
    publishable keys, which are public by design (a storefront ships them to every browser).
    """

    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("apk"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str | None] = mapped_column(String(128))  # publishable keys only
    redacted: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64))  # the actor's id; None from the CLI
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self, token: str | None = None) -> dict[str, Any]:
        """Medusa's shape: a secret key's ``token`` is "" but in the answer that created it (``token``)."""
        return {
            "id": self.id,
            "token": token or self.token or "",
            "redacted": self.redacted,
            "title": self.title,
            "type": self.type,
            "last_used_at": isoformat(self.last_used_at),
            "created_by": self.created_by,
            "revoked_by": self.revoked_by,
            "revoked_at": isoformat(self.revoked_at),
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "deleted_at": None,
        }


class SigningKeyRecord(Timestamped, db.Model):  # type: ignore[name-defined]
    """One key of the managed ring: standby → active (one at a time) → retired → revoked."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # AES-256-GCM nonce + ciphertext of the PKCS#8 DER private key, bound to the kid; never plaintext.
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitCounter(db.Model):  # type: ignore[name-defined]
    """One fixed-window throttle counter: how many hits ``key`` has had in the window that ends at ``expires_at``."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class TableRowCount(db.Model):  # type: ignore[name-defined]
    """How many rows a table has, kept exact by database triggers (migration 0007) on every insert and delete.

    A list's total is read here instead of by count(*), which takes longer than the request once a table
    holds a million rows. A missing row (a table not counted, or this one emptied) means: count the table.
    """

    __tablename__ = "table_row_count"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_count: Mapped[int] = mapped_column(BigInteger)


class OAuthState(db.Model):  # type: ignore[name-defined]
    """A sign-in sent to a redirect provider and not yet back: found by the SHA-256 of its ``state``, used once."""

    __tablename__ = "oauth_state"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str] = mapped_column(String(2048))
    # PKCE's code_verifier: useless without the code the provider sends to the callback URL alone.
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(128))  # OpenID Connect only
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class MfaFactor(Timestamped, db.Model):  # type: ignore[name-defined]
    """A second factor of an auth identity: ``pending`` until a first code proves it, then ``enabled``.

    The TOTP secret is sealed (AES-256-GCM, the factor id as associated data); ``last_step`` is the last
    30-second step a code was accepted for, so a code is accepted at most once (RFC 6238 §5.2).
    """

    __tablename__ = "mfa_factor"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("mfa"))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "status": self.status,
            "label": self.label,
            "metadata": self.metadata_,
            "enabled_at": isoformat(self.enabled_at),
            "last_used_at": isoformat(self.last_used_at),
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


class MfaRecoveryCode(db.Model):  # type: ignore[name-defined]
    """One unused recovery code, as a keyed hash; using it deletes the row (the DELETE is the check)."""

    __tablename__ = "mfa_recovery_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MfaChallenge(db.Model):  # type: ignore[name-defined]
    """A sign-in waiting for its second factor: 5 minutes, 5 attempts, completed once."""

    __tablename__ = "mfa_challenge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("mfachal"))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    actor_type: Mapped[str] = mapped_column(String(64))
    auth_provider: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class Verification(db.Model):  # type: ignore[name-defined]
    """A code mailed to prove an entity (an email address): its keyed hash, an expiry and an attempt count."""

    __tablename__ = "verification"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("verif"))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(320))
    code_provider: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Passkey(db.Model):  # type: ignore[name-defined]
    """A WebAuthn credential of an auth identity: its id and public key, nothing secret."""

    __tablename__ = "passkey"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("passkey"))
    auth_identity_id: Mapped[str] = mapped_column(ForeignKey("auth_identity.id", ondelete="CASCADE"), index=True)
    # base64url of the authenticator's credential id (at most 1023 bytes: 1364 characters)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator gave it
    sign_count: Mapped[int] = mapped_column(BigInteger)  # a 32-bit unsigned counter; 0 for authenticators without one
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auth_identity: Mapped[AuthIdentity] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "created_at": isoformat(self.created_at),
            "last_used_at": isoformat(self.last_used_at),
        }


class WebAuthnChallenge(db.Model):  # type: ignore[name-defined]
    """A WebAuthn challenge handed out and not yet answered: found by its SHA-256, used once, 5 minutes."""

    __tablename__ = "webauthn_challenge"

    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    ceremony: Mapped[str] = mapped_column(String(32))  # registration or authentication
    actor_type: Mapped[str] = mapped_column(String(64))
    auth_identity_id: Mapped[str | None] = mapped_column(String(64))  # whose registration or second factor
    mfa_challenge_id: Mapped[str | None] = mapped_column(String(64))  # the sign-in challenge a second factor answers
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch
