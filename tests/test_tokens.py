"""medusa_auth.tokens with real keys: Medusa's payload, kinds kept apart, and every refusal of verify().

Crafted tokens are built here from base64url, JSON and a private key (cryptography or hmac), never with
the code under test, so the signature is valid wherever a test means it to be and only the one property
under test is wrong. Each family of crafted tokens has a control that is accepted.
"""

from __future__ import annotations

import base64
import json
import random
import string
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from joserfc import jwt
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from medusa_auth import clock
from medusa_auth.keys.keyset import KeySet
from medusa_auth.keys.material import generate_private_key, private_key_pem
from medusa_auth.tokens import MAX_TOKEN_LENGTH, InvalidToken, TokenKind, Tokens
from tests.helpers import (
    ACCESS,
    DROP,
    NOW,
    FakeClock,
    Issuer,
    b64,
    claims_of,
    header_of,
    load_private,
    make_issuer,
    part,
    public_pem,
    unb64,
)

HS_SECRET = "test-hmac-secret-" + "k" * 32
REGISTRATION = {TokenKind.REGISTRATION}
INVITE = {TokenKind.INVITE}
ISSUER = "https://auth.example.com"

pytestmark = pytest.mark.usefixtures("clock_at_now")  # the crafted tokens are valid at NOW


@pytest.fixture
def rsa(rsa_pem: str) -> Issuer:
    return make_issuer({"JWT_SECRET_KEY": rsa_pem}, load_private(rsa_pem))


@pytest.fixture
def hs() -> Issuer:
    return make_issuer({"JWT_SECRET_KEY": HS_SECRET}, HS_SECRET.encode())


@pytest.fixture(scope="module")
def other_rsa_private() -> RSAPrivateKey:
    key = generate_private_key("RSA")
    assert isinstance(key, RSAPrivateKey)
    return key


ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA", "Ed25519", "HS256"]


@pytest.fixture(params=ALGORITHMS)
def any_issuer(request: pytest.FixtureRequest, rsa_pem: str, ec_pem: str, ed25519_pem: str) -> Issuer:
    alg = request.param
    if alg == "HS256":
        return make_issuer({"JWT_SECRET_KEY": HS_SECRET}, HS_SECRET.encode())
    pem = {"RS256": rsa_pem, "PS256": rsa_pem, "ES256": ec_pem, "EdDSA": ed25519_pem, "Ed25519": ed25519_pem}[alg]
    return make_issuer({"JWT_SECRET_KEY": pem, "JWT_ALGORITHM": alg}, load_private(pem))


def joserfc_key(issuer: Issuer) -> Any:
    """The key an independent verifier would hold: the public key, or the shared secret for HS256."""
    if issuer.alg == "HS256":
        return OctKey.import_key(issuer.private)
    key_class = {ec.EllipticCurvePrivateKey: ECKey, ed25519.Ed25519PrivateKey: OKPKey, RSAPrivateKey: RSAKey}
    cls = next(c for base, c in key_class.items() if isinstance(issuer.private, base))
    return cls.import_key(public_pem(issuer.private))


# -- the access token's payload and header -------------------------------------------------------


def test_access_token_payload_is_medusas(rsa: Issuer):
    """Medusa 2.21's payload (generateJwtTokenForAuthIdentity), with this service's jti."""
    token = rsa.tokens.issue_auth_token("authid_7", "user_7", {"first_name": "Ada"})
    claims = claims_of(token)
    assert set(claims) == {
        "actor_id",
        "actor_type",
        "auth_identity_id",
        "auth_provider",
        "app_metadata",
        "user_metadata",
        "mfa_enabled",
        "mfa_challenge_completed_at",
        "iat",
        "exp",
        "jti",
    }
    assert claims["actor_id"] == "user_7"
    assert claims["actor_type"] == "user"
    assert claims["auth_identity_id"] == "authid_7"
    assert claims["auth_provider"] == "emailpass"
    assert claims["app_metadata"] == {"user_id": "user_7"}
    assert claims["user_metadata"] == {"first_name": "Ada"}
    assert claims["mfa_enabled"] is False
    assert claims["mfa_challenge_completed_at"] is None
    assert claims["iat"] == NOW
    assert isinstance(claims["jti"], str) and claims["jti"]


