"""Second factors (SPEC §11): enrolment, recovery codes, and the sign-in that waits for its challenge.

Every sign-in answers through ``sign_in_answer``: a plain token, or, for an identity with an enabled
factor, a challenge token that opens only ``/auth/mfa/challenges/{id}/...``: ``verify`` gives the token
with ``mfa_challenge_completed_at``, and ``options`` the WebAuthn options to answer with a passkey. The
methods a challenge takes are one table (``METHODS``): a new one is a row, not a branch.

Only an enabled factor (TOTP) starts a challenge: a registered passkey alone does not, so a storefront
on Medusa's JS SDK never meets ``mfa_required`` unasked, and a lost passkey with no recovery codes cannot
lock an account. Once a challenge is started, an identity with a passkey may answer it with one
(``webauthn``). MFA_REQUIRED_FOR counts TOTP enrolment only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import clock, strict_json
from ..actors import USER
from ..database import db
from ..errors import ApiError, invalid_data, not_found, unauthorized
from ..extension import medusa_auth
from ..mfa import challenges, factors, recovery_codes
from ..models import AuthIdentity, MfaChallenge, MfaFactor
from ..providers.passkey import PasskeyRefused
from ..request_data import metadata_field
from ..security_log import security_event
from ..tokens import TokenKind
from . import identity_service, passkeys, throttle, verification_service

INVALID_CODE = "Invalid MFA code"
CHALLENGE_SPENT = "MFA challenge is expired or has no attempts left"
PROVIDERS = (factors.TOTP,)  # factor providers a person can enrol (a passkey is registered at /auth/passkeys)
_MAX_CODE_LENGTH = 64
MAX_ASSERTION_LENGTH = 16 * 1024  # a passkey's answer as JSON text: a few hundred bytes, a 1023-byte id at most
_MAX_ISSUER_LENGTH = 100


@dataclass(frozen=True)
class Attempt:
    """One answer to check: whose, what was sent (as its method read it), and which sign-in challenge it answers."""

    auth_identity_id: str
    code: Any
    challenge_id: str | None  # None when the answer proves oneself to turn a factor off


class WrongAnswer(Exception):
    """A method's refusal that says why (a passkey's): counted as a wrong code, its message shown."""


@dataclass(frozen=True)
class Method:
    """A way to answer a challenge (or to prove oneself when disabling a factor)."""

    offered: Callable[[str], bool]  # auth identity id -> whether the method applies to it
    check: Callable[[Attempt], bool]  # whether it is right; uses it up; may raise WrongAnswer
    read: Callable[[Any], Any]  # the code as sent -> what ``check`` takes; 400 invalid_data for a bad shape
    challenge_only: bool = False  # answers a sign-in's challenge, never a factor's disabling


def _totp_offered(auth_identity_id: str) -> bool:
    return any(f.status == factors.ENABLED and f.provider == factors.TOTP for f in factors.factors_of(auth_identity_id))


def _check_totp(attempt: Attempt) -> bool:
    keys = medusa_auth().mfa_keys
    enabled = [f for f in factors.factors_of(attempt.auth_identity_id) if f.status == factors.ENABLED]
    return any(factors.accept_totp(keys, f, attempt.code) for f in enabled if f.provider == factors.TOTP)


def _check_recovery_code(attempt: Attempt) -> bool:
    return factors.use_recovery_code(medusa_auth().mfa_keys, attempt.auth_identity_id, attempt.code)


def _check_passkey(attempt: Attempt) -> bool:
    """The identity's own passkey signed the options handed out for this very challenge (``challenge_options``)."""
    # challenge_only: pass_challenge has just charged this attempt to it, so it is live and the identity's.
    challenge = db.session.get(MfaChallenge, attempt.challenge_id)
    if challenge is None:  # completed by a request racing this one
        return False
    try:
        passkeys.verify_second_factor(challenge, attempt.code)
    except PasskeyRefused as refused:
        raise WrongAnswer(refused.message) from None
    return True


