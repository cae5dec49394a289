"""medusa_auth.keys.remote against a real JWKS endpoint on 127.0.0.1 whose answers each test sets.

Tokens go through ``Tokens.verify`` with the remote client as its key source, the path a verifier-only
instance and the Flask extension take. Time that matters for caching moves with the fake clock given to
the client; only the timeout tests wait, for a fraction of a second.
"""

from __future__ import annotations

import json
import secrets
import threading

import pytest

from medusa_auth.keys.remote import (
    JwksError,
    JwksPolicy,
    RemoteJwks,
    cache_max_age,
    check_jwks_url,
    parse_jwks,
    remote_algorithms,
)
from medusa_auth.tokens import InvalidToken, TokenKind, Tokens
from tests.helpers import FakeClock, b64, int_bytes, unb64
from tests.jwks_fixtures import OPTIONS, JwksServer, Signer, b64_json, self_signed_tls
from tests.live import free_port

ACCESS = {TokenKind.ACCESS}
ALGORITHMS = ("RS256", "ES256", "EdDSA")


def client(server: JwksServer, clock: FakeClock, **policy: float) -> RemoteJwks:
    return RemoteJwks(server.url, policy=JwksPolicy(**policy), clock=clock)


def verifies(remote: RemoteJwks, token: str) -> bool:
    try:
        Tokens(remote, OPTIONS).verify(token, ACCESS)
    except InvalidToken:
        return False
    return True


@pytest.fixture(scope="module")
def signer() -> Signer:
    """The issuer's key, made once for the module: RSA keys are slow to generate, and no test changes it."""
    return Signer("key-1")


@pytest.fixture
def served(jwks_server: JwksServer, signer: Signer) -> JwksServer:
    jwks_server.publish(signer)
    return jwks_server


# -- fetching and verifying --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_token_verifies_with_the_published_key_of_each_algorithm(jwks_server, fake_clock, algorithm):
    signer = Signer(f"{algorithm}-key", algorithm)
    jwks_server.publish(signer)
    remote = client(jwks_server, fake_clock)
    assert verifies(remote, signer.token())
    assert remote.counters() == {
        "fetches": 1,
        "not_modified": 0,
        "failures": 0,
        "unknown_kid_refetches": 0,
        "hits": 1,
        "misses": 0,
        "keys_skipped": 0,
    }


def test_a_token_signed_by_another_key_under_the_published_kid_is_refused(served, fake_clock, signer):
    forger = Signer(signer.kid)
    assert not verifies(client(served, fake_clock), forger.token())


def test_the_algorithm_stays_pinned_to_the_published_key(served, fake_clock, signer):
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    assert not verifies(remote, signer.token(header_alg="PS256"))
    assert not verifies(remote, signer.token(header_alg="HS256"))
    assert not verifies(remote, signer.token(header_alg="none"))


def test_header_members_that_point_elsewhere_are_refused_for_remote_keys_too(served, fake_clock, signer):
    remote = client(served, fake_clock)
    header, payload, signature = signer.token().split(".")
    decoded = json.loads(unb64(header))
    for member in ("jku", "x5u", "jwk", "crit"):
        crafted = b64_json({**decoded, member: served.url})
        assert not verifies(remote, f"{crafted}.{payload}.{signature}")


def test_a_jwks_without_the_tokens_kid_refuses_it(served, fake_clock):
    stranger = Signer("not-published")
    assert not verifies(client(served, fake_clock), stranger.token())


def test_a_token_without_kid_is_accepted_only_when_the_set_has_one_key(jwks_server, fake_clock, signer):
    jwks_server.publish(signer)
    assert verifies(client(jwks_server, fake_clock), signer.token(kid=None))
    jwks_server.publish(signer, Signer("key-2"))
    assert not verifies(client(jwks_server, fake_clock), signer.token(kid=None))


def test_a_published_key_without_kid_is_known_by_its_thumbprint(jwks_server, fake_clock, signer):
    entry = signer.jwk()
    del entry["kid"]
    jwks_server.publish(entry)
    remote = client(jwks_server, fake_clock)
    assert verifies(remote, signer.token(kid=None))
    [kid] = remote.by_kid
    assert verifies(remote, signer.token(kid=kid))


