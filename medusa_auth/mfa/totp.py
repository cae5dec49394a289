"""TOTP (RFC 6238) with pyotp: 6 digits, 30-second steps, one step either side for clock drift."""

from __future__ import annotations

import hmac
import re

import pyotp

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1
_CODE = re.compile(rf"\d{{{DIGITS}}}")


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226's recommended length), from the OS's CSPRNG."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URL authenticator apps read (from a QR code or typed in)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)


def step_at(moment: int) -> int:
    return moment // PERIOD


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def matching_step(secret: str, code: str, moment: int, after: int | None) -> int | None:
    """The step within the drift window whose code ``code`` is, if later than ``after`` (the last one used).

    Refusing every step up to the last accepted one makes a code good once: a replay within its window,
    and an older code still inside the drift window, are both refused (RFC 6238 §5.2).
    """
    if not _CODE.fullmatch(code):
        return None
    now = step_at(moment)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None
