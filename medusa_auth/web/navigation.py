"""Where a page may send the browser next: local paths only."""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/app/"
MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None, default: str = HOME) -> str:
    """``target`` if it is a path on this site, else ``default``.

    Refused: absolute URLs (``https:``, ``javascript:``), scheme-relative ``//evil`` and ``///evil``,
    ``/\\evil`` (browsers read a backslash as a slash), and control characters or spaces, which
    browsers strip (so ``/\\t/evil`` would become ``//evil``).
    """
    if not target or len(target) > MAX_NEXT_LENGTH:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
