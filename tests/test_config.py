"""Configuration (SPEC §2): every path of get_jwt_config() and create_app(), and every startup refusal."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask
from joserfc import jwk, jwt

from medusa_auth import create_app
from medusa_auth.keys.config import JwtConfig, get_jwt_config
from medusa_auth.keys.development import (
    DEV_COOKIE_SECRET_FILE,
    DEV_KEY_FILE,
    development_cookie_secret,
    development_key_file,
)
from medusa_auth.keys.material import load_private_pem, private_key_pem, public_key_pem, to_joserfc_key
from medusa_auth.settings import ConfigError
from medusa_auth.settings import sqlalchemy_url as database_url
from tests.helpers import HS_SECRET, one_line, public_pem_of, required_members, rfc7638_thumbprint

COOKIE_SECRET = "cookie-secret-" + "c" * 32
REPO = Path(__file__).resolve().parent.parent

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
    "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
    "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFC"
    "ur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# ---------------------------------------------------------------- helpers


def refusal(environ: dict[str, str], variable: str) -> str:
    """The ConfigError get_jwt_config raises: one line that names ``variable``."""
    with pytest.raises(ConfigError) as caught:
        get_jwt_config(environ)
    return assert_one_line_naming(caught.value, variable)


def assert_one_line_naming(error: BaseException, variable: str) -> str:
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.strip() == message and message
    assert variable in message, message
    return message


def signs_and_verifies(config: JwtConfig) -> bool:
    """A token signed with the configured signing key verifies with the configured verify key (joserfc alone)."""
    # joserfc warns on RFC 8037's "EdDSA"; RFC 9864's "Ed25519" is the same signature.
    algorithm = "Ed25519" if config.http.algorithm == "EdDSA" else config.http.algorithm
    token = jwt.encode({"alg": algorithm}, {"sub": "x"}, to_joserfc_key(config.signing_key), algorithms=[algorithm])
    return jwt.decode(token, to_joserfc_key(config.verify_key), algorithms=[algorithm]).claims == {"sub": "x"}


def app_settings(tmp_path: Path, **values: Any) -> dict[str, Any]:
    """create_app settings that touch nothing outside ``tmp_path``."""
    return {
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "COOKIE_SECRET": COOKIE_SECRET,
        **values,
    }


def jwt_of(app: Flask) -> JwtConfig:
    config: JwtConfig = app.extensions["medusa_auth"].jwt
    return config


@pytest.fixture
def instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's instance folder (Flask derives it from the package) at a temporary directory."""
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(folder))
    return folder


@pytest.fixture(scope="module")
def small_rsa_pem() -> str:
    # cryptography still generates 1024-bit keys; the service must refuse them.
    return private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


# ---------------------------------------------------------------- key types and algorithms


def test_an_rsa_pem_defaults_to_rs256(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem})
    assert config.http.algorithm == "RS256"
    assert config.can_sign
    assert isinstance(config.signing_key, rsa.RSAPrivateKey)
    assert signs_and_verifies(config)