def test_a_customer_token_carries_its_actor_type_and_only_its_own_link(rsa: Issuer):
    token = rsa.tokens.issue_auth_token("authid_7", "cus_7", {}, actor_type="customer")
    claims = claims_of(token)
    assert (claims["actor_type"], claims["actor_id"], claims["app_metadata"]) == (
        "customer",
        "cus_7",
        {"customer_id": "cus_7"},
    )
    assert rsa.tokens.verify(token, ACCESS)["actor_id"] == "cus_7"


def test_an_actor_type_the_tokens_do_not_know_is_neither_issued_nor_accepted(rsa: Issuer):
    with pytest.raises(ValueError):
        rsa.tokens.issue_auth_token("authid_7", "man_7", {}, actor_type="manager")
    crafted = rsa.craft(rsa.claims(actor_type="manager", actor_id="man_7", app_metadata={"manager_id": "man_7"}))
    assert rsa.refuses(crafted, ACCESS)
    assert rsa.tokens.verify(rsa.craft(rsa.claims(actor_type="customer")), ACCESS)  # the control: a known type
    for odd in (["user"], {"user": 1}, None, 7, "User"):
        assert rsa.refuses(rsa.craft(rsa.claims(actor_type=odd)), ACCESS), odd


def test_tokens_built_with_more_actor_types_accept_them(rsa_pem: str):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem}, None)
    managers = Tokens(issuer.tokens.keys, issuer.tokens.options, {"user", "customer", "manager"})
    token = managers.issue_auth_token("authid_7", "man_7", {}, actor_type="manager")
    assert managers.verify(token, ACCESS)["actor_type"] == "manager"
    assert issuer.refuses(token, ACCESS)  # the same key, but tokens that know only Medusa's two types


@pytest.mark.parametrize(("expires_in", "seconds"), [("1d", 86400), ("12h", 43200), ("30m", 1800), ("900", 900)])
def test_lifetime_is_jwt_expires_in(rsa_pem: str, expires_in: str, seconds: int):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem, "JWT_EXPIRES_IN": expires_in}, None)
    claims = claims_of(issuer.tokens.issue_auth_token("authid_1", "user_1", {}))
    assert claims["exp"] - claims["iat"] == seconds


def test_default_lifetime_is_one_day(rsa: Issuer):
    claims = claims_of(rsa.tokens.issue_auth_token("authid_1", "user_1", {}))
    assert claims["exp"] - claims["iat"] == 86400


def test_issuer_and_audience_are_absent_unless_configured(rsa: Issuer):
    claims = claims_of(rsa.tokens.issue_auth_token("authid_1", "user_1", {}))
    assert "iss" not in claims and "aud" not in claims


def test_issuer_and_one_audience_are_set_when_configured(rsa_pem: str):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": "admin"}, None)
    claims = claims_of(issuer.tokens.issue_auth_token("authid_1", "user_1", {}))
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "admin"


def test_several_audiences_are_set_as_a_list(rsa_pem: str):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem, "JWT_AUDIENCE": "admin, store"}, None)
    assert claims_of(issuer.tokens.issue_auth_token("authid_1", "user_1", {}))["aud"] == ["admin", "store"]


def test_header_carries_alg_kid_and_typ_jwt(rsa: Issuer):
    header = header_of(rsa.tokens.issue_auth_token("authid_1", "user_1", {}))
    assert header == {"alg": "RS256", "kid": rsa.kid, "typ": "JWT"}
    assert rsa.kid  # the RFC 7638 thumbprint when JWT_KEYID is unset


def test_header_kid_is_jwt_keyid_when_set(rsa_pem: str):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem, "JWT_KEYID": "key-2024"}, None)
    assert header_of(issuer.tokens.issue_auth_token("authid_1", "user_1", {}))["kid"] == "key-2024"


