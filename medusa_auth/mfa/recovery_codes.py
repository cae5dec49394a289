"""Recovery codes: random, shown once, kept as keyed hashes, each good once."""

from __future__ import annotations

import secrets

DEFAULT_COUNT = 10
MAX_COUNT = 50
# No 0/o, 1/l/i: read off paper and typed back. 31 symbols, 10 of them: about 50 bits per code.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_LENGTH = 10
MAX_INPUT_LENGTH = 64


def generate(count: int) -> list[str]:
    """``count`` new codes, ``xxxxx-xxxxx``."""
    return [_format("".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))) for _ in range(count)]


def _format(raw: str) -> str:
    return f"{raw[:5]}-{raw[5:]}"


def normalize(code: str) -> str | None:
    """The code as stored: case, spaces and dashes as a person types them do not matter; None if it cannot be one."""
    raw = "".join(code.split()).replace("-", "").lower()
    if len(raw) != _LENGTH or any(c not in _ALPHABET for c in raw):
        return None
    return _format(raw)
