"""Reading request bodies and query strings: anything malformed becomes a 400 ``invalid_data``."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from flask import request

from . import strict_json
from .errors import invalid_data, not_found

# One mailbox as RFC 5321 spells it (an addr-spec): a dot-atom local part, "@", and a domain of
# dot-separated letter-digit-hyphen labels ending in a label that starts with a letter. ASCII only
# (write an internationalised domain in its xn-- form); no quoted local part, comment, display name,
# angle brackets, list or address literal, so one accepted string is exactly one recipient.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+{_TOP_LABEL}$"
# Refused although the pattern above matches: an RFC 2047 encoded word ("=?utf-8?q?...?="), which some
# mail software decodes into other addresses, and a local part over RFC 5321's 64 octets.
EMAIL_REFUSED_PATTERNS = (r"=\?", r"^[^@]{65}")
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less its angle brackets (ASCII: characters are octets)
# openapi.json carries the same three rules (pattern, not/anyOf, maxLength); tests/test_openapi.py compares
# them. The patterns read the same in Python and ECMA-262: ASCII classes, fully anchored, no lookaround
# (Python's fullmatch, below, refuses the trailing newline that re's "$" alone would let through).
_EMAIL = re.compile(EMAIL_PATTERN)
_EMAIL_REFUSED = tuple(re.compile(pattern) for pattern in EMAIL_REFUSED_PATTERNS)
EMAIL_RULE = "one email address like name@example.com (ASCII, no display name, list, quotes or comments)"

MAX_PASSWORD_LENGTH = 1024  # long enough for any passphrase, short enough to bound hashing work
MAX_METADATA_BYTES = 8 * 1024  # as compact JSON
MAX_METADATA_DEPTH = 5  # {"a": {...}} nests 2 deep
_INTEGER = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also takes "²" and "①"
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # what models.new_id makes, in a String(64) column; openapi.json too
_RESOURCE_ID = re.compile(RESOURCE_ID_PATTERN)


def json_object(*, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, read strictly (see ``strict_json.loads``); 400 otherwise.

    Strict because what the client sent must mean one thing here and in anything that reads it
    after us: no duplicate members, no NaN or Infinity, no lone surrogates, no depth that would
    exhaust the parser's recursion.
    """
    data = request.get_data(cache=True)
    if not data and allow_empty:
        return {}
    if not request.is_json:
        raise invalid_data("Request body must be a JSON object (Content-Type: application/json)")
    try:
        body = strict_json.loads(data)
    except strict_json.NotStrictJson as error:
        raise invalid_data(f"Request body {error}") from None
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


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    """A required JSON object member (a WebAuthn credential, say); 400 otherwise."""
    value = body.get(name)
    if not isinstance(value, dict):
        raise invalid_data(f"{name} must be an object")
    return value


def name_field(body: dict[str, Any], name: str, *, max_length: int) -> str | None:
    """An optional name shown to people and stored as text: no control characters (NUL breaks PostgreSQL)."""
    value = string_field(body, name, max_length=max_length, required=False)
    if value is not None and any(unicodedata.category(char) == "Cc" for char in value):
        raise invalid_data(f"{name} must not contain control characters")
    return value


def email_field(body: dict[str, Any], name: str = "email") -> str:
    """``body[name]`` if it is one email address (``is_email``); 400 naming the rule otherwise."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_data(f"{name} must be a non-empty string")
    check_email(value, name)
    return value


def check_email(value: str, name: str = "email") -> None:
    if len(value) > MAX_EMAIL_LENGTH:
        raise invalid_data(f"{name} must be one email address of at most {MAX_EMAIL_LENGTH} characters")
    if not is_email(value):
        raise invalid_data(f"{name} must be {EMAIL_RULE}")


def credentials(body: dict[str, Any]) -> tuple[str, str]:
    """``email`` (one address) and ``password`` (a string of bounded length)."""
    email = email_field(body)
    password = string_field(body, "password", max_length=MAX_PASSWORD_LENGTH)
    assert password is not None
    return email, password


def is_email(value: object) -> bool:
    """Whether ``value`` is one mailbox by the rule above (what openapi.json's Email schema says too)."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_EMAIL_LENGTH  # first: bounds the regex work
        and _EMAIL.fullmatch(value) is not None
        and not any(refused.search(value) for refused in _EMAIL_REFUSED)
    )


def metadata_field(body: dict[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    """An optional JSON object, bounded in depth and size (it is stored, and returned in every listing)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_data(f"{name} must be an object")
    if strict_json.depth(value) > MAX_METADATA_DEPTH:
        raise invalid_data(f"{name} must not nest more than {MAX_METADATA_DEPTH} levels deep")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise invalid_data(f"{name} must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


def email_arg(name: str) -> str | None:
    """An optional email address in the query string; 400 if it is not one."""
    raw = request.args.get(name)
    if raw is not None:
        check_email(raw, name)
    return raw


def id_arg(name: str) -> str | None:
    """An optional id in the query string (a cursor); 400 if it cannot be one of ours."""
    raw = request.args.get(name)
    if raw is not None and not _RESOURCE_ID.fullmatch(raw):
        raise invalid_data(f"{name} must be an id")
    return raw


def int_arg(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise invalid_data(f"{name} must be an integer from {minimum} to {maximum}")
    return int(raw)


def path_id(value: str, kind: str) -> str:
    """An id from the URL path; 404 for one no row can have (a NUL in it was a PostgreSQL error, a 500)."""
    if not _RESOURCE_ID.fullmatch(value):
        raise not_found(f"{kind} with that id was not found")
    return value
