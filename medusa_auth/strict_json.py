"""Strict JSON: what a signer, a JWKS or a client's request body sends must mean one thing.

The hooks make ``json.loads`` refuse duplicate members, NaN, Infinity and numbers that overflow to
infinity; ``loads`` adds what a request body needs on top: UTF-8 only, a nesting depth checked before
the parser recurses, and no lone surrogate in any string.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 16  # request bodies here are flat objects; invite metadata nests a few levels at most
MAX_INTEGER_DIGITS = 100  # far beyond any real value, far below int()'s quadratic territory


class NotStrictJson(ValueError):
    """The text is not strict JSON; the message says why in words a client can act on."""


def reject_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: an object naming a member twice is refused, not read as its last value."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


def reject_constant(name: str) -> None:
    """``parse_constant``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def finite_float(text: str) -> float:
    """``parse_float``: 1e999 parses as inf, which JSON cannot carry back out."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def bounded_int(text: str) -> int:
    """``parse_int``: a number of a hundred digits is an attack, not a value."""
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError("number out of range")
    return int(text)


# Built once: json.loads with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=reject_duplicate_members,
    parse_constant=reject_constant,
    parse_float=finite_float,
    parse_int=bounded_int,
)

# Byte-level (a bracket byte in UTF-8 is always that bracket): a string literal, where an unterminated one
# runs to the end so that a match never fails and rescans (linear time); what is not a bracket; one kind.
_STRING = re.compile(rb'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_ONE_KIND_OF_BRACKET = bytes.maketrans(b"{}", b"[]")
# Only a \uD800-\uDFFF escape can put a surrogate into a string decoded from valid UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """UTF-8 bytes to a value, strictly; ``NotStrictJson`` says why not."""
    try:
        text = data.decode("utf-8")  # strict: surrogates encoded as bytes (CESU-8) are refused too
    except UnicodeDecodeError:
        raise NotStrictJson("is not UTF-8") from None
    if nesting_exceeds(data, max_depth):
        raise NotStrictJson(f"is nested more than {max_depth} levels deep (or its brackets do not pair up)")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise NotStrictJson(f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except ValueError as error:  # a hook's refusal: its message names the rule
        raise NotStrictJson(f"is not strict JSON: {error}") from None
    if _SURROGATE_ESCAPE.search(text) and has_lone_surrogate(value):
        raise NotStrictJson("has a string with a lone surrogate (\\ud800-\\udfff), which is not Unicode text")
    return value


def nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``data`` nest deeper than ``limit`` (or their brackets do not pair up).

    Found without recursing, in C-speed passes over the bytes: strings out, then each pass removes the
    innermost bracket pairs, so ``limit`` passes empty the brackets of anything nested at most that deep.
    """
    if data.count(b"[") + data.count(b"{") <= limit:  # the usual body: too few brackets to be too deep
        return False
    brackets = _STRING.sub(b"", data).translate(_ONE_KIND_OF_BRACKET, _NOT_BRACKETS)
    for _ in range(limit):
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):  # nothing left to peel: empty, or brackets that never pair up
            break
        brackets = peeled
    return bool(brackets)


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (keys included) holds an unpaired surrogate."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # paired escapes were joined by the decoder
    except UnicodeEncodeError:
        return True
    return False


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded value: 0 for a scalar, 1 for ``{}``."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0
