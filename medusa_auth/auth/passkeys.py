"""Passkeys of auth identities: register, list and delete them signed in, sign in with one alone, and answer a
password sign-in's MFA challenge with one.

The WebAuthn ceremonies are ``providers/passkey.py``'s; this module holds the rows (``Passkey``) and
decides whose they are. A passkey belongs to one auth identity, whatever its actors: signing in as an
actor type the identity has no actor of gives a registration token (``actor_id: ""``), as every
provider does. Every refusal is one ``passkey_refused`` security-log line and a 401 saying why.

A passkey alone never turns on the second factor: a password sign-in is challenged only for an identity
with an enabled TOTP factor (``mfa_service``); that challenge then also takes the identity's passkeys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError

from .. import clock, sign_in_sessions
from ..actors import actor_id_of
from ..database import db
from ..errors import ApiError, not_found, unauthorized
from ..extension import medusa_auth
from ..models import AuthIdentity, MfaChallenge, Passkey, SignInSession
from ..providers.passkey import (
    AUTHENTICATION,
    PROVIDER,
    REGISTRATION,
    SECOND_FACTOR,
    Answer,
    PasskeyRefused,
    PendingCeremony,
    RelyingParty,
    counter_went_forward,
)
from ..security_log import security_event
from ..single_use import StoreUnavailable
from . import identity_service, throttle
from .identity_service import current_identity

# Adding or removing a passkey changes how the account signs in: only a sign-in this recent may.
RECENT_SIGN_IN_SECONDS = 10 * 60
MAX_PASSKEYS = 20  # per identity: the creation options list them all as excluded
SIGN_IN_AGAIN = "Sign in again to change your passkeys (your sign-in must be at most 10 minutes old)"
NOT_REGISTERED = "This passkey is not registered here"
ANOTHER_ACCOUNT = "This passkey belongs to another account"
ALREADY_REGISTERED = "This passkey is already registered"
CLONED = "This passkey's signature counter went backwards: it may have been copied, so it is refused"
UNAVAILABLE = "Passkeys are not available on this server (MEDUSA_BACKEND_URL's host is not a domain)"
TOO_MANY = f"An account may hold at most {MAX_PASSKEYS} passkeys: delete one first"
NO_PASSKEY = "This account has no passkey: answer with a code"


@dataclass(frozen=True)
class Account:
    """Who asks to change passkeys: the identity, as which actor type, and when it signed in."""

    identity: AuthIdentity
    actor_type: str
    signed_in_at: Any  # the sign-in's time (``auth_time``); seconds since the epoch

    @classmethod
    def of(cls, claims: dict[str, Any]) -> Account:
        """The bearer's (or session's) account, if its identity still exists and its credentials are unchanged."""
        return cls(current_identity(claims), claims["actor_type"], signed_in_at(claims))


def signed_in_at(claims: dict[str, Any]) -> Any:
    """When the token's or browser session's sign-in happened: ``auth_time`` (kept by refresh), else its sign-in
    session's start, else ``iat`` (a token from before sign-in sessions)."""
    if "auth_time" in claims:
        return claims["auth_time"]
    sid = claims.get("sid")
    row = db.session.get(SignInSession, sid) if isinstance(sid, str) else None
    return sign_in_sessions.token_claims(row).auth_time if row is not None else claims.get("iat")


def registration_options(account: Account) -> dict[str, Any]:
    """Creation options for the account's identity: a discoverable passkey, its existing ones excluded."""
    identity = _recently_signed_in(account)
    existing = list_for(identity)
    if len(existing) >= MAX_PASSKEYS:
        raise ApiError(400, "not_allowed", TOO_MANY)
    pending = PendingCeremony(REGISTRATION, account.actor_type, identity.id)
    return _stored(
        lambda rp: rp.creation_options(
            pending,
            identity.id.encode(),
            _account_name(identity),
            [(passkey.credential_id, passkey.transports) for passkey in existing],
        )
    )