def test_registration_token_has_no_actor_and_empty_app_metadata(rsa: Issuer):
    token = rsa.tokens.issue_auth_token("authid_9", None, {})
    claims = claims_of(token)
    assert claims["actor_id"] == ""
    assert claims["app_metadata"] == {}
    assert claims["actor_type"] == "user"
    assert claims["auth_identity_id"] == "authid_9"
    assert rsa.tokens.verify(token, REGISTRATION)["auth_identity_id"] == "authid_9"


def test_tokens_have_distinct_jti(rsa: Issuer):
    jtis = {claims_of(rsa.tokens.issue_auth_token("authid_1", "user_1", {}))["jti"] for _ in range(50)}
    assert len(jtis) == 50


# -- every algorithm: round trip and an independent verifier --------------------------------------


def test_round_trip(any_issuer: Issuer):
    token = any_issuer.tokens.issue_auth_token("authid_1", "user_1", {"k": "v"})
    assert header_of(token)["alg"] == any_issuer.alg
    claims = any_issuer.tokens.verify(token, ACCESS)
    assert claims == claims_of(token)
    assert claims["actor_id"] == "user_1"


def joserfc_decode(issuer: Issuer, token: str) -> jwt.Token:
    with warnings.catch_warnings():
        # joserfc warns that RFC 9864 deprecates the name "EdDSA"; the signature is the same as Ed25519's.
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        return jwt.decode(token, joserfc_key(issuer), algorithms=[issuer.alg])


def test_token_verifies_with_joserfc(any_issuer: Issuer):
    token = any_issuer.tokens.issue_auth_token("authid_1", "user_1", {})
    decoded = joserfc_decode(any_issuer, token)
    assert decoded.header["kid"] == any_issuer.kid
    assert decoded.claims == claims_of(token)


def test_joserfc_refuses_a_token_whose_payload_was_changed(any_issuer: Issuer):
    """The independent check above can fail: it does check the signature."""
    header, _, signature = any_issuer.tokens.issue_auth_token("authid_1", "user_1", {}).split(".")
    forged = f"{header}.{b64(part(any_issuer.claims(actor_id='user_admin')))}.{signature}"
    with pytest.raises(BadSignatureError):
        joserfc_decode(any_issuer, forged)
    assert any_issuer.refuses(forged)


def test_crafted_token_with_nothing_wrong_is_accepted(any_issuer: Issuer):
    """The control for every crafted token below: the test's own signing matches the service's."""
    assert any_issuer.tokens.verify(any_issuer.craft(), ACCESS)["actor_id"] == "user_01"


# -- kinds are kept apart ------------------------------------------------------------------------


def test_access_token_is_refused_where_only_registration_is_allowed(rsa: Issuer):
    assert rsa.refuses(rsa.tokens.issue_auth_token("authid_1", "user_1", {}), REGISTRATION)


def test_registration_token_is_refused_where_only_access_is_allowed(rsa: Issuer):
    assert rsa.refuses(rsa.tokens.issue_auth_token("authid_1", None, {}), ACCESS)


def test_both_kinds_are_accepted_where_both_are_allowed(rsa: Issuer):
    both = {TokenKind.ACCESS, TokenKind.REGISTRATION}
    assert rsa.tokens.verify(rsa.tokens.issue_auth_token("authid_1", "user_1", {}), both)
    assert rsa.tokens.verify(rsa.tokens.issue_auth_token("authid_2", None, {}), both)


def test_invite_token_is_refused_where_access_is_expected(rsa: Issuer):
    token = rsa.tokens.sign(TokenKind.INVITE, {"id": "invite_1", "email": "a@example.com"}, 60)
    assert header_of(token)["typ"] == "invite+jwt"
    assert rsa.refuses(token, ACCESS)
    assert rsa.refuses(token, REGISTRATION)
    assert rsa.tokens.verify(token, INVITE)["email"] == "a@example.com"  # control: it is a valid invite


def test_access_token_is_refused_where_invite_is_expected(rsa: Issuer):
    assert rsa.refuses(rsa.tokens.issue_auth_token("authid_1", "user_1", {}), INVITE)


