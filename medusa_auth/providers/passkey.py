"""Passkeys (WebAuthn) through Duo Labs' ``webauthn``: options out, credentials in, checked (SPEC §14).

The relying party is MEDUSA_BACKEND_URL's domain (or WEBAUTHN_RP_ID) and its origins; user
verification is required in every ceremony. A challenge is kept server-side (``single_use``: Redis or
the ``webauthn_challenge`` table, by its SHA-256) for 5 minutes, bound to its ceremony, the actor type
and, for a registration or a second factor, the identity (a second factor's to its MFA challenge too);
the answer carries it in ``clientDataJSON``, which is how it is found again, once. Every refusal is a
``PasskeyRefused`` whose message a person can read and whose reason goes to the security log. Nothing
here knows Flask's request or the database's passkey rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    options_to_json_dict,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CollectedClientData,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..models import WebAuthnChallenge
from ..settings import ThrottleSettings, WebAuthnSettings
from ..single_use import SingleUseStore, build_store

PROVIDER = "passkey"
RP_NAME = "Medusa Auth"
CHALLENGE_LIFETIME_SECONDS = 300
REGISTRATION = "registration"
AUTHENTICATION = "authentication"  # a sign-in with the passkey alone
SECOND_FACTOR = "second_factor"  # a password sign-in's MFA challenge answered with the passkey
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn §7.1 step 24: a longer one is refused
# What a hostile body may make the parsers raise besides the library's own errors (base64, CBOR, structs).
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, AttributeError)

MALFORMED = "The passkey's answer is malformed"
CHALLENGE_UNKNOWN = "The passkey challenge is unknown, expired or already used: start again"
CHALLENGE_ELSEWHERE = "The passkey challenge was issued for another sign-in or account: start again"
WRONG_SITE = "The passkey answered for another site (origin or relying party id)"
NOT_VERIFIED = "The passkey did not verify the person (user verification is required)"
DOES_NOT_VERIFY = "The passkey's answer does not verify"


class PasskeyRefused(Exception):
    """A ceremony that does not count: ``message`` for the person, ``reason`` for the security log."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message, self.reason = message, reason


@dataclass(frozen=True)
class PendingCeremony:
    """What a challenge was handed out for; the answer must come back for the same."""

    ceremony: str  # REGISTRATION, AUTHENTICATION or SECOND_FACTOR
    actor_type: str
    auth_identity_id: str | None  # whose registration or second factor; None for a sign-in (anyone's passkey)
    # A second factor's MFA challenge. The default: a record Redis kept from before this field reads as no challenge.
    mfa_challenge_id: str | None = None


@dataclass(frozen=True)
class Answer:
    """A credential the browser sent back, read (not yet verified): what the checks and the lookup need."""

    body: dict[str, Any]  # as sent, for the library's verification
    credential_id: str  # base64url
    client_data: CollectedClientData
    authenticator_data: AuthenticatorData
    user_handle: bytes | None  # an assertion's: whose account the authenticator says this is

    @property
    def challenge(self) -> str:
        return bytes_to_base64url(self.client_data.challenge)


@dataclass(frozen=True)
class NewCredential:
    credential_id: str  # base64url
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: list[str]


