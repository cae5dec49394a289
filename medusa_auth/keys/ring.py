"""The managed key ring: signing keys in the database, private parts sealed at rest, states driven by
``flask --app wsgi keys rotate | list | retire KID | revoke KID | import PEM``.

States: *standby* (published, not signing yet, so cached JWKS copies learn it first), *active* (the one
key that signs), *retired* (no longer signs; verifies and stays published until the longest token it
can have signed has expired), *revoked* (gone from the JWKS at once, verifies nothing).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import JWKRegistry
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import clock
from ..database import db
from ..models import SigningKeyRecord, as_utc
from ..security_log import security_event
from ..settings import ConfigError
from .keyset import JwksDocument, KeySet, SigningKey, VerificationKey, algorithm_model, jwks_document
from .material import (
    ALGORITHMS,
    KeyMaterialError,
    PrivateKey,
    check_algorithm_fits,
    generate_private_key,
    public_jwk,
    thumbprint,
    to_joserfc_key,
)

if TYPE_CHECKING:
    from .config import JwtConfig

log = logging.getLogger(__name__)
STANDBY, ACTIVE, RETIRED, REVOKED = "standby", "active", "retired", "revoked"


class RingError(Exception):
    """An operation the ring's states do not allow; the message says what to do instead."""


class KeySealer:
    """AES-256-GCM under JWT_KEY_ENCRYPTION_KEY; the kid is the associated data, so a sealed key
    copied onto another row does not open."""

    def __init__(self, key_encryption_key: bytes):
        self._aead = AESGCM(key_encryption_key)

    def seal(self, kid: str, private_key: PrivateKey) -> bytes:
        der = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, der, kid.encode())

    def open(self, kid: str, sealed: bytes) -> PrivateKey:
        try:
            der = self._aead.decrypt(sealed[:12], sealed[12:], kid.encode())
        except InvalidTag as exc:
            raise KeyMaterialError(f"JWT_KEY_ENCRYPTION_KEY does not decrypt signing key {kid}") from exc
        key = serialization.load_der_private_key(der, password=None)
        return key  # type: ignore[return-value]


def is_published(record: SigningKeyRecord, retired_key_lifetime: int) -> bool:
    """Standby and active keys are; a retired one until every token it signed has expired."""
    if record.state in (STANDBY, ACTIVE):
        return True
    if record.state != RETIRED or record.retired_at is None:
        return False
    return clock.now_datetime() < as_utc(record.retired_at) + timedelta(
        seconds=retired_key_lifetime + clock.LEEWAY_SECONDS
    )


def build_keyset(records: Iterable[SigningKeyRecord], sealer: KeySealer, config: JwtConfig) -> KeySet:
    """The in-memory key set for the ring as the database holds it now."""
    published = [r for r in records if is_published(r, config.longest_token_lifetime)]
    verifiers = [
        VerificationKey(r.kid, r.algorithm, JWKRegistry.import_key(r.public_jwk), algorithm_model(r.algorithm))
        for r in published
    ]
    active = sorted(
        (r for r in published if r.state == ACTIVE), key=lambda r: as_utc(r.activated_at or clock.now_datetime())
    )
    signer = None
    if active:
        record = active[-1]
        private = to_joserfc_key(sealer.open(record.kid, record.sealed_private_key))
        signer = SigningKey(record.kid, record.algorithm, private, algorithm_model(record.algorithm))
    return KeySet(signer, verifiers, jwks_document([public_jwk(v.key, v.kid, v.algorithm) for v in verifiers]))


def load_keyset(sealer: KeySealer, config: JwtConfig) -> KeySet:
    # A session of its own: a refresh in the middle of a request must not touch the request's transaction.
    with Session(db.engine) as session:
        records = session.scalars(db.select(SigningKeyRecord).where(SigningKeyRecord.state != REVOKED)).all()
    return build_keyset(records, sealer, config)