def test_reset_token_is_refused_where_access_is_expected(rsa: Issuer):
    claims = {"entity_id": "a@example.com", "actor_type": "user", "purpose": "reset"}
    token = rsa.tokens.sign(TokenKind.RESET, claims, 900)
    assert rsa.refuses(token, ACCESS)
    assert rsa.tokens.verify(token, {TokenKind.RESET})["purpose"] == "reset"


def test_invite_claims_under_typ_jwt_are_not_an_invite(rsa: Issuer):
    token = rsa.tokens.sign(TokenKind.ACCESS, {"id": "invite_1", "email": "a@example.com"}, 60)
    assert rsa.refuses(token, INVITE)
    assert rsa.refuses(token, ACCESS)


def test_access_claims_under_typ_invite_are_not_an_access_token(rsa: Issuer):
    token = rsa.tokens.sign(TokenKind.INVITE, rsa.claims(), 60)
    assert rsa.refuses(token, ACCESS)
    assert rsa.refuses(token, INVITE)


# -- time ----------------------------------------------------------------------------------------


def test_expired_token_is_refused_beyond_the_leeway(rsa: Issuer, frozen_clock: FakeClock):
    token = rsa.tokens.issue_auth_token("authid_1", "user_1", {})
    frozen_clock.move_to(claims_of(token)["exp"] + clock.LEEWAY_SECONDS + 1)
    assert rsa.refuses(token)


def test_expired_token_within_the_leeway_is_still_accepted(rsa: Issuer, frozen_clock: FakeClock):
    token = rsa.tokens.issue_auth_token("authid_1", "user_1", {})
    frozen_clock.move_to(claims_of(token)["exp"] + clock.LEEWAY_SECONDS)
    assert rsa.tokens.verify(token, ACCESS)


def test_leeway_is_at_most_a_minute():
    assert 0 < clock.LEEWAY_SECONDS <= 60


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_or_iat_in_the_future_is_refused(rsa: Issuer, claim: str):
    assert rsa.refuses(rsa.craft(rsa.claims(**{claim: NOW + 3600})))
    assert rsa.refuses(rsa.craft(rsa.claims(**{claim: NOW + clock.LEEWAY_SECONDS + 1})))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_or_iat_within_the_leeway_is_accepted(rsa: Issuer, claim: str):
    assert rsa.tokens.verify(rsa.craft(rsa.claims(**{claim: NOW + clock.LEEWAY_SECONDS})), ACCESS)


@pytest.mark.parametrize(
    "exp",
    [DROP, None, str(NOW + 3600), True, False, [NOW + 3600], {"value": NOW + 3600}],
    ids=["missing", "null", "string", "true", "false", "list", "object"],
)
def test_exp_missing_or_not_a_number_is_refused(rsa: Issuer, exp: Any):
    assert rsa.refuses(rsa.craft(rsa.claims(exp=exp)))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize("value", [str(NOW), True, [NOW]], ids=["string", "true", "list"])
def test_nbf_or_iat_that_is_not_a_number_is_refused(rsa: Issuer, claim: str, value: Any):
    assert rsa.refuses(rsa.craft(rsa.claims(**{claim: value})))


def test_float_exp_is_accepted(rsa: Issuer):
    assert rsa.tokens.verify(rsa.craft(rsa.claims(exp=NOW + 60.5)), ACCESS)


# -- issuer and audience -------------------------------------------------------------------------