def test_an_rsa_pem_can_use_ps256(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_ALGORITHM": "PS256"})
    assert config.http.algorithm == "PS256"
    assert signs_and_verifies(config)


def test_an_ec_p256_pem_defaults_to_es256(ec_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": ec_pem})
    assert config.http.algorithm == "ES256"
    assert isinstance(config.signing_key, ec.EllipticCurvePrivateKey)
    assert signs_and_verifies(config)


def test_an_ec_p256_pem_accepts_es256_explicitly(ec_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": ec_pem, "JWT_ALGORITHM": "ES256"}).http.algorithm == "ES256"


def test_an_ed25519_pem_defaults_to_eddsa(ed25519_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": ed25519_pem})
    assert config.http.algorithm == "EdDSA"
    assert isinstance(config.signing_key, ed25519.Ed25519PrivateKey)
    assert signs_and_verifies(config)


@pytest.mark.parametrize("algorithm", ["EdDSA", "Ed25519"])
def test_an_ed25519_pem_accepts_both_names_of_its_algorithm(ed25519_pem, algorithm):
    config = get_jwt_config({"JWT_SECRET_KEY": ed25519_pem, "JWT_ALGORITHM": algorithm})
    assert config.http.algorithm == algorithm
    assert signs_and_verifies(config)


def test_a_plain_secret_of_32_bytes_defaults_to_hs256():
    config = get_jwt_config({"JWT_SECRET_KEY": HS_SECRET})
    assert config.http.algorithm == "HS256"
    assert config.signing_key == config.verify_key == HS_SECRET.encode()
    assert config.can_sign


def test_a_plain_secret_accepts_hs256_explicitly():
    assert get_jwt_config({"JWT_SECRET_KEY": HS_SECRET, "JWT_ALGORITHM": "HS256"}).http.algorithm == "HS256"


def test_a_plain_secret_under_32_bytes_is_refused():
    message = refusal({"JWT_SECRET_KEY": HS_SECRET[:31]}, "JWT_SECRET_KEY")
    assert "32" in message


# ---------------------------------------------------------------- the public key


def test_the_public_key_is_derived_from_the_private_key_when_absent(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem})
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)


def test_a_matching_public_key_is_accepted(ec_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": ec_pem, "JWT_PUBLIC_KEY": public_pem_of(ec_pem)})
    assert public_key_pem(config.verify_key) == public_pem_of(ec_pem)
    assert config.can_sign


def test_a_public_key_alone_makes_a_verifier_only_config(rsa_pem):
    config = get_jwt_config({"JWT_PUBLIC_KEY": public_pem_of(rsa_pem)})
    assert config.can_sign is False
    assert config.signing_key is None
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)
    assert config.http.algorithm == "RS256"


def test_a_public_key_not_matching_the_private_key_is_refused(rsa_pem):
    other = private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    message = refusal({"JWT_SECRET_KEY": rsa_pem, "JWT_PUBLIC_KEY": public_pem_of(other)}, "JWT_PUBLIC_KEY")
    assert "match" in message


def test_a_public_key_of_another_type_than_the_private_key_is_refused(rsa_pem, ec_pem):
    refusal({"JWT_SECRET_KEY": rsa_pem, "JWT_PUBLIC_KEY": public_pem_of(ec_pem)}, "JWT_PUBLIC_KEY")


def test_a_private_key_in_jwt_public_key_is_refused(rsa_pem):
    refusal({"JWT_PUBLIC_KEY": rsa_pem}, "JWT_PUBLIC_KEY")


def test_a_public_key_in_jwt_secret_key_is_refused(rsa_pem):
    message = refusal({"JWT_SECRET_KEY": public_pem_of(rsa_pem)}, "JWT_SECRET_KEY")
    assert "public key" in message


def test_a_public_key_with_a_shared_secret_is_refused(rsa_pem):
    refusal({"JWT_SECRET_KEY": HS_SECRET, "JWT_PUBLIC_KEY": public_pem_of(rsa_pem)}, "JWT_PUBLIC_KEY")


# ---------------------------------------------------------------- PEM forms: one line, files, passphrase, the guide's


@pytest.mark.parametrize("quoted", [False, True], ids=["bare", "double-quoted"])
def test_a_private_pem_on_one_line_with_literal_backslash_n_loads(rsa_pem, quoted):
    text = one_line(rsa_pem)
    assert "\n" not in text
    config = get_jwt_config({"JWT_SECRET_KEY": f'"{text}"' if quoted else text})
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)


@pytest.mark.parametrize("quoted", [False, True], ids=["bare", "double-quoted"])
def test_a_public_pem_on_one_line_with_literal_backslash_n_loads(ec_pem, quoted):
    text = one_line(public_pem_of(ec_pem))
    config = get_jwt_config({"JWT_SECRET_KEY": one_line(ec_pem), "JWT_PUBLIC_KEY": f'"{text}"' if quoted else text})
    assert public_key_pem(config.verify_key) == public_pem_of(ec_pem)


def test_jwt_secret_key_file_is_read(tmp_path, rsa_pem):
    key_file = tmp_path / "jwt-private.pem"
    key_file.write_text(rsa_pem)
    config = get_jwt_config({"JWT_SECRET_KEY_FILE": str(key_file)})
    assert config.can_sign
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)


def test_jwt_public_key_file_is_read(tmp_path, ed25519_pem):
    public_file = tmp_path / "jwt-public.pem"
    public_file.write_text(public_pem_of(ed25519_pem))
    config = get_jwt_config({"JWT_PUBLIC_KEY_FILE": str(public_file)})
    assert config.can_sign is False
    assert public_key_pem(config.verify_key) == public_pem_of(ed25519_pem)
    assert config.http.algorithm == "EdDSA"


