"""Password hashing: argon2id at or above the OWASP minimum, parameters recorded in each hash."""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from .settings import OWASP_MIN

__all__ = ["OWASP_MIN", "Passwords"]  # OWASP_MIN: the defaults, kept in settings.py


class Passwords:
    """Hashes, verifies and spots hashes made with other parameters (to rehash them on login)."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def burn(self, password: str) -> None:
        """Spend what a real check costs, so an unknown email answers as slowly as a wrong password."""
        self.verify(self._dummy_hash, password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash("not a real password: only here to take time")