@pytest.fixture
def strict(rsa_pem: str) -> Issuer:
    env = {"JWT_SECRET_KEY": rsa_pem, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": "admin,store"}
    return make_issuer(env, load_private(rsa_pem))


def test_issuer_and_audience_round_trip(strict: Issuer):
    assert strict.tokens.verify(strict.tokens.issue_auth_token("authid_1", "user_1", {}), ACCESS)


@pytest.mark.parametrize(
    "iss",
    [DROP, None, "https://evil.example.com", ISSUER + "/", ISSUER.upper(), [ISSUER], ""],
    ids=["missing", "null", "other", "trailing-slash", "upper-case", "list", "empty"],
)
def test_wrong_or_missing_issuer_is_refused(strict: Issuer, iss: Any):
    assert strict.refuses(strict.craft(strict.claims(iss=iss)))


@pytest.mark.parametrize("aud", ["admin", "store", ["other", "store"], ["admin"], [{}, "admin"]])
def test_audience_with_a_configured_value_is_accepted(strict: Issuer, aud: Any):
    assert strict.tokens.verify(strict.craft(strict.claims(aud=aud)), ACCESS)


@pytest.mark.parametrize(
    "aud",
    [DROP, None, "other", "admin,store", "", [], ["other"], [{}], [["admin"]], [None, 5], {"admin": True}, 5, True],
    ids=[
        "missing",
        "null",
        "other",
        "comma-joined",
        "empty",
        "empty-list",
        "list-other",
        "list-object",
        "list-nested",
        "list-null-number",
        "object",
        "number",
        "true",
    ],
)
def test_wrong_or_missing_audience_is_refused(strict: Issuer, aud: Any):
    assert strict.refuses(strict.craft(strict.claims(aud=aud)))


# -- algorithm and signature ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "AAAA"], ids=["empty-signature", "some-signature"])
def test_alg_none_is_refused(rsa: Issuer, alg: str, signature: str):
    token = f"{b64(part(rsa.header(alg=alg)))}.{b64(part(rsa.claims()))}.{signature}"
    assert rsa.refuses(token)


def test_alg_none_without_kid_is_refused(rsa: Issuer):
    token = f"{b64(part({'alg': 'none', 'typ': 'JWT'}))}.{b64(part(rsa.claims()))}."
    assert rsa.refuses(token)


def test_empty_signature_is_refused(rsa: Issuer):
    header, payload, _ = rsa.craft().split(".")
    assert rsa.refuses(f"{header}.{payload}.")


def test_missing_alg_is_refused(rsa: Issuer):
    assert rsa.refuses(rsa.craft(header=rsa.header(alg=DROP)))


def test_signature_of_another_key_is_refused(rsa: Issuer, other_rsa_private: RSAPrivateKey):
    assert rsa.refuses(rsa.craft(key=other_rsa_private))


def test_signature_over_other_claims_is_refused(rsa: Issuer):
    header, _, signature = rsa.craft().split(".")
    assert rsa.refuses(f"{header}.{b64(part(rsa.claims(actor_id='user_admin')))}.{signature}")


def test_hs256_signed_with_the_public_key_pem_is_refused(rsa: Issuer):
    """Algorithm confusion: the RSA public key (which the JWKS publishes) used as an HMAC secret."""
    public = public_pem(rsa.private)
    for secret in (public, public.strip(), public.replace(b"\n", b"\r\n")):
        assert rsa.refuses(rsa.craft(header=rsa.header(alg="HS256"), alg="HS256", key=secret))


def test_another_algorithm_with_the_right_key_is_refused(rsa: Issuer):
    """PS256 is a valid signature by the same RSA key, but the key is pinned to RS256."""
    assert rsa.refuses(rsa.craft(header=rsa.header(alg="PS256"), alg="PS256"))


def test_hs256_key_refuses_an_rs256_header(hs: Issuer):
    assert hs.refuses(hs.craft(header=hs.header(alg="RS256")))


# -- header members ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jku", "https://evil.example.com/jwks.json"),
        ("x5u", "https://evil.example.com/cert.pem"),
        ("jwk", {"kty": "oct", "k": "c2VjcmV0"}),
        ("x5c", ["MIIBszCCAVmgAwIBAgIUV"]),
        ("crit", ["exp"]),
        ("crit", ["urn:example:unknown"]),
        ("cty", "JWT"),
    ],
)
def test_header_member_that_could_choose_the_key_or_change_meaning_is_refused(rsa: Issuer, member: str, value: Any):
    assert rsa.refuses(rsa.craft(header=rsa.header(**{member: value})))


def test_embedded_jwk_of_the_attackers_key_is_not_used(rsa: Issuer, other_rsa_private: RSAPrivateKey):
    attacker_jwk = RSAKey.import_key(public_pem(other_rsa_private)).as_dict(private=False)
    token = rsa.craft(header=rsa.header(jwk=attacker_jwk, kid=DROP), key=other_rsa_private)
    assert rsa.refuses(token)


