"""Hooks for ``json.loads`` that make it strict: what a signer or a JWKS sends must mean one thing."""

from __future__ import annotations

from typing import Any


def reject_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: an object naming a member twice is refused, not read as its last value."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


def reject_constant(name: str) -> None:
    """``parse_constant``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")