def test_both_key_files_together_are_checked_against_each_other(tmp_path, rsa_pem, ec_pem):
    (tmp_path / "private.pem").write_text(rsa_pem)
    (tmp_path / "public.pem").write_text(public_pem_of(ec_pem))
    environ = {
        "JWT_SECRET_KEY_FILE": str(tmp_path / "private.pem"),
        "JWT_PUBLIC_KEY_FILE": str(tmp_path / "public.pem"),
    }
    refusal(environ, "JWT_PUBLIC_KEY")


@pytest.mark.parametrize("variable", ["JWT_SECRET_KEY", "JWT_PUBLIC_KEY"])
def test_a_value_and_its_file_both_set_are_refused(tmp_path, rsa_pem, variable):
    value = rsa_pem if variable == "JWT_SECRET_KEY" else public_pem_of(rsa_pem)
    path = tmp_path / "key.pem"
    path.write_text(value)
    message = refusal({variable: value, f"{variable}_FILE": str(path)}, f"{variable}_FILE")
    assert f"{variable} and {variable}_FILE" in message


def test_a_missing_key_file_is_refused(tmp_path):
    refusal({"JWT_SECRET_KEY_FILE": str(tmp_path / "absent.pem")}, "JWT_SECRET_KEY_FILE")


def test_a_directory_as_key_file_is_refused(tmp_path):
    refusal({"JWT_PUBLIC_KEY_FILE": str(tmp_path)}, "JWT_PUBLIC_KEY_FILE")


def test_an_unreadable_key_file_is_refused(tmp_path, rsa_pem):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "locked.pem"
    path.write_text(rsa_pem)
    path.chmod(0)
    refusal({"JWT_SECRET_KEY_FILE": str(path)}, "JWT_SECRET_KEY_FILE")


def test_a_binary_der_key_file_is_refused_with_one_line(tmp_path, rsa_pem):
    """A DER file (openssl -outform DER) is a likely mistake; it must stop startup as a ConfigError too."""
    key = serialization.load_pem_private_key(rsa_pem.encode(), password=None)
    path = tmp_path / "jwt-private.der"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    refusal({"JWT_SECRET_KEY_FILE": str(path)}, "JWT_SECRET_KEY_FILE")