@pytest.mark.parametrize(
    "kid",
    ["unknown-kid", "", 1, 0, True, ["k"], {"kid": "k"}, "k" * 1000],
    ids=["unknown", "empty", "one", "zero", "true", "list", "object", "1000-chars"],
)
def test_unknown_or_malformed_kid_is_refused(rsa: Issuer, kid: Any):
    assert rsa.refuses(rsa.craft(header=rsa.header(kid=kid)))


def test_kid_of_1000_chars_is_refused_even_when_it_names_the_key(rsa_pem: str):
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem, "JWT_KEYID": "k" * 1000}, load_private(rsa_pem))
    assert issuer.refuses(issuer.tokens.issue_auth_token("authid_1", "user_1", {}))


def test_no_kid_is_accepted_when_the_set_has_exactly_one_key(rsa: Issuer):
    assert len(rsa.tokens.keys.by_kid) == 1
    assert rsa.tokens.verify(rsa.craft(header=rsa.header(kid=DROP)), ACCESS)["actor_id"] == "user_01"


def test_no_kid_is_refused_when_the_set_has_several_keys(rsa: Issuer, other_rsa_private: RSAPrivateKey):
    other = make_issuer({"JWT_SECRET_KEY": private_key_pem(other_rsa_private)}, other_rsa_private)
    keys = KeySet(None, [*rsa.tokens.keys.by_kid.values(), *other.tokens.keys.by_kid.values()], None)
    both = Tokens(keys, rsa.config.http)
    for issuer in (rsa, other):
        assert both.verify(issuer.craft(), ACCESS)  # each key still verifies by its kid
        with pytest.raises(InvalidToken):
            both.verify(issuer.craft(header=issuer.header(kid=DROP)), ACCESS)


def test_a_kid_names_its_own_key_only(rsa: Issuer, other_rsa_private: RSAPrivateKey):
    other = make_issuer({"JWT_SECRET_KEY": private_key_pem(other_rsa_private)}, other_rsa_private)
    keys = KeySet(None, [*rsa.tokens.keys.by_kid.values(), *other.tokens.keys.by_kid.values()], None)
    with pytest.raises(InvalidToken):
        Tokens(keys, rsa.config.http).verify(rsa.craft(header=rsa.header(kid=other.kid)), ACCESS)


# -- strict JSON ---------------------------------------------------------------------------------


def test_duplicate_member_in_the_header_is_refused(rsa: Issuer):
    for raw in (
        f'{{"alg":"RS256","typ":"JWT","kid":"{rsa.kid}","kid":"{rsa.kid}"}}',
        f'{{"alg":"none","alg":"RS256","typ":"JWT","kid":"{rsa.kid}"}}',
    ):
        assert rsa.refuses(rsa.craft(header=raw))


@pytest.mark.parametrize(
    "duplicate",
    ['"actor_id":"user_admin"', f'"exp":{NOW - 86400}', '"user_metadata":{"a":1,"a":2}'],
    ids=["actor_id", "exp", "nested"],
)
def test_duplicate_member_in_the_payload_is_refused(rsa: Issuer, duplicate: str):
    raw = json.dumps(rsa.claims(), separators=(",", ":"))
    assert rsa.refuses(rsa.craft(raw[:-1] + "," + duplicate + "}"))


