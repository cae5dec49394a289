"""The verified-token cache with real tokens: hits, expiry and age re-checked on a hit, bounds, purges, kinds."""

from __future__ import annotations

import pytest

from medusa_auth import clock
from medusa_auth.keys.config import get_jwt_config
from medusa_auth.keys.keyset import KeySet
from medusa_auth.token_cache import MAX_AGE_SECONDS, entry_size
from medusa_auth.tokens import InvalidToken, TokenKind, Tokens
from tests.helpers import NOW, FakeClock

LIFETIME = 3600
ACCESS = {TokenKind.ACCESS}

pytestmark = pytest.mark.usefixtures("clock_at_now")  # every test starts at NOW; frozen_clock moves it


@pytest.fixture
def tokens(rsa_pem: str) -> Tokens:
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_EXPIRES_IN": str(LIFETIME)})
    return Tokens(KeySet.from_config(config), config.http)


def access_token(tokens: Tokens, user_id: str = "user_1") -> str:
    return tokens.issue_auth_token(f"authid_{user_id}", user_id, {})


def count_signature_checks(tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every signature the key set checks, so a test can tell a hit from a fresh verification."""
    key = tokens.keys.find(None)
    assert key is not None
    checked: list[bytes] = []
    original = type(key).verify

    def verify(self: object, signing_input: bytes, signature: bytes) -> bool:
        checked.append(signature)
        return original(self, signing_input, signature)  # type: ignore[arg-type]

    monkeypatch.setattr(type(key), "verify", verify)
    return checked


def test_a_hit_returns_the_claims_without_checking_the_signature_again(tokens: Tokens, monkeypatch):
    token = access_token(tokens)
    checked = count_signature_checks(tokens, monkeypatch)
    first = tokens.verify(token, ACCESS)
    second = tokens.verify(token, ACCESS)
    assert second == first and second["actor_id"] == "user_1"
    assert len(checked) == 1
    assert len(tokens.cache) == 1


def test_changing_the_returned_claims_does_not_change_the_cached_ones(tokens: Tokens):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)["actor_id"] = "user_admin"
    assert tokens.verify(token, ACCESS)["actor_id"] == "user_1"


def test_expiry_is_checked_on_a_hit(tokens: Tokens, frozen_clock: FakeClock):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)
    frozen_clock.move_to(NOW + LIFETIME + clock.LEEWAY_SECONDS)
    tokens.verify(token, ACCESS)  # the last second of the leeway still counts, as it does afresh
    frozen_clock.move_to(NOW + LIFETIME + clock.LEEWAY_SECONDS + 1)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token, ACCESS)
    assert len(tokens.cache) == 0


def test_an_entry_older_than_the_maximum_age_is_verified_again(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch, frozen_clock: FakeClock
):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)
    checked = count_signature_checks(tokens, monkeypatch)
    frozen_clock.move_to(NOW + MAX_AGE_SECONDS - 1)
    tokens.verify(token, ACCESS)
    assert checked == []
    frozen_clock.move_to(NOW + MAX_AGE_SECONDS)
    tokens.verify(token, ACCESS)
    assert len(checked) == 1


def test_a_clock_that_went_back_verifies_again_and_refuses_an_iat_now_in_the_future(tokens: Tokens, frozen_clock):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)
    frozen_clock.move_to(NOW - clock.LEEWAY_SECONDS - 1)
    with pytest.raises(InvalidToken, match="iat"):
        tokens.verify(token, ACCESS)


def test_a_kind_mismatch_is_refused_on_a_hit(tokens: Tokens, monkeypatch: pytest.MonkeyPatch):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)
    checked = count_signature_checks(tokens, monkeypatch)
    with pytest.raises(InvalidToken, match="access token where registration was expected"):
        tokens.verify(token, {TokenKind.REGISTRATION})
    assert checked == []  # refused by the cached entry's kind, not by a fresh verification
    assert tokens.verify(token, ACCESS)["actor_id"] == "user_1"


def test_a_registration_token_cached_on_refresh_is_still_refused_under_admin(tokens: Tokens):
    token = tokens.issue_auth_token("authid_9", None, {})
    tokens.verify(token, {TokenKind.ACCESS, TokenKind.REGISTRATION})
    with pytest.raises(InvalidToken, match="registration token where access was expected"):
        tokens.verify(token, ACCESS)


def test_a_refused_token_is_not_cached(tokens: Tokens):
    token = access_token(tokens)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BA")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.verify(tampered, ACCESS)
    assert len(tokens.cache) == 0


def test_the_entry_bound_evicts_the_least_recently_used(tokens: Tokens):
    tokens.cache.max_entries = 3
    first, second, third, fourth = (access_token(tokens, f"user_{n}") for n in range(4))
    for token in (first, second, third):
        tokens.verify(token, ACCESS)
    tokens.verify(first, ACCESS)  # now the most recently used
    tokens.verify(fourth, ACCESS)
    assert len(tokens.cache) == 3
    assert tokens.cache.get(second, clock.LEEWAY_SECONDS) is None
    assert all(tokens.cache.get(t, clock.LEEWAY_SECONDS) is not None for t in (first, third, fourth))


def test_the_memory_bound_is_respected(tokens: Tokens):
    sample = access_token(tokens, "user_0")
    tokens.cache.max_bytes = 2 * entry_size(sample) + entry_size(sample) // 2
    for n in range(5):
        tokens.verify(access_token(tokens, f"user_{n}"), ACCESS)
        assert tokens.cache.size_bytes <= tokens.cache.max_bytes
    assert len(tokens.cache) == 2


def test_a_token_larger_than_the_memory_bound_is_not_cached(tokens: Tokens):
    tokens.cache.max_bytes = 100
    tokens.verify(access_token(tokens), ACCESS)
    assert len(tokens.cache) == 0 and tokens.cache.size_bytes == 0


def test_a_hit_stops_counting_once_its_key_leaves_the_key_set(tokens: Tokens, ec_pem: str):
    token = access_token(tokens)
    tokens.verify(token, ACCESS)
    other_config = get_jwt_config({"JWT_SECRET_KEY": ec_pem})
    tokens.keys = KeySet.from_config(other_config)  # a key-ring refresh without the key
    with pytest.raises(InvalidToken, match="unknown kid"):
        tokens.verify(token, ACCESS)


def test_each_tokens_has_its_own_cache(rsa_pem: str):
    """Entries were checked against one issuer and audience; another configuration must check afresh."""
    plain = get_jwt_config({"JWT_SECRET_KEY": rsa_pem})
    strict = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_ISSUER": "https://auth.example.com"})
    lenient, demanding = (Tokens(KeySet.from_config(c), c.http) for c in (plain, strict))
    token = access_token(lenient)
    lenient.verify(token, ACCESS)
    with pytest.raises(InvalidToken, match="wrong issuer"):
        demanding.verify(token, ACCESS)


def test_only_a_header_whose_signature_verified_is_remembered(tokens: Tokens):
    """Parsing is skipped only for header segments this key set has seen signed; a forger adds none."""
    token = access_token(tokens)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    with pytest.raises(InvalidToken):
        tokens.verify(forged, ACCESS)
    assert tokens._verified_headers == {}
    tokens.verify(token, ACCESS)
    assert list(tokens._verified_headers) == [header]