@pytest.fixture(scope="module")
def encrypted() -> tuple[str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_key_pem(key, "open sesame"), key


def test_an_encrypted_private_key_loads_with_its_passphrase(encrypted):
    pem, key = encrypted
    assert "ENCRYPTED" in pem
    config = get_jwt_config({"JWT_SECRET_KEY": pem, "JWT_SECRET_KEY_PASSPHRASE": "open sesame"})
    assert config.can_sign
    assert public_key_pem(config.verify_key) == public_key_pem(key.public_key())


def test_an_encrypted_private_key_on_one_line_loads_with_its_passphrase(encrypted):
    pem, key = encrypted
    config = get_jwt_config({"JWT_SECRET_KEY": f'"{one_line(pem)}"', "JWT_SECRET_KEY_PASSPHRASE": "open sesame"})
    assert public_key_pem(config.verify_key) == public_key_pem(key.public_key())


def test_an_encrypted_private_key_without_passphrase_is_refused(encrypted):
    message = refusal({"JWT_SECRET_KEY": encrypted[0]}, "JWT_SECRET_KEY")
    assert "JWT_SECRET_KEY_PASSPHRASE" in message


def test_an_encrypted_private_key_with_a_wrong_passphrase_is_refused(encrypted):
    message = refusal({"JWT_SECRET_KEY": encrypted[0], "JWT_SECRET_KEY_PASSPHRASE": "wrong"}, "JWT_SECRET_KEY")
    assert "JWT_SECRET_KEY_PASSPHRASE" in message


def guide_mislabelled(pem: str) -> str:
    """The guide's sample: a PKCS#8 body under PKCS#1 ``RSA PRIVATE KEY`` labels."""
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    return pem.replace("-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----").replace(
        "-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
    )


def test_the_guides_mislabelled_pem_loads(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": guide_mislabelled(rsa_pem)})
    assert config.http.algorithm == "RS256"
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)


def test_the_guides_mislabelled_pem_loads_on_one_line(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": f'"{one_line(guide_mislabelled(rsa_pem))}"'})
    assert public_key_pem(config.verify_key) == public_pem_of(rsa_pem)


# ---------------------------------------------------------------- refusals of keys and algorithms


@pytest.mark.parametrize(
    "pem_fixture,algorithm",
    [("rsa_pem", "ES256"), ("ec_pem", "RS256"), ("rsa_pem", "EdDSA"), ("ed25519_pem", "PS256"), ("ec_pem", "EdDSA")],
)
def test_an_algorithm_that_does_not_fit_the_key_type_is_refused(request, pem_fixture, algorithm):
    pem = request.getfixturevalue(pem_fixture)
    message = refusal({"JWT_SECRET_KEY": pem, "JWT_ALGORITHM": algorithm}, "JWT_ALGORITHM")
    assert algorithm in message


def test_an_algorithm_that_does_not_fit_a_lone_public_key_is_refused(ec_pem):
    refusal({"JWT_PUBLIC_KEY": public_pem_of(ec_pem), "JWT_ALGORITHM": "RS256"}, "JWT_ALGORITHM")


def test_an_rsa_private_key_under_2048_bits_is_refused(small_rsa_pem):
    message = refusal({"JWT_SECRET_KEY": small_rsa_pem}, "JWT_SECRET_KEY")
    assert "1024" in message and "2048" in message


def test_an_rsa_public_key_under_2048_bits_is_refused(small_rsa_pem):
    message = refusal({"JWT_PUBLIC_KEY": public_pem_of(small_rsa_pem)}, "JWT_PUBLIC_KEY")
    assert "2048" in message


def test_an_ec_key_on_another_curve_than_p256_is_refused_naming_the_key():
    """Only P-256 is supported; the fault is the key in JWT_SECRET_KEY (no JWT_ALGORITHM was set)."""
    pem = private_key_pem(ec.generate_private_key(ec.SECP384R1()))
    refusal({"JWT_SECRET_KEY": pem}, "JWT_SECRET_KEY")


def test_an_hs_algorithm_with_a_pem_key_is_refused(rsa_pem):
    message = refusal({"JWT_SECRET_KEY": rsa_pem, "JWT_ALGORITHM": "HS256"}, "JWT_ALGORITHM")
    assert "JWT_SECRET_KEY" in message


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_a_non_hs_algorithm_with_a_plain_secret_is_refused(algorithm):
    message = refusal({"JWT_SECRET_KEY": HS_SECRET, "JWT_ALGORITHM": algorithm}, "JWT_ALGORITHM")
    assert "JWT_SECRET_KEY" in message


@pytest.mark.parametrize("algorithm", ["none", "RS512", "HS512", "rs256"])
def test_an_unsupported_algorithm_name_is_refused(rsa_pem, algorithm):
    message = refusal({"JWT_SECRET_KEY": rsa_pem, "JWT_ALGORITHM": algorithm}, "JWT_ALGORITHM")
    assert algorithm in message


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAAAAAA\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----",
    ],
    ids=["not-base64", "not-der", "truncated", "certificate"],
)
def test_a_garbage_private_pem_is_refused(pem):
    refusal({"JWT_SECRET_KEY": pem}, "JWT_SECRET_KEY")