# -- caching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [
        ("public, max-age=120", 120),
        ("max-age=5", 30),  # below the floor: a chatty endpoint cannot make every request fetch
        ("max-age=999999", 3600),  # above the ceiling: a removed key is noticed within an hour
        (None, 600),  # no max-age: ten minutes
        ("no-store", 30),
        ("max-age=abc", 600),
    ],
)
def test_the_set_is_cached_for_max_age_within_30_s_and_1_h(served, fake_clock, signer, cache_control, lifetime):
    if cache_control is not None:
        served.answer.headers["Cache-Control"] = cache_control
    remote = client(served, fake_clock)
    token = signer.token()
    assert verifies(remote, token)
    fake_clock.move(lifetime - 1)
    assert verifies(remote, token)
    assert served.fetches() == 1
    fake_clock.move(2)
    assert verifies(remote, token)
    assert served.fetches() == 2


def test_an_expired_set_is_revalidated_with_its_etag(served, fake_clock, signer):
    served.answer.etag = '"v1"'
    served.answer.headers["Cache-Control"] = "max-age=60"
    remote = client(served, fake_clock)
    token = signer.token()
    assert verifies(remote, token)
    assert "if-none-match" not in served.requests[0]
    fake_clock.move(61)
    assert verifies(remote, token)
    assert served.requests[1]["if-none-match"] == '"v1"'
    counters = remote.counters()
    assert counters["fetches"] == 2 and counters["not_modified"] == 1 and counters["failures"] == 0
    # The 304 renewed the freshness: no request for another max-age.
    fake_clock.move(59)
    assert verifies(remote, token)
    assert served.fetches() == 2


def test_a_changed_set_answers_200_to_the_old_etag_and_replaces_the_keys(served, fake_clock, signer):
    served.answer.etag = '"v1"'
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    replacement = Signer("key-2")
    served.publish(replacement)
    served.answer.etag = '"v2"'
    fake_clock.move(601)
    assert verifies(remote, replacement.token())
    assert remote.counters()["not_modified"] == 0 and served.requests[1]["if-none-match"] == '"v1"'
    assert not verifies(remote, signer.token())  # removed from the set, so no longer trusted


