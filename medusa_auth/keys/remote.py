"""The remote JWKS client: a verifier's keys, fetched from the issuer's ``/.well-known/jwks.json``.

Like jwks-rsa in the guide, but stricter and steadier: one HTTP GET at a time per client (many
threads that miss at once share it), a timeout on the whole exchange, a size cap, no redirects, https
except to loopback; ``Cache-Control: max-age`` honoured within bounds and revalidated with
``If-None-Match``; an unknown ``kid`` refetches at most once per cooldown, so random ``kid``s cannot
flood the issuer; known keys keep verifying while the endpoint fails, for a bounded time, and then
nothing does (fail closed). Every key is vetted and pinned to one algorithm, so ``Tokens.verify`` treats
remote keys exactly as local ones. Nothing here knows about Flask.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from joserfc.jwk import JWKRegistry, Key

from ..settings import LOOPBACK_HOSTS
from ..strict_json import reject_constant, reject_duplicate_members
from .keyset import KeySet, SigningKey, VerificationKey, algorithm_model
from .material import (
    ALGORITHM_KEY_TYPES,
    MIN_RSA_BITS,
    PRIVATE_JWK_MEMBERS,
    KeyMaterialError,
    PublicKey,
    check_algorithm_fits,
    default_algorithm_for_jwk,
)

log = logging.getLogger(__name__)

# Every algorithm a published key may carry: asymmetric only (a shared secret is never published).
PUBLIC_KEY_ALGORITHMS = frozenset(alg for alg, kind in ALGORITHM_KEY_TYPES.items() if kind != "secret")
# The algorithm of a key that names none: RSA keys are read as the guide's RS256.
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_MAX_KID_LENGTH = 256
MAX_KEYS = 64  # a real JWKS holds a handful; more is a broken or hostile endpoint


class JwksError(Exception):
    """The endpoint's answer cannot be used; the message says why, never holding key material."""


@dataclass(frozen=True)
class JwksPolicy:
    """The client's bounds; the defaults are the issue's (SPEC §8)."""

    timeout: float = 5.0  # for the whole exchange: connect, headers and body
    max_bytes: int = 64 * 1024
    default_max_age: float = 600.0  # when the endpoint sends no max-age
    min_max_age: float = 30.0
    max_max_age: float = 3600.0
    cooldown: float = 30.0  # between refetches for unknown kids, and between retries after a failure
    max_staleness: float = 3600.0  # how long past its freshness a set keeps verifying while fetches fail


@dataclass
class JwksCounters:
    """What the client has done since it started; read with ``RemoteJwks.counters()``."""

    fetches: int = 0  # HTTP requests sent
    not_modified: int = 0  # 304 answers to If-None-Match
    failures: int = 0  # fetches whose answer could not be used (network, status, size, body)
    unknown_kid_refetches: int = 0  # fetches caused by a kid the cached set lacked
    hits: int = 0  # lookups that found a key
    misses: int = 0  # lookups that found none (unknown kid, or no usable set)
    keys_skipped: int = 0  # published keys left out by vetting (encryption keys, weak or mismatched keys)


@dataclass(frozen=True)
class _CachedSet:
    keys: KeySet
    etag: str | None
    fresh_until: float  # by the client's clock