def payload_with(issuer: Issuer, claim: str, literal: str) -> str:
    """The valid claims as JSON text with one claim's value replaced by a literal (NaN, 1e400 ...)."""
    raw = json.dumps(issuer.claims(**{claim: "@@@"}), separators=(",", ":"))
    return raw.replace('"@@@"', literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_exp_that_is_not_finite_is_refused(rsa: Issuer, literal: str):
    assert rsa.refuses(rsa.craft(payload_with(rsa, "exp", literal)))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e400", "[1e400]", '{"x":NaN}'])
def test_non_finite_number_anywhere_in_the_payload_is_refused(rsa: Issuer, literal: str):
    """Strict JSON: NaN and Infinity are not JSON, and 1e400 overflows to infinity (RFC 7493 §2.2)."""
    assert rsa.refuses(rsa.craft(payload_with(rsa, "user_metadata", literal)))


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_what_the_service_signs_it_accepts_or_it_refuses_to_sign(rsa: Issuer, value: float):
    """user_metadata is copied from a verified token on refresh: a non-JSON number must not slip into a token."""
    try:
        token = rsa.tokens.issue_auth_token("authid_1", "user_1", {"x": value})
    except ValueError:
        return  # refusing to sign is fine
    assert rsa.tokens.verify(token, ACCESS)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claim_too_large_for_a_float_is_refused_as_invalid(rsa: Issuer, claim: str):
    """A 401-digit integer is valid JSON, but cannot be compared as a NumericDate: InvalidToken, not a crash."""
    assert rsa.refuses(rsa.craft(payload_with(rsa, claim, "1" + "0" * 400)))


def test_integer_of_too_many_digits_is_refused(rsa: Issuer):
    assert rsa.refuses(rsa.craft(payload_with(rsa, "user_metadata", "9" * 5000)))


def test_deeply_nested_claim_is_refused(hs: Issuer):
    assert hs.refuses(hs.craft(payload_with(hs, "user_metadata", "[" * 100_000 + "]" * 100_000)))


def test_deeply_nested_claim_within_the_size_limit_is_refused(hs: Issuer):
    token = hs.craft(payload_with(hs, "user_metadata", "[" * 2500 + "]" * 2500))
    assert len(token) <= MAX_TOKEN_LENGTH  # so the parser, not the size check, meets the nesting
    assert hs.refuses(token)


def test_deeply_nested_header_is_refused(rsa: Issuer):
    raw = json.dumps(rsa.header(typ="@@@"), separators=(",", ":")).replace('"@@@"', "[" * 2500 + "]" * 2500)
    token = rsa.craft(header=raw)
    assert len(token) <= MAX_TOKEN_LENGTH
    assert rsa.refuses(token)


NOT_AN_OBJECT = ["[]", '["alg"]', '"JWT"', "1", "null", "true", "", "{", "not json", "{'alg':'RS256'}"]


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_header_that_is_not_a_json_object_is_refused(rsa: Issuer, raw: str):
    assert rsa.refuses(rsa.craft(header=raw))


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_payload_that_is_not_a_json_object_is_refused(rsa: Issuer, raw: str):
    assert rsa.refuses(rsa.craft(raw))


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"a":"\xc3"}', b"\xef\xbb\xbf{}"], ids=["not-utf8", "cut", "bom"])
def test_header_or_payload_that_is_not_utf8_json_is_refused(rsa: Issuer, raw: bytes):
    assert rsa.refuses(rsa.craft(header=raw))
    assert rsa.refuses(rsa.craft(raw.replace(b"{}", part(rsa.claims()))))


# -- the compact form ----------------------------------------------------------------------------


def std_b64(segment: str) -> str:
    return base64.b64encode(unb64(segment)).decode().rstrip("=")


def test_standard_base64_alphabet_is_refused(rsa: Issuer):
    """Find a token whose segments hold - or _ and write them in the +/ alphabet instead."""
    for n in range(200):
        token = rsa.craft(rsa.claims(jti=f"jti-{n}", user_metadata={"x": "\xff\xfe\xfd" * 8}))
        if token != ".".join(std_b64(s) for s in token.split(".")):
            break
    converted = ".".join(std_b64(s) for s in token.split("."))
    assert converted != token
    assert rsa.refuses(converted)


def impossible_length(segment: str) -> str:
    """The segment lengthened to 4n+1 characters, which no base64 input has."""
    return segment + "A" * ((1 - len(segment)) % 4)


def test_header_or_payload_of_impossible_base64_length_is_refused_even_when_signed(rsa: Issuer):
    header, payload, _ = rsa.craft().split(".")
    assert rsa.refuses(rsa.sign_segments(impossible_length(header), payload))
    assert rsa.refuses(rsa.sign_segments(header, impossible_length(payload)))


def test_signature_of_impossible_base64_length_is_refused(rsa: Issuer):
    header, payload, signature = rsa.craft().split(".")
    assert rsa.refuses(f"{header}.{payload}.{impossible_length(signature)}")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_base64_padding_is_refused(rsa: Issuer, index: int):
    segments = rsa.craft().split(".")
    segments[index] += "=" * (-len(segments[index]) % 4 or 4)
    assert rsa.refuses(".".join(segments))