def _code(code: Any) -> str:
    if not isinstance(code, str) or not code.strip() or len(code) > _MAX_CODE_LENGTH:
        raise invalid_data("code must be a non-empty string")
    return code.strip()


def _assertion(code: Any) -> dict[str, Any]:
    """A passkey's answer (PublicKeyCredential.toJSON()): a JSON object, or the same as a string of JSON."""
    if isinstance(code, str) and len(code) <= MAX_ASSERTION_LENGTH:
        try:
            code = strict_json.loads(code.encode())
        except (strict_json.NotStrictJson, UnicodeEncodeError):
            code = None
    if not isinstance(code, dict) or len(json.dumps(code)) > MAX_ASSERTION_LENGTH:
        raise invalid_data(
            f"code must be the passkey's answer: a JSON object, at most {MAX_ASSERTION_LENGTH} characters"
        )
    return code


RECOVERY_CODE = "recovery_code"
WEBAUTHN = "webauthn"
METHODS: dict[str, Method] = {
    factors.TOTP: Method(_totp_offered, _check_totp, _code),
    WEBAUTHN: Method(passkeys.has_passkey, _check_passkey, _assertion, challenge_only=True),
    RECOVERY_CODE: Method(lambda _: True, _check_recovery_code, _code),
}


# -- signing in ------------------------------------------------------------------------------


def sign_in_answer(
    identity: AuthIdentity, user_metadata: dict[str, Any] | None, actor_type: str, provider: str
) -> dict[str, Any]:
    """What a sign-in that proved its first factor answers: ``{token}``, or Medusa 2.21's verification form
    (an email AUTH_VERIFICATIONS_PER_ACTOR wants proved, first), or its challenge form (a second factor)."""
    entity = verification_service.required_entity(identity, actor_type, provider)
    if entity is not None:
        return verification_service.answer(identity, user_metadata, actor_type, provider, entity)
    if not factors.has_enabled_factor(identity.id):
        return {"token": identity_service.sign_in(identity, actor_type, provider, user_metadata)}
    # The sign-in (its session, sid and auth_time) starts when the challenge is passed: a challenge token is
    # no sign-in, opens only its challenge, and an abandoned one leaves no session behind.
    challenge = challenges.start(identity.id, actor_type, provider)
    db.session.commit()
    token = medusa_auth().tokens.issue_step_token(
        TokenKind.MFA_CHALLENGE,
        challenge.id,
        identity.id,
        user_metadata or {},
        challenges.LIFETIME_SECONDS,
        identity.tokens_valid_from or 0,  # a sign-in in the very second of a credentials change still counts
        actor_type=actor_type,
        auth_provider=provider,
    )
    security_event("mfa_challenge_started", auth_identity_id=identity.id, actor_type=actor_type, provider=provider)
    return {
        "token": token,
        "mfa_required": True,
        "mfa_challenge": challenges.to_dict(challenge, methods_for(identity.id)),
    }


def methods_for(auth_identity_id: str) -> list[str]:
    """The methods the identity's challenge takes (``mfa_challenge.methods``)."""
    return [name for name, method in METHODS.items() if method.offered(auth_identity_id)]


def verify_challenge(claims: dict[str, Any], challenge_id: str, method_name: Any, code: Any) -> str:
    """The right code starts the sign-in (its session): its first token, with the completion. Every attempt
    counts (5 a challenge; the login throttle)."""
    _own_challenge(claims, challenge_id)
    identity, completed_at = pass_challenge(claims, challenge_id, method_name, code)
    user_metadata = claims.get("user_metadata") if isinstance(claims.get("user_metadata"), dict) else {}
    return identity_service.sign_in(
        identity, str(claims["actor_type"]), str(claims["auth_provider"]), user_metadata, completed_at
    )


