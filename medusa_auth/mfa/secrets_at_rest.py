"""The keys that protect second-factor secrets at rest: one AES-256-GCM key and one HMAC key, both
derived (HKDF-SHA256) from MFA_ENCRYPTION_KEY, or from COOKIE_SECRET when that is not set.

Recovery and verification codes are kept as an HMAC, not a slow password hash: they are random with
50 bits or more, so a hash that costs nothing to compute is still out of brute force's reach once it is
keyed, and a copy of the database without the key tells nothing at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A sealed secret does not open under the current key (the key changed, or the row was copied)."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"medusa_auth mfa " + purpose).derive(master)


class MfaKeys:
    """Seals secrets (the owner's id as associated data, so a sealed value copied to another row does not
    open) and hashes codes with a key the database never holds."""

    def __init__(self, master: bytes):
        self._aead = AESGCM(_derive(master, b"seal"))
        self._mac_key = _derive(master, b"code hash")

    def seal(self, owner_id: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, owner_id.encode())

    def open(self, owner_id: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], owner_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable(owner_id) from exc

    def code_hash(self, scope: str, code: str) -> str:
        """The keyed hash of a code, bound to its owner (``scope``) so equal codes of two people differ."""
        return hmac.new(self._mac_key, f"{scope}\0{code}".encode(), hashlib.sha256).hexdigest()