def register(account: Account, credential: dict[str, Any], label: str | None) -> Passkey:
    """The passkey a browser created with our options, for the identity they were handed to."""
    identity = account.identity
    rp = _relying_party()
    expected = PendingCeremony(REGISTRATION, account.actor_type, identity.id)
    try:
        answer = rp.read_registration(credential)
        _take(rp, answer, expected)
        new = rp.verify_registration(answer)
    except PasskeyRefused as refused:
        _refuse(refused.message, refused.reason, REGISTRATION, auth_identity_id=identity.id)
    passkey = Passkey(
        auth_identity_id=identity.id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=new.transports,
        label=label or f"Passkey added {clock.now_datetime():%Y-%m-%d}",
    )
    db.session.add(passkey)
    try:
        db.session.commit()
    except IntegrityError:  # its credential id is already here (maybe another identity's)
        db.session.rollback()
        _refuse(ALREADY_REGISTERED, "credential id already registered", REGISTRATION, auth_identity_id=identity.id)
    security_event("passkey_registered", auth_identity_id=identity.id, passkey_id=passkey.id)
    return passkey


def list_for(identity: AuthIdentity) -> list[Passkey]:
    """The identity's passkeys, oldest first."""
    query = db.select(Passkey).filter_by(auth_identity_id=identity.id).order_by(Passkey.created_at, Passkey.id)
    return list(db.session.execute(query).scalars())


def has_passkey(auth_identity_id: str) -> bool:
    """Whether the identity can answer with a passkey here: it has one, and this server is a relying party."""
    if not medusa_auth().passkeys.enabled:
        return False
    query = db.select(Passkey.id).filter_by(auth_identity_id=auth_identity_id).limit(1)
    return db.session.execute(query).first() is not None


def delete(account: Account, passkey_id: str) -> Passkey:
    """Remove one of the identity's passkeys (a recent sign-in needed); another identity's is not found."""
    identity = _recently_signed_in(account)
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.auth_identity_id != identity.id:
        raise not_found(f"Passkey with id: {passkey_id} was not found")
    db.session.delete(passkey)
    db.session.commit()
    security_event("passkey_deleted", auth_identity_id=identity.id, passkey_id=passkey_id)
    return passkey


def sign_in_options(actor_type: str) -> dict[str, Any]:
    """Request options for signing in as ``actor_type`` with any discoverable passkey (no username)."""
    throttle.check_passkey_options()
    return _stored(lambda rp: rp.request_options(PendingCeremony(AUTHENTICATION, actor_type, None)))


def sign_in(actor_type: str, credential: dict[str, Any]) -> str:
    """Medusa's token for the identity whose passkey signed our challenge, as ``actor_type``."""
    identity = authenticate(actor_type, credential)
    security_event(
        "login_succeeded",
        auth_identity_id=identity.id,
        actor_type=actor_type,
        actor_id=actor_id_of(identity, actor_type) or "",
        provider=PROVIDER,
        client=throttle.client_address(),
    )
    # User verification is required in every ceremony: a passkey is something held plus a fingerprint, face or
    # PIN, so its sign-in has passed a second factor (an identity with TOTP on is not asked for a code too).
    return identity_service.sign_in(identity, actor_type, PROVIDER, None, clock.iso(clock.now()))


def authenticate(actor_type: str, credential: dict[str, Any]) -> AuthIdentity:
    """The identity whose registered passkey signed a live challenge of ours; its counter and last use updated."""
    try:
        passkey = _checked_assertion(credential, PendingCeremony(AUTHENTICATION, actor_type, None))
    except PasskeyRefused as refused:
        raise unauthorized(refused.message) from None
    db.session.commit()
    return passkey.auth_identity


def second_factor_options(identity: AuthIdentity, challenge: MfaChallenge) -> dict[str, Any]:
    """Request options to answer ``challenge`` (a password sign-in's) with one of the identity's own passkeys:
    only those are allowed, and the WebAuthn challenge is bound to this identity and this MFA challenge."""
    throttle.check_passkey_options()
    existing = list_for(identity)
    if not existing:
        raise ApiError(400, "not_allowed", NO_PASSKEY)
    allowed = [(passkey.credential_id, passkey.transports) for passkey in existing]
    return _stored(lambda rp: rp.request_options(_second_factor(challenge), allowed))


def verify_second_factor(challenge: MfaChallenge, credential: dict[str, Any]) -> None:
    """The challenge's identity's own passkey signed the options handed out for this challenge (its counter and
    last use updated; the caller commits); ``PasskeyRefused``, already logged, otherwise."""
    _checked_assertion(credential, _second_factor(challenge), owner=challenge.auth_identity_id)


def _second_factor(challenge: MfaChallenge) -> PendingCeremony:
    return PendingCeremony(SECOND_FACTOR, challenge.actor_type, challenge.auth_identity_id, challenge.id)