class RelyingParty:
    """This service as a WebAuthn relying party: its id, origins and challenge store, built once."""

    def __init__(self, settings: WebAuthnSettings, challenges: SingleUseStore[PendingCeremony]):
        self.rp_id, self.origins, self.challenges = settings.rp_id, list(settings.origins), challenges

    @property
    def enabled(self) -> bool:
        return self.rp_id is not None

    def creation_options(
        self, pending: PendingCeremony, user_handle: bytes, name: str, existing: list[tuple[str, list[str]]]
    ) -> dict[str, Any]:
        """``navigator.credentials.create()``'s options (as JSON): a discoverable credential, the person verified,
        none of ``existing`` (credential id, transports) again."""
        assert self.rp_id is not None
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_id=user_handle,
            user_name=name,
            timeout=CHALLENGE_LIFETIME_SECONDS * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED
            ),
            exclude_credentials=[_descriptor(credential_id, transports) for credential_id, transports in existing],
        )
        self.challenges.save(bytes_to_base64url(options.challenge), pending)
        return options_to_json_dict(options)

    def request_options(
        self, pending: PendingCeremony, allowed: list[tuple[str, list[str]]] | None = None
    ) -> dict[str, Any]:
        """``navigator.credentials.get()``'s options (as JSON), the person verified: any discoverable credential, or
        only those ``allowed`` (credential id, transports)."""
        assert self.rp_id is not None
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=CHALLENGE_LIFETIME_SECONDS * 1000,
            user_verification=UserVerificationRequirement.REQUIRED,
            allow_credentials=[_descriptor(credential_id, transports) for credential_id, transports in allowed or []],
        )
        self.challenges.save(bytes_to_base64url(options.challenge), pending)
        return options_to_json_dict(options)

    def read_registration(self, body: dict[str, Any]) -> Answer:
        try:
            credential = parse_registration_credential_json(body)
            authenticator_data = parse_attestation_object(credential.response.attestation_object).auth_data
            client_data = parse_client_data_json(credential.response.client_data_json)
        except _MALFORMED as error:
            raise PasskeyRefused(MALFORMED, f"malformed registration: {type(error).__name__}") from None
        return Answer(body, credential.id, client_data, authenticator_data, None)

    def read_assertion(self, body: dict[str, Any]) -> Answer:
        try:
            credential = parse_authentication_credential_json(body)
            authenticator_data = parse_authenticator_data(credential.response.authenticator_data)
            client_data = parse_client_data_json(credential.response.client_data_json)
        except _MALFORMED as error:
            raise PasskeyRefused(MALFORMED, f"malformed assertion: {type(error).__name__}") from None
        return Answer(body, credential.id, client_data, authenticator_data, credential.response.user_handle)

    def take_challenge(self, answer: Answer, expected: PendingCeremony) -> None:
        """The answer's challenge, taken once: it must be ours, live, and handed out for ``expected``.

        Then the checks whose failure has a name a person can act on (the library repeats them).
        """
        pending = self.challenges.take(answer.challenge)
        if pending is None:
            raise PasskeyRefused(CHALLENGE_UNKNOWN, "challenge unknown, expired or used")
        if pending != expected:
            raise PasskeyRefused(CHALLENGE_ELSEWHERE, f"challenge issued for another {_difference(pending, expected)}")
        if answer.client_data.origin not in self.origins:
            raise PasskeyRefused(WRONG_SITE, f"origin {str(answer.client_data.origin)[:200]!r} not allowed")
        if answer.authenticator_data.rp_id_hash != _rp_id_hash(self.rp_id):
            raise PasskeyRefused(WRONG_SITE, "relying party id hash is another site's")
        if not answer.authenticator_data.flags.uv:
            raise PasskeyRefused(NOT_VERIFIED, "user verification missing")

    def verify_registration(self, answer: Answer) -> NewCredential:
        """The new credential, once the library has checked the whole attestation."""
        assert self.rp_id is not None
        try:
            verified = verify_registration_response(
                credential=answer.body,
                expected_challenge=answer.client_data.challenge,  # the one take_challenge found, once
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                require_user_verification=True,
            )
        except _MALFORMED as error:
            raise PasskeyRefused(DOES_NOT_VERIFY, f"registration does not verify: {error}") from None
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyRefused(MALFORMED, "credential id longer than WebAuthn allows")
        transports = answer.body.get("response", {}).get("transports")
        return NewCredential(
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=_known_transports(transports),
        )

    def verify_assertion(self, answer: Answer, public_key: bytes) -> int:
        """The authenticator's new signature counter, once the library has checked the signature.

        The counter is compared by the caller (``counter_went_forward``), after the signature, so a
        cloned-authenticator alarm is only ever raised by a genuine signed answer.
        """
        assert self.rp_id is not None
        try:
            verified = verify_authentication_response(
                credential=answer.body,
                expected_challenge=answer.client_data.challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                credential_public_key=public_key,
                credential_current_sign_count=0,  # see above
                require_user_verification=True,
            )
        except _MALFORMED as error:
            raise PasskeyRefused(DOES_NOT_VERIFY, f"assertion does not verify: {error}") from None
        return verified.new_sign_count


def counter_went_forward(stored: int, received: int) -> bool:
    """WebAuthn §6.1.1: a counter, once either side is non-zero, must grow; otherwise the key may be cloned."""
    return (stored == 0 and received == 0) or received > stored


def build_relying_party(settings: WebAuthnSettings, store_settings: ThrottleSettings) -> RelyingParty:
    challenges = build_store(
        store_settings,
        WebAuthnChallenge,
        PendingCeremony,
        "webauthn_challenge",
        CHALLENGE_LIFETIME_SECONDS,
        "passkey challenges",
    )
    return RelyingParty(settings, challenges)


def _descriptor(credential_id: str, transports: list[str]) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(credential_id),
        transports=[AuthenticatorTransport(t) for t in _known_transports(transports)],
    )


def _known_transports(value: Any) -> list[str]:
    """The transports a browser reported that WebAuthn names (hints for later ceremonies, never trusted)."""
    known = {transport.value for transport in AuthenticatorTransport}
    return [t for t in value if isinstance(t, str) and t in known][:8] if isinstance(value, list) else []


# PendingCeremony's fields, in the order compared, as the security log names them.
_FIELD_NAMES = {
    "ceremony": "ceremony",
    "actor_type": "actor type",
    "auth_identity_id": "identity",
    "mfa_challenge_id": "MFA challenge",
}


def _difference(pending: PendingCeremony, expected: PendingCeremony) -> str:
    for field_name, logged in _FIELD_NAMES.items():
        if getattr(pending, field_name) != getattr(expected, field_name):
            return logged
    return "ceremony"


def _rp_id_hash(rp_id: str | None) -> bytes:
    return hashlib.sha256((rp_id or "").encode()).digest()