def test_two_or_four_or_five_segments_are_refused(rsa: Issuer):
    header, payload, signature = rsa.craft().split(".")
    for token in (
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.{signature}",
        f"{header}.{payload}.{signature}.",
        f"{header}.{header}.{payload}.{signature}.{signature}",
        f"{header}{payload}{signature}",
    ):
        assert rsa.refuses(token)


@pytest.mark.parametrize("token", ["", ".", "..", "...", "a.b.c", "Bearer"])
def test_trivial_strings_are_refused(rsa: Issuer, token: str):
    assert rsa.refuses(token)


@pytest.mark.parametrize(
    "where", ["leading-space", "trailing-space", "trailing-newline", "tab", "inner-space", "inner-newline", "crlf"]
)
def test_whitespace_is_refused(rsa: Issuer, where: str):
    token = rsa.craft()
    header, payload, signature = token.split(".")
    altered = {
        "leading-space": " " + token,
        "trailing-space": token + " ",
        "trailing-newline": token + "\n",
        "tab": "\t" + token,
        "inner-space": f"{header}. {payload}.{signature}",
        "inner-newline": f"{header}.{payload[:10]}\n{payload[10:]}.{signature}",
        "crlf": token + "\r\n",
    }[where]
    assert rsa.refuses(altered)


def test_token_over_8_kib_is_refused_even_with_a_valid_signature(hs: Issuer):
    token = hs.tokens.issue_auth_token("authid_1", "user_1", {"bio": "a" * 9000})
    assert len(token) > 8192
    assert hs.refuses(token)


def test_token_of_6_kib_is_accepted(hs: Issuer):
    token = hs.tokens.issue_auth_token("authid_1", "user_1", {"bio": "a" * 4500})
    assert 6000 < len(token) <= 8192
    assert hs.tokens.verify(token, ACCESS)


@pytest.mark.parametrize("char", ["é", "\uff41", "\u0663", "\u00a0", "\u2028", "\x00", "\u212a"], ids=repr)
def test_non_ascii_or_control_character_is_refused(rsa: Issuer, char: str):
    header, payload, signature = rsa.craft().split(".")
    for token in (
        f"{header}.{payload}.{signature}{char}",
        f"{header}.{payload[:5]}{char}{payload[5:]}.{signature}",
        f"{char}{header}.{payload}.{signature}",
    ):
        assert rsa.refuses(token)


def test_signature_of_any_length_raises_only_invalid_token(any_issuer: Issuer):
    header, payload, _ = any_issuer.craft().split(".")
    rng = random.Random(7515)
    for length in [*range(1, 70), 127, 128, 255, 256, 257, 511, 512, 513, 1024]:
        assert any_issuer.refuses(f"{header}.{payload}.{b64(rng.randbytes(length))}")
        assert any_issuer.refuses(f"{header}.{payload}.{b64(bytes(length))}")


def test_random_garbage_raises_only_invalid_token(rsa: Issuer):
    """Whatever arrives, verify() answers with a token or InvalidToken, never another exception."""
    rng = random.Random(20240607)
    valid = rsa.craft().split(".")
    alphabet = string.ascii_letters + string.digits + "-_.=+/ \t\n" + "é\x00\uffff"
    for _ in range(500):
        choice = rng.randrange(4)
        if choice == 0:
            token = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        elif choice == 1:
            token = ".".join(b64(rng.randbytes(rng.randrange(0, 300))) for _ in range(3))
        elif choice == 2:  # a real header and signature around random bytes
            token = f"{valid[0]}.{b64(rng.randbytes(rng.randrange(1, 300)))}.{valid[2]}"
        else:  # one character of a valid token changed
            token = ".".join(valid)
            i = rng.randrange(len(token))
            token = token[:i] + rng.choice(alphabet) + token[i + 1 :]
        try:
            rsa.tokens.verify(token, ACCESS)
        except InvalidToken:
            pass