def _checked_assertion(credential: dict[str, Any], expected: PendingCeremony, owner: str | None = None) -> Passkey:
    """The registered passkey (``owner``'s, when one is named) that signed a live challenge handed out for
    ``expected``, its counter and last use updated (the caller commits). The one place an assertion is checked:
    each refusal is one ``passkey_refused`` line, then ``PasskeyRefused``."""
    rp = _relying_party()
    # Whose ceremony it was (a second factor's: the account signing in), then which passkey answered.
    logged = {name: value for name, value in asdict(expected).items() if name != "ceremony" and value is not None}
    try:
        answer = rp.read_assertion(credential)
        _take(rp, answer, expected)
        passkey = _by_credential_id(answer.credential_id)
        if passkey is None:
            raise PasskeyRefused(NOT_REGISTERED, "unknown credential")
        logged.setdefault("auth_identity_id", passkey.auth_identity_id)
        logged["passkey_id"] = passkey.id
        _check_signer(rp, answer, passkey, owner)
    except PasskeyRefused as refused:
        _log_refusal(refused.reason, expected.ceremony, **logged)
        raise
    return passkey


def _check_signer(rp: RelyingParty, answer: Answer, passkey: Passkey, owner: str | None) -> None:
    """The answer is ``passkey``'s (whose it claims, whose it must be, its signature, its counter): record its use."""
    if owner is not None and passkey.auth_identity_id != owner:
        raise PasskeyRefused(ANOTHER_ACCOUNT, "credential of another identity")
    if answer.user_handle is not None and answer.user_handle != passkey.auth_identity_id.encode():
        raise PasskeyRefused(ANOTHER_ACCOUNT, "user handle of another identity")
    received = rp.verify_assertion(answer, passkey.public_key)
    if not counter_went_forward(passkey.sign_count, received):
        raise PasskeyRefused(CLONED, f"counter {received} after {passkey.sign_count}: cloned authenticator?")
    passkey.sign_count, passkey.last_used_at = received, clock.now_datetime()


def _recently_signed_in(account: Account) -> AuthIdentity:
    """The account's identity, if it signed in within RECENT_SIGN_IN_SECONDS."""
    identity, signed_in_at = account.identity, account.signed_in_at
    if not isinstance(signed_in_at, int | float) or clock.now() - signed_in_at > RECENT_SIGN_IN_SECONDS:
        security_event("passkey_refused", reason="sign-in not recent", auth_identity_id=identity.id)
        raise unauthorized(SIGN_IN_AGAIN)
    return identity


def _take(rp: RelyingParty, answer: Answer, expected: PendingCeremony) -> None:
    try:
        rp.take_challenge(answer, expected)
    except StoreUnavailable as error:
        raise _unavailable(error) from None


def _stored(make_options: Any) -> dict[str, Any]:
    """Options whose challenge the store kept; 503 when the store does not answer."""
    try:
        options: dict[str, Any] = make_options(_relying_party())
    except StoreUnavailable as error:
        raise _unavailable(error) from None
    return options


def _relying_party() -> RelyingParty:
    rp = medusa_auth().passkeys
    if not rp.enabled:
        raise ApiError(501, "not_implemented", UNAVAILABLE)
    return rp


def _unavailable(error: Exception) -> ApiError:
    security_event("passkey_unavailable", reason=f"challenge store: {type(error).__name__}: {error}")
    return ApiError(503, "unexpected_state", "Passkeys are unavailable for a moment: try again")


def _refuse(message: str, reason: str, ceremony: str, **ids: str) -> NoReturn:
    _log_refusal(reason, ceremony, **ids)
    raise unauthorized(message)


def _log_refusal(reason: str, ceremony: str, **ids: str) -> None:
    security_event("passkey_refused", reason=reason, ceremony=ceremony, client=throttle.client_address(), **ids)


def _by_credential_id(credential_id: str) -> Passkey | None:
    query = db.select(Passkey).filter_by(credential_id=credential_id)
    return db.session.execute(query).scalar_one_or_none()


def _account_name(identity: AuthIdentity) -> str:
    """What the authenticator shows to tell accounts apart: an email the identity signs in with, else its id."""
    for provider in identity.provider_identities:
        if provider.provider == "emailpass":
            return provider.entity_id
    for provider in identity.provider_identities:
        email = (provider.user_metadata or {}).get("email")
        if isinstance(email, str) and email:
            return email
    return identity.id