class RefreshingKeySet:
    """The ring's key set for one process: re-read every ``refresh_seconds``, and at once when a token
    names a kid this process does not know (at most once per ``unknown_kid_cooldown``, so random kids
    cannot turn into a flood of database reads). Readers never wait for a periodic refresh, and a failed
    refresh keeps the keys already known (logged) rather than failing every request. A reader whose kid
    is unknown waits for a reload already in progress (another thread's may bring that key)."""

    def __init__(
        self,
        load: Callable[[], KeySet],
        refresh_seconds: float,
        unknown_kid_cooldown: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._load, self._monotonic = load, monotonic
        self._refresh_seconds, self._cooldown = refresh_seconds, unknown_kid_cooldown
        self._lock = threading.Lock()
        self._current: KeySet | None = None  # loaded on first use: the CLI may run before `db upgrade`
        self._loaded_at = self._last_forced = -float("inf")

    @property
    def current(self) -> KeySet:
        if self._current is None:
            with self._lock:
                if self._current is None:
                    self._reload()
        elif self._monotonic() - self._loaded_at >= self._refresh_seconds:
            self.refresh()
        assert self._current is not None
        return self._current

    @property
    def signer(self) -> SigningKey | None:
        return self.current.signer

    @property
    def jwks(self) -> JwksDocument | None:
        return self.current.jwks

    @property
    def by_kid(self) -> dict[str, VerificationKey]:
        return self.current.by_kid

    def find(self, kid: str | None) -> VerificationKey | None:
        key = self.current.find(kid)
        if key is None and kid is not None:
            key = self._find_after_reload(kid)
        return key

    def _find_after_reload(self, kid: str) -> VerificationKey | None:
        """An unknown kid waits for a reload in flight (another thread's may bring it), else reloads itself."""
        with self._lock:
            assert self._current is not None
            key = self._current.find(kid)
            if key is None and self._monotonic() - self._last_forced >= self._cooldown:
                self._last_forced = self._monotonic()
                self._reload_or_keep()
                key = self._current.find(kid)
        return key

    def refresh(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reloading; keep answering from the current set
        try:
            self._reload_or_keep()
        finally:
            self._lock.release()

    def _reload_or_keep(self) -> None:
        try:
            self._reload()
        except Exception as error:  # the database is down: known keys keep verifying
            if self._current is None:
                raise
            self._loaded_at = self._monotonic()
            log.warning(
                "key ring refresh failed (%s); keeping %d known keys", type(error).__name__, len(self._current.by_kid)
            )

    def _reload(self) -> None:
        self._current = self._load()
        self._loaded_at = self._monotonic()


# -- state changes (the CLI's) ----------------------------------------------------------------------


def all_records() -> list[SigningKeyRecord]:
    return list(db.session.execute(db.select(SigningKeyRecord).order_by(SigningKeyRecord.created_at)).scalars())


def _by_state(state: str) -> list[SigningKeyRecord]:
    query = db.select(SigningKeyRecord).filter_by(state=state).order_by(SigningKeyRecord.created_at)
    return list(db.session.execute(query).scalars())


def _get(kid: str) -> SigningKeyRecord:
    record = db.session.get(SigningKeyRecord, kid)
    if record is None:
        raise RingError(f"no key with kid {kid}")
    return record


def add_key(sealer: KeySealer, private_key: PrivateKey, algorithm: str, state: str) -> SigningKeyRecord:
    try:
        check_algorithm_fits(algorithm, private_key.public_key())
    except KeyMaterialError as exc:
        raise RingError(str(exc)) from exc
    public = to_joserfc_key(private_key.public_key())
    kid = thumbprint(public)
    if db.session.get(SigningKeyRecord, kid) is not None:
        raise RingError(f"key {kid} is already in the ring")
    record = SigningKeyRecord(
        kid=kid,
        algorithm=algorithm,
        state=state,
        public_jwk=public_jwk(public, kid, algorithm),
        sealed_private_key=sealer.seal(kid, private_key),
        activated_at=clock.now_datetime() if state == ACTIVE else None,
    )
    db.session.add(record)
    security_event("key_state_changed", kid=kid, state=state)
    return record


def _set_state(record: SigningKeyRecord, state: str) -> None:
    record.state = state
    moment = clock.now_datetime()
    if state == ACTIVE:
        record.activated_at = moment
    elif state == RETIRED:
        record.retired_at = moment
    elif state == REVOKED:
        record.revoked_at = moment
    security_event("key_state_changed", kid=record.kid, state=state)


def rotate(sealer: KeySealer, algorithm: str, *, immediately: bool = False) -> str:
    """One step of a rotation. An empty ring gets an active key. Otherwise the first call publishes a new
    standby key, and the next call (once verifiers' JWKS caches have had time to learn it) makes it the
    active key and retires the old one. ``immediately`` does both steps at once (a leaked key)."""
    active, standby = _by_state(ACTIVE), _by_state(STANDBY)
    if not active and not standby:
        record = add_key(sealer, _new_private_key(algorithm), algorithm, ACTIVE)
        db.session.commit()
        return f"{record.kid} created and active"
    if not standby:
        record = add_key(sealer, _new_private_key(algorithm), algorithm, STANDBY)
        standby = [record]
        if not immediately:
            db.session.commit()
            return f"{record.kid} published as standby; run `keys rotate` again to make it sign"
    for old in active:
        _set_state(old, RETIRED)
    _set_state(standby[-1], ACTIVE)
    db.session.commit()
    return f"{standby[-1].kid} active; retired {', '.join(r.kid for r in active) or 'none'}"


def retire(kid: str) -> str:
    record = _get(kid)
    if record.state == ACTIVE:
        raise RingError(f"{kid} is the active key: `keys rotate` first, which retires it")
    if record.state != STANDBY:
        raise RingError(f"{kid} is {record.state}; only a standby key can be retired by hand")
    _set_state(record, RETIRED)
    db.session.commit()
    return f"{kid} retired"


def revoke(kid: str) -> str:
    """Gone from the JWKS and from verification at once: every token it signed stops working."""
    record = _get(kid)
    if record.state == ACTIVE:
        raise RingError(f"{kid} is the active key: `keys rotate --now` first, then revoke it")
    if record.state == REVOKED:
        raise RingError(f"{kid} is already revoked")
    _set_state(record, REVOKED)
    db.session.commit()
    return f"{kid} revoked"


def import_key(sealer: KeySealer, private_key: PrivateKey, algorithm: str) -> str:
    """An existing private key (say, the one JWT_SECRET_KEY held) joins the ring: active if the ring
    has none, else standby for the next rotation."""
    state = ACTIVE if not _by_state(ACTIVE) else STANDBY
    record = add_key(sealer, private_key, algorithm, state)
    db.session.commit()
    return f"{record.kid} imported as {state}"


def _new_private_key(algorithm: str) -> PrivateKey:
    kind = ALGORITHMS[algorithm].generated_as
    if kind is None:
        raise RingError(f"{algorithm} has no key pair: the ring holds RSA, EC or Ed25519 keys")
    return generate_private_key(kind)


def check_ring(ring: RefreshingKeySet) -> None:
    """At server start: the ring is readable, its keys open under this KEK, and one key is active."""
    try:
        ring.refresh()
        signer = ring.signer
    except KeyMaterialError as exc:
        raise ConfigError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"the key ring cannot be read ({type(exc).__name__}): run `flask --app wsgi db upgrade`"
        ) from exc
    if signer is None:
        raise ConfigError("JWT_KEY_ENCRYPTION_KEY: the key ring has no active key; run `flask --app wsgi keys rotate`")