def challenge_options(claims: dict[str, Any], challenge_id: str) -> dict[str, Any]:
    """WebAuthn request options to answer the bearer's own challenge with a passkey (then ``verify``, ``webauthn``)."""
    _own_challenge(claims, challenge_id)
    return passkey_options(claims, challenge_id)


def passkey_options(claims: dict[str, Any], challenge_id: str) -> dict[str, Any]:
    """Request options for a live challenge: the identity's own passkeys only, bound to this challenge.

    ``claims``: the challenge's sign-in (``auth_identity_id``, ``iat``), from its token or the page's cookie.
    """
    identity = identity_service.current_identity(claims)
    challenge = challenges.open_challenge(challenge_id, identity.id)
    if challenge is None:
        security_event("mfa_challenge_refused", reason="spent or expired", auth_identity_id=identity.id)
        raise unauthorized(CHALLENGE_SPENT)
    return passkeys.second_factor_options(identity, challenge)


def _own_challenge(claims: dict[str, Any], challenge_id: str) -> None:
    """A challenge token opens its own challenge only: another's is the one 401."""
    if claims.get("mfa_challenge_id") != challenge_id:
        security_event("token_refused", reason="challenge token of another challenge", path_challenge=challenge_id)
        raise unauthorized()


def start_page_challenge(identity: AuthIdentity, provider: str) -> str:
    """A challenge for the sign-in page (the browser keeps its id in Flask's signed cookie); its id."""
    challenge = challenges.start(identity.id, USER, provider)
    db.session.commit()
    security_event("mfa_challenge_started", auth_identity_id=identity.id, actor_type=USER, provider=provider)
    return challenge.id


def pass_challenge(claims: dict[str, Any], challenge_id: str, method_name: Any, code: Any) -> tuple[AuthIdentity, str]:
    """The identity and the completion time, for the right code; 401 for a wrong one or a spent challenge.

    ``claims``: the challenge's sign-in (``auth_identity_id``, ``iat``), from its token or the page's cookie.
    """
    method = _method(method_name, challenge=True)
    answer = method.read(code)
    identity = identity_service.current_identity(claims)  # gone, or its credentials changed since: 401
    account = _throttle_account(identity.id)
    throttle.check(account)
    if not challenges.charge_attempt(challenge_id, identity.id):
        security_event("mfa_challenge_refused", reason="spent or expired", auth_identity_id=identity.id)
        raise unauthorized(CHALLENGE_SPENT)
    wrong = _wrong(method, Attempt(identity.id, answer, challenge_id))
    if wrong is not None or not challenges.complete(challenge_id, identity.id):
        db.session.commit()
        left = challenges.attempts_left(challenge_id)
        security_event("mfa_challenge_failed", method=method_name, auth_identity_id=identity.id, attempts_left=left)
        raise unauthorized((wrong or INVALID_CODE) if left else CHALLENGE_SPENT)
    if method_name == RECOVERY_CODE:
        _recovery_code_used(identity)
    db.session.commit()
    throttle.record_success(account)
    security_event("mfa_challenge_completed", method=method_name, auth_identity_id=identity.id)
    return identity, clock.iso(clock.now())


def _wrong(method: Method, attempt: Attempt) -> str | None:
    """None for a right answer; else what to tell the person (a method may say why: a passkey does)."""
    try:
        return None if method.check(attempt) else INVALID_CODE
    except WrongAnswer as wrong:
        return str(wrong)


def _recovery_code_used(identity: AuthIdentity) -> None:
    """A recovery code stands in for a lost device: every sign-in and session of the identity ends (the one
    this challenge starts comes after)."""
    ended = identity_service.end_earlier_access(identity)
    security_event("mfa_recovery_code_used", auth_identity_id=identity.id, sessions_ended=ended)


# -- enrolment ---------------------------------------------------------------------------------


def list_factors(claims: dict[str, Any]) -> list[dict[str, Any]]:
    identity = identity_service.current_identity(claims)
    return [factor.to_dict() for factor in factors.factors_of(identity.id)]