def check_jwks_url(url: str) -> str:
    """``url`` if it is an https URL, or plain http to loopback; ``ValueError`` naming the problem."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the JWKS URL must not carry credentials (they would be logged and never sent)")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"{url!r} must use https (plain http only to loopback)")
    return url


def remote_algorithms(requested: str | None) -> frozenset[str]:
    """What a verifier accepts: the one ``JWT_ALGORITHM`` when set, else every public-key algorithm."""
    if requested is None:
        return PUBLIC_KEY_ALGORITHMS
    if requested not in PUBLIC_KEY_ALGORITHMS:
        raise ValueError(
            f"{requested} is not a public-key algorithm; use one of {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))}"
        )
    return frozenset({requested})


class RemoteJwks:
    """Verification keys from a remote JWKS, looked up by ``kid``; safe to share between threads."""

    signer: SigningKey | None = None  # a verifier never signs
    jwks = None  # nor publishes: the issuer does

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str] = PUBLIC_KEY_ALGORITHMS,
        policy: JwksPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        tls: ssl.SSLContext | None = None,
    ):
        self.url = check_jwks_url(url)
        # The system's trusted CAs with hostname checks, unless the caller trusts a private CA.
        self.tls = tls or ssl.create_default_context()
        unknown = set(algorithms) - PUBLIC_KEY_ALGORITHMS
        if unknown or not algorithms:
            raise ValueError(f"algorithms must be among {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))}")
        self.algorithms = frozenset(algorithms)
        self.policy = policy or JwksPolicy()
        self.clock = clock
        self._cached: _CachedSet | None = None  # swapped whole; readers never see half a set
        self._fetch_lock = threading.Lock()  # single flight: one request to the endpoint at a time
        self._counter_lock = threading.Lock()
        self._counters = JwksCounters()
        self._generation = 0  # fetch attempts so far; a waiter that sees it move does not fetch again
        self._retry_at = float("-inf")  # after a failure, no new attempt before this
        self._unknown_kid_fetch_at = float("-inf")  # the next refetch an unknown kid may cause

    # -- what Tokens reads ---------------------------------------------------------------------

    @property
    def by_kid(self) -> dict[str, VerificationKey]:
        cached = self._usable(self.clock())
        return dict(cached.keys.by_kid) if cached else {}

    def find(self, kid: str | None) -> VerificationKey | None:
        """The key for ``kid`` (or the set's only key when a token has none); None if there is none."""
        cached = self._current()
        key = cached.keys.find(kid) if cached else None
        if key is None and kid is not None and cached is not None:
            cached = self._refetch_for_unknown_kid()
            key = cached.keys.find(kid) if cached else None
        self._count("hits" if key is not None else "misses")
        return key

    def counters(self) -> dict[str, int]:
        """A copy of the counters: fetches, not_modified, failures, hits, misses and the rest."""
        with self._counter_lock:
            return asdict(self._counters)

    # -- the cache -----------------------------------------------------------------------------

    def _usable(self, now: float) -> _CachedSet | None:
        """The cached set while it is fresh or within the staleness bound; past that, nothing."""
        cached = self._cached
        if cached is None or now > cached.fresh_until + self.policy.max_staleness:
            return None
        return cached

    def _current(self) -> _CachedSet | None:
        cached = self._cached
        if cached is not None and self.clock() < cached.fresh_until:
            return cached
        # Expired: a request holding usable (stale) keys does not queue behind another's fetch.
        self._refresh(wait=self._usable(self.clock()) is None)
        return self._usable(self.clock())

    def _refetch_for_unknown_kid(self) -> _CachedSet | None:
        if self.clock() >= self._unknown_kid_fetch_at:
            self._refresh(wait=True, unknown_kid=True)
        elif self._fetch_lock.acquire(timeout=self.policy.timeout + 1):
            self._fetch_lock.release()  # a fetch in flight (another request's, for this kid maybe) has ended
        return self._usable(self.clock())

    def _refresh(self, *, wait: bool, unknown_kid: bool = False) -> None:
        """Fetch unless another thread just did, a failure's back-off holds, or the kid cooldown does."""
        seen = self._generation
        if not self._fetch_lock.acquire(blocking=wait, timeout=self.policy.timeout + 1 if wait else -1):
            return
        try:
            now = self.clock()
            if self._generation != seen or now < self._retry_at:
                return
            if unknown_kid:
                if now < self._unknown_kid_fetch_at:
                    return
                self._unknown_kid_fetch_at = now + self.policy.cooldown
                self._count("unknown_kid_refetches")
            self._fetch(now)
        finally:
            self._fetch_lock.release()

    def _fetch(self, now: float) -> None:
        cached = self._cached
        self._count("fetches")
        try:
            status, headers, body = self._get(cached.etag if cached else None)
            if status == 304 and cached is not None:
                self._count("not_modified")
                fresh = _CachedSet(cached.keys, headers.get("etag") or cached.etag, now + self._max_age(headers))
            elif status == 200:
                fresh = _CachedSet(self._parse(body), headers.get("etag"), now + self._max_age(headers))
            else:
                raise JwksError(f"answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))
        except Exception as error:  # whatever the endpoint sent ends in a refusal, never in a 500
            self._count("failures")
            self._retry_at = now + self.policy.cooldown
            log.warning("JWKS fetch from %s failed: %s; next try in %.0f s", self.url, error, self.policy.cooldown)
        else:
            self._cached = fresh
            self._retry_at = float("-inf")
        finally:
            self._generation += 1

    def _max_age(self, headers: Mapping[str, str]) -> float:
        policy = self.policy
        seconds = cache_max_age(headers.get("cache-control"), policy.default_max_age)
        return min(max(seconds, policy.min_max_age), policy.max_max_age)

    def _parse(self, body: bytes) -> KeySet:
        keys, skipped = parse_jwks(body, self.algorithms)
        for kid, reason in skipped:
            log.warning("JWKS key %s from %s left out: %s", kid, self.url, reason)
        self._count("keys_skipped", len(skipped))
        return KeySet(None, keys, None)

    def _get(self, etag: str | None) -> tuple[int, Mapping[str, str], bytes]:
        try:
            return bounded_get(self.url, etag, self.policy.timeout, self.policy.max_bytes, self.tls, "medusa_auth-jwks")
        except BodyTooLarge as error:
            raise JwksError(str(error)) from None
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, TLS, bad HTTP
            raise JwksError(f"{type(error).__name__}: {error}") from None

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counter_lock:
            setattr(self._counters, name, getattr(self._counters, name) + amount)


class BodyTooLarge(Exception):
    """The answer is over the caller's size cap."""


def bounded_get(
    url: str, etag: str | None, timeout: float, max_bytes: int, tls: ssl.SSLContext, user_agent: str
) -> tuple[int, Mapping[str, str], bytes]:
    """One GET within ``timeout`` for the whole exchange, no redirects followed: status, headers (lower-case
    names), and the body of a 200 up to ``max_bytes`` (``BodyTooLarge`` beyond); ``If-None-Match`` with ``etag``.

    Shared by the JWKS client and the revocation feed's (revocation.py): both poll an issuer's document.
    """
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=tls)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    headers = {"Accept": "application/json", "User-Agent": user_agent}
    if etag:
        headers["If-None-Match"] = etag
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        _extend_timeout(connection, deadline)
        response = connection.getresponse()
        answered = {name.lower(): value for name, value in response.getheaders()}
        if response.status != 200:
            return response.status, answered, b""
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise BodyTooLarge(f"body of {declared} bytes is over the {max_bytes}-byte cap")
        body = bytearray()
        while True:
            _extend_timeout(connection, deadline)
            chunk = response.read1(16384)
            if not chunk:
                return 200, answered, bytes(body)
            body += chunk
            if len(body) > max_bytes:
                raise BodyTooLarge(f"body is over the {max_bytes}-byte cap")
    finally:
        connection.close()


def _extend_timeout(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Give the socket only what is left of the exchange's time, so a trickling server cannot stretch it."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the endpoint took longer than the timeout")
    if connection.sock is not None:
        connection.sock.settimeout(remaining)


def cache_max_age(cache_control: str | None, default: float) -> float:
    """Seconds from ``Cache-Control: max-age``; ``no-store``/``no-cache`` mean 0 (the floor applies)."""
    directives = {}
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    value = directives.get("max-age", "")
    return float(value) if value.isdigit() else default


# -- vetting what the endpoint sent -----------------------------------------------------------


def parse_jwks(body: bytes, algorithms: Collection[str]) -> tuple[list[VerificationKey], list[tuple[str, str]]]:
    """The signature keys of a JWKS, each pinned to one algorithm, and the (kid, reason) of each left out.

    ``JwksError`` for a document that must not be used at all: not strict JSON, no ``keys`` list,
    private key members (the publisher is leaking keys), or two keys under one ``kid``.
    """
    try:
        document = json.loads(
            body.decode("utf-8"), object_pairs_hook=reject_duplicate_members, parse_constant=reject_constant
        )
    except (ValueError, RecursionError) as error:
        raise JwksError("the body is not strict JSON") from error
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        raise JwksError(f'the body is not {{"keys": [...]}} with at most {MAX_KEYS} keys')
    keys: list[VerificationKey] = []
    skipped: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise JwksError("a key is not a JSON object")
        if PRIVATE_JWK_MEMBERS & entry.keys():
            raise JwksError(f"a key carries private members ({', '.join(sorted(PRIVATE_JWK_MEMBERS & entry.keys()))})")
        try:
            keys.append(_verification_key(entry, algorithms))
        except (JwksError, KeyMaterialError) as reason:
            skipped.append((str(entry.get("kid", "(no kid)"))[:_MAX_KID_LENGTH], str(reason)))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise JwksError("two keys share one kid")
    return keys, skipped


def _verification_key(entry: dict[str, Any], algorithms: Collection[str]) -> VerificationKey:
    kty, kid = entry.get("kty"), entry.get("kid")
    if entry.get("use", "sig") != "sig":
        raise JwksError(f"use is {entry.get('use')!r}, not sig")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise JwksError("key_ops does not allow verify")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= _MAX_KID_LENGTH):
        raise JwksError("kid is not a short string")
    if kty not in _PUBLIC_MEMBERS:
        raise JwksError(f"key type {kty!r} cannot verify a signature here")
    members = {name: entry.get(name) for name in _PUBLIC_MEMBERS[kty]}
    if not all(isinstance(value, str) for value in members.values()):
        raise JwksError(f"{kty} key without {'/'.join(_PUBLIC_MEMBERS[kty])}")
    if kty == "OKP" and members["crv"] != "Ed25519":
        raise JwksError(f"OKP curve {members['crv']!r} does not sign; only Ed25519 is supported")
    algorithm = entry.get("alg") or default_algorithm_for_jwk(kty, members.get("crv"))
    if algorithm not in PUBLIC_KEY_ALGORITHMS:
        raise JwksError(f"algorithm {algorithm!r} is not supported")
    if algorithm not in algorithms:
        raise JwksError(f"algorithm {algorithm} is not accepted by this verifier")
    if kty == "RSA" and _bit_length(str(members["n"])) < MIN_RSA_BITS:
        raise JwksError(f"RSA key under {MIN_RSA_BITS} bits")
    key = _import(kty, members)
    check_algorithm_fits(algorithm, cast(PublicKey, key.raw_value))
    return VerificationKey(kid or key.thumbprint(), algorithm, key, algorithm_model(algorithm))


def _import(kty: str, members: dict[str, Any]) -> Key:
    try:
        return JWKRegistry.import_key({"kty": kty, **members})
    except Exception as error:  # joserfc and cryptography raise several kinds for bad numbers and curves
        raise JwksError(f"{kty} key cannot be read ({type(error).__name__})") from None


def _bit_length(base64url: str) -> int:
    try:
        return int.from_bytes(base64.urlsafe_b64decode(base64url + "=" * (-len(base64url) % 4)), "big").bit_length()
    except (binascii.Error, ValueError):
        raise JwksError("n is not base64url") from None
