"""Login throttling: failed sign-ins counted per account, per client address and per both, in a shared store.

Registrations are counted per client address too (``check_registration``), so are passkey options
(``check_passkey_options``), and password-reset requests per client address and per account (``check_reset``).

Every attempt is charged to its counters before the password is checked and given back unless it
failed, so only failures count, exactly, even under concurrency. Each counter lives in a fixed window
of 15 minutes, so a refusal (429 with Retry-After) ends by itself, and a successful sign-in clears its
own (account, address) counter. An unknown email is counted exactly like a known one, so a 429 says
nothing about who has an account. The per-account counter is the one an attacker can fill on a
victim's behalf: its threshold is four times the per-(account, address) one and its window is
bounded, so the worst is a 15-minute pause, renewed only while the attack goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import NoReturn

from flask import current_app, request
from limits import RateLimitItem, parse
from limits.errors import StorageError

from ..errors import DATABASE_UNAVAILABLE, UNAVAILABLE_RETRY_SECONDS, ApiError
from ..extension import medusa_auth
from ..models import normalize_email
from ..security_log import security_event

TOO_MANY_ATTEMPTS = "Too many attempts. Try again later."

# name -> (limit, what identifies the counter). ASVS 2.2.1 allows at most 100 failures an hour on one account.
ACCOUNT_AND_ADDRESS = parse("5 per 15 minutes")
ACCOUNT = parse("20 per 15 minutes")
ADDRESS = parse("100 per 15 minutes")  # many people can share one NAT address
# Registrations from one address, successful or not (an office accepting invites at once stays under it).
REGISTRATIONS = parse("30 per 15 minutes")
# Reset requests, known and unknown emails alike. Past either limit the mail is dropped and the answer
# stays Medusa's 201: nobody learns anything of an account, a mail bomb stops, and the owner's latest
# link is not replaced again within the window.
RESETS_PER_ADDRESS = parse("20 per 15 minutes")
RESETS_PER_ACCOUNT = parse("3 per 15 minutes")
# Passkey options from one address, answered or not: each stores a challenge for 5 minutes. The login's address
# limit, on a counter of its own, so a page's passkey autofill never spends what password sign-ins may fail.
PASSKEY_OPTIONS = ADDRESS
_IPV6_NETWORK_BITS = 64  # one IPv6 client owns a whole /64; counting single addresses would be no limit at all


@dataclass(frozen=True)
class Counter:
    name: str
    limit: RateLimitItem
    identifiers: tuple[str, ...]


class LoginThrottled(ApiError):
    """429 with the seconds until the first exhausted counter's window ends."""

    def __init__(self, retry_after: int):
        super().__init__(429, "too_many_requests", TOO_MANY_ATTEMPTS, {"Retry-After": str(retry_after)})


class ThrottleUnavailable(ApiError):
    """The shared store does not answer: refuse the sign-in (fail closed) rather than let guesses through uncounted."""

    def __init__(self) -> None:
        message = "Sign-in is temporarily unavailable. Try again shortly."
        super().__init__(503, "unexpected_state", message, {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)})


def check(email: str) -> None:
    """Charge this attempt to every counter before any password work; ``LoginThrottled`` if one is spent.

    Charging first, atomically, keeps the limit exact however many attempts run at once (a check that
    only read the counters would let every request in flight through). A refused attempt gives its
    charges back, so retrying while refused never lengthens or spreads the penalty; a successful one
    gives them back too (``record_success``), so only failures stay counted.
    """
    _charge(_counters(email), "login_throttled")


def check_registration() -> None:
    """Charge a registration to its client address: each costs a password hash and tells whether an email exists."""
    counter = Counter("address", REGISTRATIONS, ("register", "address", client_address()))
    _charge([counter], "registration_throttled")


def check_passkey_options() -> None:
    """Charge a passkey ceremony's options to their client address: each keeps a challenge in the shared store."""
    counter = Counter("address", PASSKEY_OPTIONS, ("passkey-options", "address", client_address()))
    _charge([counter], "passkey_options_throttled")


def check_reset(identifier: str) -> bool:
    """Charge a reset request to its client address, then to its account; False (send nothing) past either limit."""
    address = Counter("address", RESETS_PER_ADDRESS, ("reset", "address", client_address()))
    account = Counter("account", RESETS_PER_ACCOUNT, ("reset", "account", _account_key(identifier)))
    for counter in (address, account):  # an address past its limit charges no account
        try:
            allowed = medusa_auth().throttle.hit(counter.limit, *counter.identifiers)
        except StorageError as error:
            _store_failed(error)
        if not allowed:
            security_event("reset_throttled", limits=[counter.name], client=client_address())
            return False
    return True


def _charge(counters: list[Counter], event: str) -> None:
    limiter = medusa_auth().throttle
    try:
        spent = [c for c in counters if not limiter.hit(c.limit, *c.identifiers)]
        if not spent:
            return
        _refund([c for c in counters if c not in spent])
        resets = [limiter.get_window_stats(c.limit, *c.identifiers).reset_time for c in spent]
    except StorageError as error:
        _store_failed(error)
    retry_after = max(1, math.ceil(max(resets) - time.time()))
    security_event(event, limits=[c.name for c in spent], client=client_address(), retry_after=retry_after)
    raise LoginThrottled(retry_after)


def record_success(email: str) -> None:
    """A correct password: its (account, address) penalty ends; the account and address get their charge back."""
    pair, *others = _counters(email)
    try:
        medusa_auth().throttle.clear(pair.limit, *pair.identifiers)
        _refund(others)
    except StorageError as error:
        _store_failed(error)


def _refund(counters: list[Counter]) -> None:
    limiter = medusa_auth().throttle
    for counter in counters:
        limiter.hit(counter.limit, *counter.identifiers, cost=-1)


def client_address() -> str:
    """The client as this service may believe it: the peer, or what TRUSTED_PROXIES proxies said (ProxyFix)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{_IPV6_NETWORK_BITS}", strict=False))
    return str(parsed)


def _counters(email: str) -> list[Counter]:
    account, address = _account_key(email), client_address()
    return [
        Counter("account_and_address", ACCOUNT_AND_ADDRESS, ("login", "account+address", account, address)),
        Counter("account", ACCOUNT, ("login", "account", account)),
        Counter("address", ADDRESS, ("login", "address", address)),
    ]


def _account_key(email: str) -> str:
    """The account as a keyed hash: the store (Redis, a table) never holds email addresses."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, normalize_email(email).encode(), hashlib.sha256).hexdigest()[:32]


def _store_failed(error: StorageError) -> NoReturn:
    if isinstance(error.storage_error, DATABASE_UNAVAILABLE):
        raise error.storage_error  # the database store: answered like any route whose database is down
    security_event("login_throttle_unavailable", error=type(error.storage_error).__name__)
    raise ThrottleUnavailable() from error