def test_a_garbage_public_pem_is_refused():
    refusal({"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "JWT_PUBLIC_KEY")


def test_no_key_at_all_is_refused():
    message = refusal({}, "JWT_SECRET_KEY")
    assert "keys generate" in message


# ---------------------------------------------------------------- lifetime, issuer, audience


@pytest.mark.parametrize(
    "value,seconds",
    [("1d", 86400), ("12h", 43200), ("30m", 1800), ("900s", 900), ("3600", 3600), ("2w", 1209600)],
)
def test_jwt_expires_in_forms(rsa_pem, value, seconds):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_EXPIRES_IN": value}).http.expires_in == seconds


def test_jwt_expires_in_defaults_to_one_day(rsa_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).http.expires_in == 86400


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1y", "0h", "1.5h", "1 d 2h"])
def test_a_bad_jwt_expires_in_is_refused(rsa_pem, value):
    message = refusal({"JWT_SECRET_KEY": rsa_pem, "JWT_EXPIRES_IN": value}, "JWT_EXPIRES_IN")
    assert repr(value) in message


def test_invite_lifetime_is_invite_valid_duration(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_EXPIRES_IN": "1h", "INVITE_VALID_DURATION": "600"})
    assert (config.http.expires_in, config.user_module.expires_in) == (3600, 600)
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).user_module.expires_in == 86400


def test_a_bad_invite_valid_duration_is_refused(rsa_pem):
    refusal({"JWT_SECRET_KEY": rsa_pem, "INVITE_VALID_DURATION": "soon"}, "INVITE_VALID_DURATION")


def test_jwt_issuer_is_read_and_unset_by_default(rsa_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_ISSUER": "https://auth.example"}).http.issuer == (
        "https://auth.example"
    )
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).http.issuer is None


def test_jwt_audience_is_comma_separated_with_blanks_dropped(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_AUDIENCE": " medusa-api, ,admin ,,"})
    assert config.http.audience == ("medusa-api", "admin")
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).http.audience == ()


def test_invite_tokens_share_issuer_audience_key_and_algorithm(ec_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": ec_pem, "JWT_ISSUER": "iss", "JWT_AUDIENCE": "a,b"})
    for name in ("algorithm", "keyid", "issuer", "audience"):
        assert getattr(config.user_module, name) == getattr(config.http, name)


def test_an_empty_variable_counts_as_unset(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_ALGORITHM": "", "JWT_ISSUER": "", "JWT_KEYID": ""})
    assert (config.http.algorithm, config.http.issuer) == ("RS256", None)
    assert config.http.keyid


# ---------------------------------------------------------------- kid


def test_jwt_keyid_overrides_the_thumbprint(rsa_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWT_KEYID": "key-2026-01"}).http.keyid == "key-2026-01"


@pytest.mark.parametrize("pem_fixture", ["rsa_pem", "ec_pem", "ed25519_pem"])
def test_the_default_kid_is_the_rfc7638_thumbprint(request, pem_fixture):
    pem = request.getfixturevalue(pem_fixture)
    public = serialization.load_pem_private_key(pem.encode(), password=None).public_key()
    kid = get_jwt_config({"JWT_SECRET_KEY": pem}).http.keyid
    assert kid == rfc7638_thumbprint(public)
    assert kid == jwk.thumbprint(required_members(public))


def test_the_default_kid_matches_the_rfc7638_example():
    numbers = rsa.RSAPublicNumbers(65537, int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=="), "big"))
    config = get_jwt_config({"JWT_PUBLIC_KEY": public_key_pem(numbers.public_key())})
    assert config.http.keyid == RFC7638_THUMBPRINT


def test_the_kid_is_the_same_for_the_private_key_and_its_public_key(ed25519_pem):
    from_private = get_jwt_config({"JWT_SECRET_KEY": ed25519_pem}).http.keyid
    from_public = get_jwt_config({"JWT_PUBLIC_KEY": public_pem_of(ed25519_pem)}).http.keyid
    assert from_private == from_public


# ---------------------------------------------------------------- JWKS_CONTENT, JWKS_URL, MEDUSA_BACKEND_URL

EC_PUBLIC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "from-env",
    "use": "sig",
    "alg": "ES256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}


def test_a_valid_jwks_content_is_kept_verbatim(rsa_pem):
    content = json.dumps({"keys": [EC_PUBLIC_JWK]}, indent=2)
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "JWKS_CONTENT": content}).jwks_content == content.encode()


def test_jwks_content_is_unset_by_default(rsa_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).jwks_content is None


@pytest.mark.parametrize("content", ['{"keys": [', "keys", "{'keys': []}"])
def test_jwks_content_that_is_not_json_is_refused(rsa_pem, content):
    refusal({"JWT_SECRET_KEY": rsa_pem, "JWKS_CONTENT": content}, "JWKS_CONTENT")


@pytest.mark.parametrize(
    "document",
    [[], {"foo": []}, {"keys": {}}, {"keys": "x"}, {"keys": [1]}, {"keys": [{"crv": "P-256", "x": "a"}]}, None, 3],
)
def test_jwks_content_not_shaped_as_a_key_set_is_refused(rsa_pem, document):
    refusal({"JWT_SECRET_KEY": rsa_pem, "JWKS_CONTENT": json.dumps(document)}, "JWKS_CONTENT")


@pytest.mark.parametrize(
    "private",
    [
        {"d": "private-scalar"},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "x", "q": "y"},
        {"dp": "x", "dq": "y", "qi": "z"},
    ],
    ids=["d", "k", "p-q", "crt"],
)
def test_jwks_content_holding_private_members_is_refused(rsa_pem, private):
    document = {"keys": [EC_PUBLIC_JWK, {**EC_PUBLIC_JWK, "kid": "second", **private}]}
    message = refusal({"JWT_SECRET_KEY": rsa_pem, "JWKS_CONTENT": json.dumps(document)}, "JWKS_CONTENT")
    assert all(member in message for member in private if member not in EC_PUBLIC_JWK)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com/.well-known/jwks.json",
        "http://127.0.0.1:9000/.well-known/jwks.json",
        "http://localhost/j",
    ],
)
def test_jwks_url_https_or_loopback_http_makes_a_verifier_only_config(url):
    config = get_jwt_config({"JWKS_URL": url})
    assert config.jwks_url == url
    assert config.can_sign is False
    assert config.verify_key is None


