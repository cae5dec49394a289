"""Reading request bodies and query strings: anything malformed becomes a 400 ``invalid_data``."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from .errors import invalid_data

# local@domain.tld without spaces or control characters; the same pattern is in openapi.json (ECMA-262 and
# Python differ on \s, hence the explicit controls and BOM).
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f\ufeff]+@[^@\s\x00-\x1f\x7f-\x9f\ufeff]+\.[^@\s\x00-\x1f\x7f-\x9f\ufeff]+$"
_EMAIL = re.compile(EMAIL_PATTERN)
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 1024  # long enough for any passphrase, short enough to bound hashing work


def json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid_data("Request body must be a JSON object")
    return body


def string_field(body: dict[str, Any], name: str, *, max_length: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise invalid_data(f"{name} must be a non-empty string")
    if len(value) > max_length:
        raise invalid_data(f"{name} must be at most {max_length} characters")
    return value


def credentials(body: dict[str, Any]) -> tuple[str, str]:
    """``email`` and ``password`` as strings of bounded length (their format is checked elsewhere)."""
    email = string_field(body, "email", max_length=MAX_EMAIL_LENGTH)
    password = string_field(body, "password", max_length=MAX_PASSWORD_LENGTH)
    assert email is not None and password is not None
    return email, password


def is_email(value: str) -> bool:
    return bool(_EMAIL.fullmatch(value))


def int_arg(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise invalid_data(f"{name} must be an integer from {minimum} to {maximum}")
    return int(raw)
