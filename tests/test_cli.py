"""The command line (SPEC §6): `keys generate`, `jwks export`, `users create`, `db upgrade`."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dotenv import dotenv_values
from joserfc import jwt
from joserfc.jwk import KeySet

from medusa_auth.keys.config import get_jwt_config
from medusa_auth.keys.material import PRIVATE_JWK_MEMBERS, load_private_pem, private_key_pem, to_joserfc_key
from medusa_auth.settings import ENVIRONMENT_VARIABLES
from tests.helpers import HS_SECRET, PASSWORD, one_line, public_pem_of, required_members, rfc7638_thumbprint

REPO = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
ENV_LINES = ["JWT_SECRET_KEY_FILE", "JWT_PUBLIC_KEY", "JWT_ALGORITHM", "JWT_KEYID"]


# ---------------------------------------------------------------- helpers


def flask_cli(tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi ...`` in a real process: APP_ENV=production, no JWT_* or COOKIE_SECRET, a tmp SQLite file."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ENVIRONMENT_VARIABLES and not name.startswith(("JWT_", "MAIL_", "FLASK_", "COOKIE_"))
    }
    env.update(APP_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", **extra_env)
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def env_lines(stdout: str) -> dict[str, str]:
    """The printed ``NAME=value`` lines, values as printed (quotes included), as docker --env-file reads them."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return dict(line.split("=", 1) for line in lines)


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def assert_clean_failure(result: Any) -> None:
    """A CLI runner result that failed with click's one-line ``Error: ...``, not an uncaught exception."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Error" in result.output
    assert "Traceback" not in result.output


def export(runner: Any, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(args=["jwks", "export", *args])
    assert result.exit_code == 0, result.output
    keys: list[dict[str, Any]] = json.loads(result.stdout)["keys"]
    return keys


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def public_key_of(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None).public_key()


# ---------------------------------------------------------------- keys generate (a real process)


def test_keys_generate_works_before_the_server_configuration_exists(tmp_path):
    out = tmp_path / "secrets" / "jwt-private.pem"
    result = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "configuration error" in result.stderr  # it warns about what the server would refuse, and goes on
    assert mode_of(out) == 0o600
    assert isinstance(load_private_pem(out.read_text()), rsa.RSAPrivateKey)
    lines = env_lines(result.stdout)
    assert list(lines) == ENV_LINES
    assert lines["JWT_SECRET_KEY_FILE"] == str(out.resolve())
    assert lines["JWT_ALGORITHM"] == "RS256"


def test_keys_generate_prints_the_public_key_on_one_quoted_line(tmp_path):
    out = tmp_path / "jwt.pem"
    result = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert result.returncode == 0, result.stderr
    public = env_lines(result.stdout)["JWT_PUBLIC_KEY"]
    assert public.startswith('"-----BEGIN PUBLIC KEY-----\\n') and public.endswith('\\n-----END PUBLIC KEY-----"')
    assert public.strip('"').replace("\\n", "\n") + "\n" == public_pem_of(out.read_text())


def test_keys_generate_lines_give_a_working_config(tmp_path):
    out = tmp_path / "jwt.pem"
    result = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = env_lines(result.stdout)
    config = get_jwt_config(lines)  # the public key is checked against the private key file here
    assert config.can_sign
    assert config.http.algorithm == "RS256"
    assert config.http.keyid == lines["JWT_KEYID"] == rfc7638_thumbprint(public_key_of(out.read_text()))
    token = jwt.encode({"alg": "RS256", "kid": config.http.keyid}, {"sub": "x"}, to_joserfc_key(config.signing_key))
    assert jwt.decode(token, to_joserfc_key(config.verify_key), algorithms=["RS256"]).claims == {"sub": "x"}


def test_keys_generate_lines_read_as_a_dotenv_file_give_the_same_config(tmp_path):
    out = tmp_path / "jwt.pem"
    result = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert result.returncode == 0, result.stderr
    from_dotenv = {k: v for k, v in dotenv_values(stream=io.StringIO(result.stdout)).items() if v is not None}
    config = get_jwt_config(from_dotenv)
    assert config.http.keyid == env_lines(result.stdout)["JWT_KEYID"]
    assert config.can_sign


def test_keys_generate_never_overwrites_a_file(tmp_path):
    out = tmp_path / "jwt.pem"
    out.write_text("an existing key\n")
    result = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert result.returncode != 0
    assert "exists" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert out.read_text() == "an existing key\n"


def test_keys_generate_twice_to_the_same_file_keeps_the_first_key(tmp_path):
    out = tmp_path / "jwt.pem"
    first = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert first.returncode == 0, first.stderr
    key = out.read_text()
    second = flask_cli(tmp_path, "keys", "generate", "--out", str(out))
    assert second.returncode != 0
    assert out.read_text() == key
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging file left behind


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["run", "--port", "0"],  # the development server refuses like gunicorn does
        ["routes"],
        ["users", "create", "--email", "a@example.com", "--password", "correct horse battery"],
        ["invites", "list"],
        ["keys", "list"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_only_the_repair_commands_start_on_a_bad_configuration(tmp_path, command):
    """No key: `keys generate` (above) still works, every other command stops with the one line."""
    result = flask_cli(tmp_path, *command, COOKIE_SECRET="c" * 40)
    assert result.returncode != 0
    naming = [line for line in result.stderr.splitlines() if "JWT_SECRET_KEY is not set" in line]
    assert naming, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------- keys generate (the test runner)


@pytest.mark.parametrize(
    "key_type,key_class,algorithm",
    [
        ("RSA", rsa.RSAPrivateKey, "RS256"),
        ("EC", ec.EllipticCurvePrivateKey, "ES256"),
        ("Ed25519", ed25519.Ed25519PrivateKey, "EdDSA"),
    ],
)
def test_keys_generate_type(runner, tmp_path, key_type, key_class, algorithm):
    out = tmp_path / f"{key_type}.pem"
    result = runner.invoke(args=["keys", "generate", "--type", key_type, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert mode_of(out) == 0o600
    key = load_private_pem(out.read_text())
    assert isinstance(key, key_class)
    lines = env_lines(result.stdout)
    assert lines["JWT_ALGORITHM"] == algorithm
    config = get_jwt_config(lines)
    assert config.http.algorithm == algorithm
    assert config.http.keyid == lines["JWT_KEYID"] == rfc7638_thumbprint(key.public_key())


def test_keys_generate_ec_key_is_on_p256(runner, tmp_path):
    out = tmp_path / "ec.pem"
    assert runner.invoke(args=["keys", "generate", "--type", "EC", "--out", str(out)]).exit_code == 0
    assert isinstance(load_private_pem(out.read_text()).curve, ec.SECP256R1)


def test_keys_generate_rejects_an_unknown_type(runner, tmp_path):
    result = runner.invoke(args=["keys", "generate", "--type", "DSA", "--out", str(tmp_path / "k.pem")])
    assert result.exit_code == 2
    assert not (tmp_path / "k.pem").exists()


def test_keys_generate_with_a_passphrase_writes_an_encrypted_key(runner, tmp_path):
    out = tmp_path / "enc.pem"
    result = runner.invoke(args=["keys", "generate", "--out", str(out), "--passphrase", "open sesame"])
    assert result.exit_code == 0, result.output
    assert "ENCRYPTED" in out.read_text()
    lines = env_lines(result.stdout)
    config = get_jwt_config({**lines, "JWT_SECRET_KEY_PASSPHRASE": "open sesame"})
    assert config.http.keyid == lines["JWT_KEYID"]


def test_keys_generate_keys_are_fresh_each_time(runner, tmp_path):
    kids = set()
    for name in ("a.pem", "b.pem"):
        result = runner.invoke(args=["keys", "generate", "--type", "Ed25519", "--out", str(tmp_path / name)])
        kids.add(env_lines(result.stdout)["JWT_KEYID"])
    assert len(kids) == 2


# ---------------------------------------------------------------- jwks export


@pytest.mark.parametrize(
    "pem_fixture,kty,algorithm",
    [("rsa_pem", "RSA", "RS256"), ("ec_pem", "EC", "ES256"), ("ed25519_pem", "OKP", "EdDSA")],
)
@pytest.mark.parametrize("which", ["private", "public"])
def test_jwks_export_gives_public_members_only(request, runner, tmp_path, pem_fixture, kty, algorithm, which):
    private = request.getfixturevalue(pem_fixture)
    path = write(tmp_path, "key.pem", private if which == "private" else public_pem_of(private))
    [key] = export(runner, path)
    public = public_key_of(private)
    assert "d" not in key
    assert not PRIVATE_JWK_MEMBERS & set(key)
    assert (key["kty"], key["use"], key["alg"]) == (kty, "sig", algorithm)
    assert key["kid"] == rfc7638_thumbprint(public)
    assert {k: v for k, v in key.items() if k not in ("kid", "use", "alg")} == required_members(public)


def test_jwks_export_verifies_what_the_private_key_signs(runner, tmp_path, ec_pem):
    jwks = {"keys": export(runner, write(tmp_path, "key.pem", ec_pem))}
    kid = jwks["keys"][0]["kid"]
    token = jwt.encode({"alg": "ES256", "kid": kid}, {"sub": "x"}, to_joserfc_key(load_private_pem(ec_pem)))
    assert jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"]).claims == {"sub": "x"}


def test_jwks_export_kid_option(runner, tmp_path, rsa_pem):
    [key] = export(runner, write(tmp_path, "key.pem", rsa_pem), "--kid", "key-2026-01")
    assert key["kid"] == "key-2026-01"


def test_jwks_export_kid_with_two_files_is_refused(runner, tmp_path, rsa_pem, ec_pem):
    args = ["jwks", "export", write(tmp_path, "a.pem", rsa_pem), write(tmp_path, "b.pem", ec_pem), "--kid", "k"]
    assert_clean_failure(runner.invoke(args=args))


def test_jwks_export_two_files(runner, tmp_path, rsa_pem, ec_pem):
    keys = export(runner, write(tmp_path, "a.pem", rsa_pem), write(tmp_path, "b.pem", public_pem_of(ec_pem)))
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256"), ("EC", "ES256")]
    assert [k["kid"] for k in keys] == [rfc7638_thumbprint(public_key_of(p)) for p in (rsa_pem, ec_pem)]


def test_jwks_export_alg_option(runner, tmp_path, rsa_pem):
    [key] = export(runner, write(tmp_path, "key.pem", rsa_pem), "--alg", "PS256")
    assert key["alg"] == "PS256"


@pytest.mark.parametrize("algorithm", ["ES256", "HS256", "none"])
def test_jwks_export_alg_that_does_not_fit_the_key_is_refused(runner, tmp_path, rsa_pem, algorithm):
    assert_clean_failure(runner.invoke(args=["jwks", "export", write(tmp_path, "k.pem", rsa_pem), "--alg", algorithm]))


def test_jwks_export_a_one_line_pem(runner, tmp_path, rsa_pem):
    [key] = export(runner, write(tmp_path, "key.pem", f'"{one_line(rsa_pem)}"'))
    assert key["kid"] == rfc7638_thumbprint(public_key_of(rsa_pem))


def test_jwks_export_an_encrypted_private_key(runner, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = write(tmp_path, "enc.pem", private_key_pem(key, "open sesame"))
    [jwk] = export(runner, path, "--passphrase", "open sesame")
    assert jwk["kid"] == rfc7638_thumbprint(key.public_key())
    assert "d" not in jwk
    assert_clean_failure(runner.invoke(args=["jwks", "export", path]))


def test_jwks_export_without_a_file_prints_the_configured_jwks(runner, client):
    result = runner.invoke(args=["jwks", "export"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == client.get("/.well-known/jwks.json").get_data(as_text=True)
    [key] = json.loads(result.stdout)["keys"]
    assert key["kid"] == client.application.extensions["medusa_auth"].jwt.http.keyid
    assert "d" not in key


@pytest.mark.settings(JWKS_CONTENT='{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "by-hand"}]}')
def test_jwks_export_without_a_file_prints_jwks_content(runner):
    result = runner.invoke(args=["jwks", "export"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keys"][0]["kid"] == "by-hand"


@pytest.mark.settings(JWT_SECRET_KEY=HS_SECRET)
def test_jwks_export_without_a_file_or_public_key_fails_cleanly(runner):
    assert_clean_failure(runner.invoke(args=["jwks", "export"]))


@pytest.mark.parametrize(
    "text",
    [
        "not a key at all\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
        "",
    ],
    ids=["text", "bad-public", "bad-private", "empty"],
)
def test_jwks_export_a_bad_pem_fails_cleanly(runner, tmp_path, text):
    result = runner.invoke(args=["jwks", "export", write(tmp_path, "bad.pem", text)])
    assert_clean_failure(result)
    assert "bad.pem" in result.output


def test_jwks_export_a_binary_file_fails_cleanly(runner, tmp_path, rsa_pem):
    """A DER key (openssl -outform DER) is a likely mistake: one error line, no traceback."""
    der = public_key_of(rsa_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.der").write_bytes(der)
    assert_clean_failure(runner.invoke(args=["jwks", "export", str(tmp_path / "key.der")]))


def test_jwks_export_a_missing_file_fails_cleanly(runner, tmp_path):
    result = runner.invoke(args=["jwks", "export", str(tmp_path / "absent.pem")])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)


def test_jwks_export_a_small_rsa_key_is_refused(runner, tmp_path):
    small = private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    result = runner.invoke(args=["jwks", "export", write(tmp_path, "small.pem", small)])
    assert_clean_failure(result)
    assert "2048" in result.output


# ---------------------------------------------------------------- users create


def test_users_create_makes_a_user_who_can_log_in(runner, client):
    result = runner.invoke(args=["users", "create", "--email", "ada@example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.output
    user_id = result.output.split()[1]
    assert user_id.startswith("user_")
    response = client.post("/auth/user/emailpass", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["token"]
    me = client.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert (me.get_json()["user"]["id"], me.get_json()["user"]["email"]) == (user_id, "ada@example.com")


def test_users_create_stores_the_names(runner, client):
    args = ["users", "create", "--email", "ada@example.com", "--password", PASSWORD]
    result = runner.invoke(args=[*args, "--first-name", "Ada", "--last-name", "Lovelace"])
    assert result.exit_code == 0, result.output
    token = client.post("/auth/user/emailpass", json={"email": "ada@example.com", "password": PASSWORD}).get_json()
    me = client.get("/admin/users/me", headers={"Authorization": f"Bearer {token['token']}"}).get_json()["user"]
    assert (me["first_name"], me["last_name"]) == ("Ada", "Lovelace")


def test_users_create_the_wrong_password_does_not_log_in(runner, client):
    runner.invoke(args=["users", "create", "--email", "ada@example.com", "--password", PASSWORD])
    response = client.post("/auth/user/emailpass", json={"email": "ada@example.com", "password": PASSWORD + "!"})
    assert response.status_code == 401


@pytest.mark.parametrize("second_email", ["ada@example.com", "ADA@Example.com"])
def test_users_create_the_same_email_twice_fails_cleanly(runner, client, second_email):
    first = runner.invoke(args=["users", "create", "--email", "ada@example.com", "--password", PASSWORD])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["users", "create", "--email", second_email, "--password", "another password 2"])
    assert_clean_failure(second)
    assert "already exists" in second.output
    # The first user's password still works; the second attempt changed nothing.
    response = client.post("/auth/user/emailpass", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "email,password", [("ada@example.com", "short"), ("not-an-email", PASSWORD)], ids=["short-password", "bad-email"]
)
def test_users_create_refuses_bad_input_cleanly(runner, client, email, password):
    assert_clean_failure(runner.invoke(args=["users", "create", "--email", email, "--password", password]))
    response = client.post("/auth/user/emailpass", json={"email": email, "password": password})
    assert response.status_code == (400 if email == "not-an-email" else 401)  # 400: not an email at all


# ---------------------------------------------------------------- db upgrade (a real process)


def test_db_upgrade_creates_the_tables_in_a_fresh_sqlite_file(tmp_path):
    database = tmp_path / "cli.sqlite3"
    assert not database.exists()
    result = flask_cli(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        [(version,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    assert {"user", "auth_identity", "provider_identity", "alembic_version"} <= tables
    assert version
    again = flask_cli(tmp_path, "db", "upgrade")  # idempotent
    assert again.returncode == 0, again.stderr