@pytest.mark.parametrize(
    "url", ["http://auth.example.com/.well-known/jwks.json", "http://10.0.0.5/jwks.json", "http://localhost.evil.com/"]
)
def test_jwks_url_over_http_to_a_non_loopback_host_is_refused(url):
    message = refusal({"JWKS_URL": url}, "JWKS_URL")
    assert "https" in message


@pytest.mark.parametrize("url", ["ftp://example.com/jwks.json", "file:///etc/passwd", "example.com/jwks.json"])
def test_jwks_url_that_is_not_http_is_refused(url):
    refusal({"JWKS_URL": url}, "JWKS_URL")


def test_medusa_backend_url_defaults_to_localhost_9000(rsa_pem):
    assert get_jwt_config({"JWT_SECRET_KEY": rsa_pem}).backend_url == "http://localhost:9000"


def test_medusa_backend_url_is_read_without_a_trailing_slash(rsa_pem):
    config = get_jwt_config({"JWT_SECRET_KEY": rsa_pem, "MEDUSA_BACKEND_URL": "https://auth.example.com/"})
    assert config.backend_url == "https://auth.example.com"


@pytest.mark.parametrize("url", ["ftp://example.com", "localhost:9000", "javascript:alert(1)", "https://"])
def test_medusa_backend_url_that_is_not_http_is_refused(rsa_pem, url):
    refusal({"JWT_SECRET_KEY": rsa_pem, "MEDUSA_BACKEND_URL": url}, "MEDUSA_BACKEND_URL")


# ---------------------------------------------------------------- create_app: production, APP_ENV, layering


def test_a_missing_key_in_production_stops_create_app(tmp_path):
    with pytest.raises(ConfigError) as caught:
        create_app(app_settings(tmp_path, APP_ENV="production"))
    assert_one_line_naming(caught.value, "JWT_SECRET_KEY")


def test_app_env_defaults_to_production(tmp_path):
    settings = app_settings(tmp_path)
    del settings["APP_ENV"]
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert_one_line_naming(caught.value, "JWT_SECRET_KEY")


def test_a_missing_cookie_secret_in_production_stops_create_app(tmp_path, rsa_pem):
    settings = app_settings(tmp_path, APP_ENV="production", JWT_SECRET_KEY=rsa_pem)
    del settings["COOKIE_SECRET"]
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert_one_line_naming(caught.value, "COOKIE_SECRET")


def test_a_cookie_secret_file_satisfies_production(tmp_path, rsa_pem):
    (tmp_path / "cookie").write_text(COOKIE_SECRET + "\n")
    settings = app_settings(
        tmp_path, APP_ENV="production", JWT_SECRET_KEY=rsa_pem, COOKIE_SECRET_FILE=str(tmp_path / "cookie")
    )
    del settings["COOKIE_SECRET"]
    assert create_app(settings).config["SECRET_KEY"] == COOKIE_SECRET


def test_production_starts_with_a_key_and_a_cookie_secret(tmp_path, rsa_pem):
    app = create_app(app_settings(tmp_path, APP_ENV="production", JWT_SECRET_KEY=rsa_pem))
    assert jwt_of(app).can_sign
    assert app.config["SECRET_KEY"] == COOKIE_SECRET


