"""A software WebAuthn authenticator: an ES256 key answering the service's options as a browser would.

It builds what ``navigator.credentials.create()`` and ``.get()`` give a page, in the JSON form
(``PublicKeyCredential.toJSON()``): authenticatorData (rp id hash, flags, counter, the attested key),
a "none" attestation, clientDataJSON, and an ECDSA signature. Every part can be bent (origin, rp id,
flags, counter, user handle, challenge) so a test can build each refusal from a real, signed answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import b64 as b64url
from tests.helpers import unb64 as unb64url

UP, UV, AT = 0x01, 0x04, 0x40  # user present, user verified, attested credential data
ORIGIN = "http://localhost:9000"  # MEDUSA_BACKEND_URL's default: relying party id localhost
RP_ID = "localhost"


@dataclass
class SoftAuthenticator:
    """One discoverable credential (created by ``create``), its key and counter."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    user_handle: bytes | None = None  # the options' user.id, kept as a passkey keeps it

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        flags: int = UP | UV | AT,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """The RegistrationResponseJSON for creation options (a "none" attestation)."""
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = self._auth_data(rp_id or options["rp"]["id"], flags, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response = {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)}
        return self._credential({**response, "transports": ["internal"]})

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        flags: int = UP | UV,
        counter: int | None = None,
        user_handle: bytes | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """The AuthenticationResponseJSON for request options; the counter goes up by one unless given."""
        self.sign_count = self.sign_count + 1 if counter is None else counter
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(rp_id or options.get("rpId", RP_ID), flags)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        handle = user_handle if user_handle is not None else self.user_handle
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
            **({"userHandle": b64url(handle)} if handle is not None else {}),
        }
        return self._credential(response)

    def _credential(self, response: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