def test_fifty_threads_on_a_cold_cache_make_one_fetch(served, fake_clock, signer):
    served.answer.delay = 0.3  # long enough that every thread misses while the first fetch is out
    remote = client(served, fake_clock)
    token = signer.token()
    start = threading.Barrier(50)
    results: list[bool] = []

    def verify() -> None:
        start.wait(timeout=10)
        results.append(verifies(remote, token))

    threads = [threading.Thread(target=verify) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [True] * 50
    assert served.fetches() == 1
    assert remote.counters()["fetches"] == 1 and remote.counters()["hits"] == 50


def test_a_thousand_random_kids_make_at_most_one_fetch_per_cooldown(served, fake_clock, signer):
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    flood = [signer.token(kid=secrets.token_urlsafe(12)) for _ in range(1000)]
    assert not any(verifies(remote, token) for token in flood)
    assert served.fetches() == 2  # the first fetch, and one refetch for the first unknown kid
    assert verifies(remote, signer.token())  # the known key is untouched by the flood
    fake_clock.move(30)
    assert not any(verifies(remote, token) for token in flood)
    assert served.fetches() == 3
    counters = remote.counters()
    assert counters["unknown_kid_refetches"] == 2 and counters["misses"] == 2000 and counters["hits"] == 2


def test_random_kids_from_many_threads_still_make_one_refetch(served, fake_clock, signer):
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    served.answer.delay = 0.2
    flood = [signer.token(kid=secrets.token_urlsafe(12)) for _ in range(400)]
    start = threading.Barrier(20)

    def verify(tokens: list[str]) -> None:
        start.wait(timeout=10)
        for token in tokens:
            verifies(remote, token)

    threads = [threading.Thread(target=verify, args=(flood[i::20],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert served.fetches() == 2


def test_a_key_added_by_the_issuer_is_picked_up_on_first_sight_of_its_kid(served, fake_clock, signer):
    served.answer.headers["Cache-Control"] = "max-age=3600"
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    added = Signer("key-2", "ES256")
    served.publish(signer, added)
    assert verifies(remote, added.token())
    assert served.fetches() == 2
    assert verifies(remote, signer.token()) and verifies(remote, added.token())
    assert served.fetches() == 2


# -- the endpoint failing ------------------------------------------------------------------------


def _refuse_connections(server: JwksServer) -> None:
    server.stop()


def _answer_500(server: JwksServer) -> None:
    server.answer.status = 500
    server.answer.body = b'{"error": "down"}'


def _answer_slowly(server: JwksServer) -> None:
    server.answer.delay = 3.0  # the client's timeout is 0.5 s in these tests


def _answer_too_much(server: JwksServer) -> None:
    keys = server.document["keys"]
    server.answer.body = json.dumps({"keys": keys, "padding": "x" * 70_000}).encode()


def _answer_too_much_without_content_length(server: JwksServer) -> None:
    _answer_too_much(server)
    server.answer.declare_length = False


def _trickle_the_body(server: JwksServer) -> None:
    server.answer.body_delay = 3.0  # headers at once, the body only after the timeout


def _trickle_the_body_past_the_timeout(server: JwksServer) -> None:
    server.answer.trickle = 0.1  # each piece well inside the timeout, the whole far beyond it


def _redirect(server: JwksServer) -> None:
    server.answer.status = 302
    server.answer.headers["Location"] = server.base_url + "/elsewhere/jwks.json"
    server.answer.body = b""


def _answer_garbage(server: JwksServer) -> None:
    server.answer.body = b"<html>maintenance</html>"


OUTAGES = [
    _refuse_connections,
    _answer_500,
    _answer_slowly,
    _trickle_the_body,
    _trickle_the_body_past_the_timeout,
    _answer_too_much,
    _answer_too_much_without_content_length,
    _redirect,
    _answer_garbage,
]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda f: f.__name__.strip("_"))
def test_known_keys_keep_working_while_the_endpoint_fails_then_fail_closed(served, fake_clock, signer, outage):
    remote = client(served, fake_clock, timeout=0.5)
    token = signer.token()
    assert verifies(remote, token)
    outage(served)
    fake_clock.move(601)  # the cached set has expired
    assert verifies(remote, token)
    assert remote.counters()["failures"] == 1
    # While it is down, requests do not each try again: one attempt per cooldown.
    for _ in range(20):
        assert verifies(remote, token)
    assert remote.counters()["fetches"] == 2
    fake_clock.move(3600 - 30)  # just inside the staleness bound (an hour past expiry)
    assert verifies(remote, token)
    fake_clock.move(60)
    assert not verifies(remote, token)  # past it: nothing verifies any more
    assert remote.counters()["failures"] >= 2
    if outage is _redirect:
        assert served.fetches("/elsewhere/jwks.json") == 0


def test_a_cold_cache_with_the_endpoint_down_refuses_without_an_exception(fake_clock, signer):
    remote = RemoteJwks(f"http://127.0.0.1:{free_port()}/jwks.json", clock=fake_clock)
    assert not verifies(remote, signer.token())
    assert remote.counters()["failures"] == 1 and remote.counters()["misses"] == 1


def test_the_endpoint_recovering_ends_the_outage(served, fake_clock, signer):
    remote = client(served, fake_clock)
    assert verifies(remote, signer.token())
    served.answer.status = 503
    fake_clock.move(601)
    assert verifies(remote, signer.token())
    served.answer.status = 200
    fake_clock.move(30)
    assert verifies(remote, signer.token())
    assert remote.counters()["failures"] == 1 and served.fetches() == 3
    fake_clock.move(599)
    assert served.fetches() == 3 and verifies(remote, signer.token())


def test_https_verifies_the_certificate(tmp_path, fake_clock, signer):
    server_tls, trusting = self_signed_tls(tmp_path)
    server = JwksServer(tls=server_tls)
    try:
        server.publish(signer)
        assert server.url.startswith("https://127.0.0.1:")
        untrusting = RemoteJwks(server.url, clock=fake_clock)
        assert not verifies(untrusting, signer.token())
        assert untrusting.counters()["failures"] == 1
        assert verifies(RemoteJwks(server.url, clock=fake_clock, tls=trusting), signer.token())
    finally:
        server.stop()


# -- vetting the published keys -----------------------------------------------------------------


def test_encryption_weak_mismatched_and_symmetric_keys_are_left_out(jwks_server, fake_clock, signer):
    weak_entry = {"kty": "RSA", "kid": "weak", "n": b64(int_bytes((1 << 1023) | 1)), "e": "AQAB", "alg": "RS256"}
    jwks_server.publish(
        signer,
        Signer("enc").jwk(use="enc"),
        Signer("ops").jwk(key_ops=["encrypt"]),
        weak_entry,
        Signer("mismatch", "ES256").jwk(alg="RS256"),
        Signer("ed-as-es", "EdDSA").jwk(alg="ES256"),
        {"kty": "oct", "kid": "hmac", "alg": "HS256"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA"},
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"},
    )
    remote = client(jwks_server, fake_clock)
    assert verifies(remote, signer.token())
    assert set(remote.by_kid) == {signer.kid}
    assert remote.counters()["keys_skipped"] == 9


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"keys": [{"kty": "RSA", "kid": "a", "kid": "b"}]}', "strict JSON"),
        (b'{"keys": [], "x": NaN}', "strict JSON"),
        (b"[]", "keys"),
        (b'{"keys": {}}', "keys"),
        (b'{"keys": ["RSA"]}', "not a JSON object"),
        (b"\xff\xfe", "strict JSON"),
    ],
)
def test_a_malformed_document_is_refused_whole(body, reason):
    with pytest.raises(JwksError, match=reason):
        parse_jwks(body, remote_algorithms(None))


def test_a_set_with_private_members_or_a_repeated_kid_is_refused_whole(jwks_server, fake_clock, signer):
    private = {**signer.jwk(), "d": "AAAA"}
    with pytest.raises(JwksError, match="private members"):
        parse_jwks(json.dumps({"keys": [private]}).encode(), remote_algorithms(None))
    twice = json.dumps({"keys": [signer.jwk(), Signer(signer.kid).jwk()]}).encode()
    with pytest.raises(JwksError, match="share one kid"):
        parse_jwks(twice, remote_algorithms(None))
    jwks_server.publish(private)
    remote = client(jwks_server, fake_clock)
    assert not verifies(remote, signer.token())
    assert remote.counters()["failures"] == 1


def test_only_the_configured_algorithm_is_trusted(jwks_server, fake_clock):
    rsa, ec = Signer("rsa"), Signer("ec", "ES256")
    jwks_server.publish(rsa, ec)
    remote = RemoteJwks(jwks_server.url, algorithms=remote_algorithms("ES256"), clock=fake_clock)
    assert verifies(remote, ec.token())
    assert not verifies(remote, rsa.token())


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example.com/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "https:///jwks.json",
        "jwks.json",
        "https://user:secret@issuer.example.com/jwks.json",
    ],
)
def test_only_https_or_loopback_http_urls_are_accepted(url):
    with pytest.raises(ValueError):
        RemoteJwks(url)


@pytest.mark.parametrize("url", ["https://issuer.example.com/.well-known/jwks.json", "http://localhost:9000/jwks"])
def test_https_and_loopback_urls_are_accepted(url):
    assert check_jwks_url(url) == url


def test_a_symmetric_algorithm_cannot_be_required_of_a_published_key():
    with pytest.raises(ValueError, match="HS256"):
        remote_algorithms("HS256")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("max-age=60", 60), ("public, max-age=60, must-revalidate", 60), ('max-age="60"', 60), ("no-cache", 0), ("", 7)],
)
def test_cache_control_is_read_as_an_http_cache_would(header, seconds):
    assert cache_max_age(header, 7) == seconds