@pytest.mark.parametrize("value", ["staging", "prod", "Production"])
def test_an_invalid_app_env_is_refused(tmp_path, rsa_pem, value):
    with pytest.raises(ConfigError) as caught:
        create_app(app_settings(tmp_path, APP_ENV=value, JWT_SECRET_KEY=rsa_pem))
    assert_one_line_naming(caught.value, "APP_ENV")


def test_create_app_refuses_a_bad_key_setting_with_the_same_error(tmp_path, rsa_pem):
    with pytest.raises(ConfigError) as caught:
        create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem, JWT_ALGORITHM="ES256"))
    assert_one_line_naming(caught.value, "JWT_ALGORITHM")


def test_an_environment_variable_reaches_the_app(tmp_path, rsa_pem, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://from-env.example")
    monkeypatch.setenv("JWT_EXPIRES_IN", "30m")
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem))
    assert app.extensions["medusa_auth"].settings.jwt_environment["JWT_ISSUER"] == "https://from-env.example"
    assert jwt_of(app).http.issuer == "https://from-env.example"
    assert jwt_of(app).http.expires_in == 1800


def test_test_config_wins_over_the_environment(tmp_path, rsa_pem, monkeypatch):
    monkeypatch.setenv("JWT_ISSUER", "https://from-env.example")
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem, JWT_ISSUER="https://from-test.example"))
    assert jwt_of(app).http.issuer == "https://from-test.example"


def test_a_key_from_the_environment_reaches_the_app(tmp_path, ec_pem, monkeypatch):
    monkeypatch.setenv("JWT_SECRET_KEY", one_line(ec_pem))
    app = create_app(app_settings(tmp_path))
    assert jwt_of(app).http.algorithm == "ES256"


def test_defaults_apply_when_nothing_overrides_them(tmp_path, rsa_pem):
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem))
    config = jwt_of(app)
    assert (config.http.expires_in, config.user_module.expires_in) == (86400, 86400)
    assert config.backend_url == "http://localhost:9000"
    assert config.http.issuer is None and config.http.audience == ()


def test_instance_config_overrides_defaults(instance_dir, tmp_path, rsa_pem):
    (instance_dir / "config.py").write_text('JWT_EXPIRES_IN = "2h"\nJWT_ISSUER = "https://from-instance.example"\n')
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem))
    assert jwt_of(app).http.expires_in == 7200
    assert jwt_of(app).http.issuer == "https://from-instance.example"


def test_the_environment_overrides_instance_config(instance_dir, tmp_path, rsa_pem, monkeypatch):
    (instance_dir / "config.py").write_text('JWT_EXPIRES_IN = "2h"\nJWT_ISSUER = "https://from-instance.example"\n')
    monkeypatch.setenv("JWT_ISSUER", "https://from-env.example")
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem))
    assert jwt_of(app).http.issuer == "https://from-env.example"
    assert jwt_of(app).http.expires_in == 7200  # not in the environment: instance config still applies


def test_test_config_overrides_instance_config_and_environment(instance_dir, tmp_path, rsa_pem, monkeypatch):
    (instance_dir / "config.py").write_text('JWT_ISSUER = "https://from-instance.example"\n')
    monkeypatch.setenv("JWT_ISSUER", "https://from-env.example")
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem, JWT_ISSUER="https://from-test.example"))
    assert jwt_of(app).http.issuer == "https://from-test.example"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgresql://user:pw@db.example:5432/auth", "postgresql+psycopg://user:pw@db.example:5432/auth"),
        ("postgres://user@db/auth", "postgresql+psycopg://user@db/auth"),
        ("postgresql+psycopg://user@db/auth", "postgresql+psycopg://user@db/auth"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_database_url_gets_the_psycopg_driver(url, expected):
    assert database_url(url) == expected


def test_database_url_reaches_sqlalchemy(tmp_path, rsa_pem):
    app = create_app(app_settings(tmp_path, JWT_SECRET_KEY=rsa_pem))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'db.sqlite3'}"


# ---------------------------------------------------------------- development keys