def start_factor(claims: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A pending TOTP factor, its secret and ``otpauth_url`` (shown this once; the secret is then sealed)."""
    identity = identity_service.current_identity(claims)
    provider = body.get("provider")
    if provider not in PROVIDERS:
        raise invalid_data(f"provider must be one of: {', '.join(PROVIDERS)}")
    label = _optional_text(body, "label", 255)
    issuer = _optional_text(body, "issuer", _MAX_ISSUER_LENGTH) or urlsplit(medusa_auth().backend_url).hostname or ""
    metadata = metadata_field(body)
    if any(f.status == factors.ENABLED and f.provider == provider for f in factors.factors_of(identity.id)):
        raise ApiError(400, "not_allowed", "An MFA factor of this provider is already enabled: disable it first")
    factor, secret = factors.new_totp_factor(medusa_auth().mfa_keys, identity.id, label, metadata)
    db.session.commit()
    security_event("mfa_factor_started", auth_identity_id=identity.id, factor_id=factor.id, provider=provider)
    url = factors.totp.provisioning_uri(secret, label or _account_name(identity), issuer)
    return {"mfa_factor": factor.to_dict(), "secret": secret, "otpauth_url": url}


def verify_factor(claims: dict[str, Any], factor_id: str, code: Any, by_cookie: bool) -> dict[str, Any]:
    """The first right code enables a pending factor: ``{mfa_factor}``. Every sign-in and session of the
    identity ends; the caller's goes on as a new one that passed its second factor now (``token`` for a
    bearer, a new session for a cookie: as a changed password does)."""
    identity = identity_service.current_identity(claims)
    factor = _factor_of(identity, factor_id)
    if factor.status != factors.PENDING:
        raise ApiError(400, "not_allowed", f"MFA factor is {factor.status}, not pending")
    code_text = _code(code)
    account = _throttle_account(identity.id)
    throttle.check(account)
    if not factors.accept_totp(medusa_auth().mfa_keys, factor, code_text):
        db.session.commit()
        security_event("mfa_factor_refused", reason="wrong code", auth_identity_id=identity.id, factor_id=factor.id)
        raise unauthorized(INVALID_CODE)
    factor.status, factor.enabled_at = factors.ENABLED, clock.now_datetime()
    # Tokens minted on the password alone say mfa_enabled: false; none of them may outlive the factor's start.
    ended = identity_service.end_earlier_access(identity)
    db.session.commit()
    throttle.record_success(account)  # after the commit: the throttle's table is written on its own connection
    security_event("mfa_enabled", auth_identity_id=identity.id, factor_id=factor.id, sessions_ended=ended)
    return _answer(identity, claims, by_cookie, clock.iso(clock.now()), mfa_factor=factor.to_dict())


def disable_factor(claims: dict[str, Any], factor_id: str, body: dict[str, Any], by_cookie: bool) -> dict[str, Any]:
    """Turn a factor off with a current code (or a recovery code): ``{mfa_factor}``; the last one takes the
    recovery codes with it. Every sign-in and session of the identity ends; the caller's goes on as a new one
    (``token`` for a bearer, a new session for a cookie), with the second factor the code just proved."""
    identity = identity_service.current_identity(claims)
    factor = _factor_of(identity, factor_id)
    method = _method(body.get("method", factors.TOTP), challenge=False)
    # A pending factor needs no code, but a code that is sent is read like any other.
    code = method.read(body.get("code")) if factor.status == factors.ENABLED or "code" in body else ""
    completed_at = identity_service.mfa_completed_at(claims)
    if factor.status == factors.ENABLED:
        account = _throttle_account(identity.id)
        throttle.check(account)
        if not method.check(Attempt(identity.id, code, None)):
            db.session.commit()
            security_event("mfa_factor_refused", reason="wrong code", auth_identity_id=identity.id, factor_id=factor.id)
            raise unauthorized(INVALID_CODE)
        db.session.commit()
        throttle.record_success(account)
        completed_at = clock.iso(clock.now())
    answer = {**factor.to_dict(), "status": factors.DISABLED, "updated_at": clock.iso(clock.now())}
    db.session.delete(factor)  # nothing of a disabled factor is worth keeping, its sealed secret least of all
    db.session.flush()
    if not factors.has_enabled_factor(identity.id):
        factors.clear_recovery_codes(identity.id)
    ended = identity_service.end_earlier_access(identity)
    db.session.commit()
    security_event("mfa_disabled", auth_identity_id=identity.id, factor_id=factor_id, sessions_ended=ended)
    return _answer(identity, claims, by_cookie, completed_at, mfa_factor=answer)


def _answer(
    identity: AuthIdentity, claims: dict[str, Any], by_cookie: bool, completed_at: str | None, **answer: Any
) -> dict[str, Any]:
    """``answer``, and the token of the caller's new sign-in for a bearer (a cookie's new session is set)."""
    token = identity_service.sign_in_again(identity, claims, by_cookie, completed_at)
    return answer if token is None else {**answer, "token": token}


def enable_from_page(claims: dict[str, Any], factor_id: str, code: Any) -> list[str]:
    """The account page's enrolment: enable the factor (the page's session starts afresh, completed: enabling
    ended every earlier one, its own too), and the first recovery codes."""
    verify_factor(claims, factor_id, code, by_cookie=True)
    identity_id = str(claims["auth_identity_id"])
    codes = factors.replace_recovery_codes(medusa_auth().mfa_keys, identity_id, recovery_codes.DEFAULT_COUNT)
    db.session.commit()
    security_event("mfa_recovery_codes_generated", auth_identity_id=identity_id, count=len(codes))
    return codes


def generate_recovery_codes(claims: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """New recovery codes replacing all earlier ones; needs an enabled factor."""
    identity = identity_service.current_identity(claims)
    count = body.get("count", recovery_codes.DEFAULT_COUNT)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= recovery_codes.MAX_COUNT:
        raise invalid_data(f"count must be a whole number from 1 to {recovery_codes.MAX_COUNT}")
    if not factors.has_enabled_factor(identity.id):
        raise ApiError(400, "not_allowed", "Recovery codes need an enabled MFA factor")
    codes = factors.replace_recovery_codes(medusa_auth().mfa_keys, identity.id, count)
    db.session.commit()
    security_event("mfa_recovery_codes_generated", auth_identity_id=identity.id, count=count)
    return codes


# -- reading what was sent -----------------------------------------------------------------------


def _factor_of(identity: AuthIdentity, factor_id: str) -> MfaFactor:
    factor = db.session.get(MfaFactor, factor_id)
    if factor is None or factor.auth_identity_id != identity.id:  # another's factor is not found, not forbidden
        raise not_found(f"MFA factor with id: {factor_id} was not found")
    return factor


def _method(name: Any, challenge: bool) -> Method:
    """The method named, among those that answer a sign-in's challenge (``challenge``) or a factor's disabling."""
    usable = {n: m for n, m in METHODS.items() if challenge or not m.challenge_only}
    method = usable.get(name) if isinstance(name, str) else None
    if method is None:
        raise invalid_data(f"method must be one of: {', '.join(usable)}")
    return method


def _optional_text(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or ":" in value:
        raise invalid_data(f"{name} must be a string of 1 to {max_length} characters without ':'")
    return value.strip()


def _account_name(identity: AuthIdentity) -> str:
    """What an authenticator app shows under the issuer: the email the person signs in with, if any."""
    for provider in identity.provider_identities:
        email = provider.entity_id if provider.provider == identity_service.PROVIDER else None
        email = email or (provider.user_metadata or {}).get("email")
        if isinstance(email, str) and email:
            return email
    return identity.id


def _throttle_account(auth_identity_id: str) -> str:
    """The login throttle's account for second-factor attempts: the identity (a redirect sign-in has no email)."""
    return f"mfa:{auth_identity_id}"
