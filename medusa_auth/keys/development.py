"""Development secrets generated into instance/ on first use, so `make run` needs no set-up."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .material import generate_private_key, private_key_pem

DEV_KEY_FILE = "dev-jwt-private.pem"
DEV_COOKIE_SECRET_FILE = "dev-cookie-secret"


def write_private_file(path: Path, content: str) -> bool:
    """Create ``path`` with mode 0600 unless it exists; atomic, so racing workers agree on one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.link(staging, path)  # fails if another process got there first: theirs stands
        return True
    except FileExistsError:
        return False
    finally:
        staging.unlink(missing_ok=True)


def development_key_file(instance_path: str) -> str:
    """The development signing key's path, generating an RSA key there the first time."""
    path = Path(instance_path) / DEV_KEY_FILE
    if not path.exists():
        write_private_file(path, private_key_pem(generate_private_key("RSA")))
    return str(path)


def development_cookie_secret(instance_path: str) -> str:
    path = Path(instance_path) / DEV_COOKIE_SECRET_FILE
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()