def mode_of(path: str | Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_development_key_file_is_created_with_mode_0600(tmp_path):
    path = development_key_file(str(tmp_path))
    assert Path(path) == tmp_path / DEV_KEY_FILE
    assert mode_of(path) == 0o600
    key = load_private_pem(Path(path).read_text())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048


def test_development_key_file_is_reused_on_a_second_call(tmp_path):
    first = development_key_file(str(tmp_path))
    content = Path(first).read_text()
    assert development_key_file(str(tmp_path)) == first
    assert Path(first).read_text() == content


def test_development_key_file_creates_the_instance_folder(tmp_path):
    path = development_key_file(str(tmp_path / "not" / "yet"))
    assert mode_of(path) == 0o600


def test_development_cookie_secret_is_created_with_mode_0600_and_reused(tmp_path):
    secret = development_cookie_secret(str(tmp_path))
    assert len(secret) >= 32
    assert mode_of(tmp_path / DEV_COOKIE_SECRET_FILE) == 0o600
    assert development_cookie_secret(str(tmp_path)) == secret


def test_development_cookie_secrets_differ_between_instances(tmp_path):
    assert development_cookie_secret(str(tmp_path / "a")) != development_cookie_secret(str(tmp_path / "b"))


def only_the_final_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_racing_threads_end_with_one_development_key(tmp_path):
    barrier = threading.Barrier(8)

    def call() -> tuple[str, str, str]:
        barrier.wait()
        path = development_key_file(str(tmp_path))
        secret = development_cookie_secret(str(tmp_path))
        return path, Path(path).read_text(), secret

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: call(), range(8)))
    assert len(set(results)) == 1
    path, pem, secret = results[0]
    assert only_the_final_files(tmp_path) == sorted([DEV_KEY_FILE, DEV_COOKIE_SECRET_FILE])  # no staging left over
    assert mode_of(path) == 0o600 and mode_of(tmp_path / DEV_COOKIE_SECRET_FILE) == 0o600
    assert isinstance(load_private_pem(pem), rsa.RSAPrivateKey)
    assert secret == (tmp_path / DEV_COOKIE_SECRET_FILE).read_text().strip()


RACER = """
import json, sys, time
from pathlib import Path
from medusa_auth.keys.development import development_cookie_secret, development_key_file
folder, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
path = development_key_file(folder)
print(json.dumps([path, Path(path).read_text(), development_cookie_secret(folder)]))
"""


def test_racing_processes_end_with_one_development_key(tmp_path):
    start = time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        outputs.append(stdout.strip())
    assert len(set(outputs)) == 1, outputs
    path, pem, secret = json.loads(outputs[0])
    assert only_the_final_files(tmp_path) == sorted([DEV_KEY_FILE, DEV_COOKIE_SECRET_FILE])
    assert Path(path).read_text() == pem
    assert mode_of(path) == 0o600 and mode_of(tmp_path / DEV_COOKIE_SECRET_FILE) == 0o600
    assert isinstance(load_private_pem(Path(path).read_text()), rsa.RSAPrivateKey)
    assert secret == (tmp_path / DEV_COOKIE_SECRET_FILE).read_text().strip()


def test_development_mode_without_a_key_generates_instance_files(instance_dir, tmp_path):
    settings = app_settings(tmp_path, APP_ENV="development")
    del settings["COOKIE_SECRET"]
    app = create_app(settings)
    assert app.instance_path == str(instance_dir)
    assert mode_of(instance_dir / DEV_KEY_FILE) == 0o600
    assert mode_of(instance_dir / DEV_COOKIE_SECRET_FILE) == 0o600
    assert jwt_of(app).can_sign and jwt_of(app).http.algorithm == "RS256"
    assert app.config["SECRET_KEY"] == (instance_dir / DEV_COOKIE_SECRET_FILE).read_text().strip()
    # A restart keeps the same key, so tokens issued before it still verify.
    assert jwt_of(create_app(settings)).http.keyid == jwt_of(app).http.keyid


def test_development_mode_uses_a_configured_key_instead_of_generating_one(instance_dir, tmp_path, ec_pem):
    app = create_app(app_settings(tmp_path, APP_ENV="development", JWT_SECRET_KEY=ec_pem))
    assert jwt_of(app).http.algorithm == "ES256"
    assert not (instance_dir / DEV_KEY_FILE).exists()


def test_production_never_generates_a_key(instance_dir, tmp_path):
    with pytest.raises(ConfigError):
        create_app(app_settings(tmp_path, APP_ENV="production"))
    assert not (instance_dir / DEV_KEY_FILE).exists()
    assert not (instance_dir / DEV_COOKIE_SECRET_FILE).exists()
