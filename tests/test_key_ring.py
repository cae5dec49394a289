"""The managed key ring: states, publication, verification, sealing at rest, refresh across instances."""

from __future__ import annotations

import base64
import json
import os
import threading

import click
import click.testing
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask

from medusa_auth import ConfigError, clock
from medusa_auth.database import db
from medusa_auth.keys import ring
from medusa_auth.keys.config import get_jwt_config
from medusa_auth.keys.keyset import KeySet
from medusa_auth.keys.material import generate_private_key, private_key_pem, public_key_pem
from medusa_auth.keys.ring import ACTIVE, RETIRED, REVOKED, STANDBY, RefreshingKeySet, RingError
from medusa_auth.models import SigningKeyRecord
from medusa_auth.tokens import InvalidToken, TokenKind
from tests.helpers import FakeClock

# The `app` fixture empties the database after each test, for the apps these tests build beside it.
pytestmark = pytest.mark.usefixtures("app")

KEK = base64.urlsafe_b64encode(os.urandom(32)).decode()
RING = {"JWT_SECRET_KEY": None, "JWT_KEY_ENCRYPTION_KEY": KEK, "JWT_EXPIRES_IN": "1h"}


def invoke(app: Flask, *args: str) -> click.testing.Result:
    with app.app_context():  # the command runs against this app's database, as `flask --app wsgi` would
        return app.test_cli_runner().invoke(args=list(args))


def run(app: Flask, *args: str) -> str:
    result = invoke(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


def kids_in_jwks(app: Flask) -> list[str]:
    return [k["kid"] for k in app.test_client().get("/.well-known/jwks.json").get_json()["keys"]]


def states(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {r.kid: r.state for r in ring.all_records()}


def token_from(app: Flask) -> str:
    with app.app_context():
        return app.extensions["medusa_auth"].tokens.issue_auth_token("authid_1", "user_1", {})


def refresh(app: Flask) -> None:
    """What a server does when its refresh interval has passed: reload the ring from its database."""
    with app.app_context():
        app.extensions["medusa_auth"].keys.refresh()


def verifies(app: Flask, token: str) -> bool:
    with app.test_request_context():
        try:
            app.extensions["medusa_auth"].tokens.verify(token, {TokenKind.ACCESS})
            return True
        except InvalidToken:
            return False


def cli_app(app_factory, **overrides: str | None) -> Flask:
    """An app built as `flask --app wsgi ...` builds it: it starts even on a ring the server would refuse."""
    with click.Context(click.Group("flask")):
        return app_factory(**{**RING, **overrides})


@pytest.fixture
def seeded(app_factory) -> Flask:
    """The operator's CLI on an empty ring, rotated once so that a server can start."""
    cli = cli_app(app_factory)
    run(cli, "keys", "rotate")
    return cli


@pytest.fixture
def server(seeded, app_factory) -> Flask:
    """A server on the same database (it checks the ring at startup; tests refresh it explicitly)."""
    return app_factory(**RING)


def test_a_server_refuses_to_start_on_an_empty_ring(app_factory):
    with pytest.raises(ConfigError, match="no active key.*keys rotate"):
        app_factory(**RING)


def test_a_wrong_key_encryption_key_stops_startup_naming_it(seeded, app_factory):
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigError, match="^JWT_KEY_ENCRYPTION_KEY does not decrypt signing key"):
        app_factory(**{**RING, "JWT_KEY_ENCRYPTION_KEY": other})


# 16 bytes: valid base64 of a key too short for AES-256 (fixed, so every pytest-xdist worker collects one id)
@pytest.mark.parametrize(
    "value", ["short", "not base64 at all!!", base64.urlsafe_b64encode(b"sixteen byte key").decode()]
)
def test_a_malformed_key_encryption_key_is_refused(app_factory, value):
    with pytest.raises(ConfigError, match="^JWT_KEY_ENCRYPTION_KEY must be 32 random bytes"):
        app_factory(**{**RING, "JWT_KEY_ENCRYPTION_KEY": value})


def test_the_ring_and_jwt_secret_key_are_not_both_used(app_factory, rsa_pem):
    with pytest.raises(ConfigError, match="^JWT_SECRET_KEY and JWT_KEY_ENCRYPTION_KEY are both set"):
        app_factory(**{**RING, "JWT_SECRET_KEY": rsa_pem})


def test_the_first_rotation_creates_an_active_key_that_signs(seeded, server):
    [(kid, state)] = states(seeded).items()
    assert state == ACTIVE
    token = token_from(server)
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"] == kid
    assert verifies(server, token)
    assert kids_in_jwks(server) == [kid]


def test_rotation_publishes_a_standby_key_before_it_signs(seeded, server):
    [old] = states(seeded)
    assert "published as standby" in run(seeded, "keys", "rotate")
    [new] = set(states(seeded)) - {old}
    assert states(seeded)[new] == STANDBY
    refresh(server)
    assert sorted(kids_in_jwks(server)) == sorted([old, new])  # verifiers learn it now...
    assert _kid_of(token_from(server)) == old  # ...while the old key still signs


def test_the_second_rotation_activates_the_standby_and_retires_the_old_key(seeded, server):
    [old] = states(seeded)
    old_token = token_from(server)
    run(seeded, "keys", "rotate")
    run(seeded, "keys", "rotate")
    refresh(server)
    [new] = set(states(seeded)) - {old}
    assert states(seeded) == {old: RETIRED, new: ACTIVE}
    assert _kid_of(token_from(server)) == new
    assert verifies(server, old_token)  # tokens of the retired key keep working
    assert sorted(kids_in_jwks(server)) == sorted([old, new])


def test_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(seeded, server, frozen_clock: FakeClock):
    [old] = states(seeded)
    old_token = token_from(server)
    run(seeded, "keys", "rotate", "--now")
    # Published as long as the longest-lived token it may have signed: here an invite (a day).
    lifetime = server.extensions["medusa_auth"].jwt.longest_token_lifetime
    assert lifetime == 86400
    frozen_clock.move(lifetime - 60)
    refresh(server)
    assert old in kids_in_jwks(server)
    frozen_clock.move(60 + clock.LEEWAY_SECONDS + 1)
    refresh(server)
    assert old not in kids_in_jwks(server)
    assert not verifies(server, old_token)


def test_revoking_a_key_withdraws_it_at_once(seeded, server):
    [old] = states(seeded)
    old_token = token_from(server)
    run(seeded, "keys", "rotate", "--now")
    assert "revoked" in run(seeded, "keys", "revoke", "--", old)
    refresh(server)
    assert old not in kids_in_jwks(server)
    assert not verifies(server, old_token)
    assert states(seeded)[old] == REVOKED


def test_the_active_key_cannot_be_retired_or_revoked(seeded):
    [kid] = states(seeded)
    for command in ("retire", "revoke"):
        result = invoke(seeded, "keys", command, "--", kid)
        assert result.exit_code != 0
        assert "rotate" in result.output


def test_a_standby_key_can_be_retired_so_it_never_signs(seeded, server):
    run(seeded, "keys", "rotate")
    [standby] = [kid for kid, state in states(seeded).items() if state == STANDBY]
    run(seeded, "keys", "retire", "--", standby)
    assert states(seeded)[standby] == RETIRED
    with seeded.app_context(), pytest.raises(RingError):
        ring.retire(standby)


def test_a_kid_that_starts_with_a_dash_is_passed_after_double_dash(seeded):
    """Thumbprints are base64url, so about one kid in 64 starts with "-", which click reads as an option."""
    result = invoke(seeded, "keys", "revoke", "--", "-Bdash-kid")
    assert "no key with kid -Bdash-kid" in result.output


def test_an_unknown_kid_is_refused_by_state_changes(seeded):
    result = invoke(seeded, "keys", "revoke", "no-such-kid")
    assert result.exit_code != 0
    assert "no key with kid no-such-kid" in result.output


def test_keys_list_shows_every_key_and_state(seeded):
    run(seeded, "keys", "rotate")
    listing = run(seeded, "keys", "list")
    for kid, state in states(seeded).items():
        assert kid in listing and state in listing


def test_an_existing_pem_is_imported_as_the_active_key_of_an_empty_ring(app_factory, tmp_path, rsa_pem):
    cli = cli_app(app_factory)
    pem_file = tmp_path / "old.pem"
    pem_file.write_text(rsa_pem)
    assert "imported as active" in run(cli, "keys", "import", str(pem_file))
    server = app_factory(**RING)
    # A token signed before the move, with the same key, still verifies: the kid is its thumbprint.
    assert _kid_of(token_from(server)) in kids_in_jwks(server)
    next_pem = _write(tmp_path / "next.pem", private_key_pem(generate_private_key("EC")))
    assert "imported as standby" in run(cli, "keys", "import", str(next_pem), "--alg", "ES256")


def test_private_keys_are_sealed_at_rest(seeded):
    with seeded.app_context():
        record = db.session.execute(db.select(SigningKeyRecord)).scalar_one()
        stored = db.session.execute(db.text("SELECT * FROM signing_key")).one()
        private = ring.KeySealer(base64.urlsafe_b64decode(KEK)).open(record.kid, record.sealed_private_key)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    row = repr(tuple(stored)).encode()
    assert der not in b"".join(v if isinstance(v, bytes) else str(v).encode() for v in stored)
    assert b"PRIVATE KEY" not in row
    assert "d" not in record.public_jwk


def test_a_sealed_key_moved_to_another_kid_does_not_open(seeded):
    with seeded.app_context():
        record = db.session.execute(db.select(SigningKeyRecord)).scalar_one()
        sealer = ring.KeySealer(base64.urlsafe_b64decode(KEK))
        with pytest.raises(Exception, match="does not decrypt"):
            sealer.open("another-kid", record.sealed_private_key)


def test_a_stale_instance_learns_a_new_kid_on_first_sight(seeded, app_factory):
    stale = app_factory(**RING, JWT_KEY_REFRESH_SECONDS="1h")  # would not refresh on its own
    other = app_factory(**RING)
    [old] = states(seeded)
    run(seeded, "keys", "rotate", "--now")
    refresh(other)
    token = token_from(other)
    assert _kid_of(token) != old  # control: signed with the kid the stale instance has never seen
    assert verifies(stale, token)


def test_unknown_kids_reload_the_ring_at_most_once_per_cooldown(seeded, server):
    loads = []
    keys = server.extensions["medusa_auth"].keys
    counting = RefreshingKeySet(lambda: loads.append(1) or keys.current, refresh_seconds=3600, unknown_kid_cooldown=60)
    with server.app_context():
        for n in range(100):
            assert counting.find(f"random-{n}") is None
    assert len(loads) == 2  # the first load, then one forced reload for the first unknown kid


def test_a_failed_refresh_keeps_the_known_keys(seeded, server):
    keys = server.extensions["medusa_auth"].keys
    known = keys.current
    calls = iter([known])

    def flaky_load():
        return next(calls)  # the second call raises StopIteration, as a dead database would raise

    refreshing = RefreshingKeySet(flaky_load, refresh_seconds=0)
    assert refreshing.current is known
    refreshing.refresh()
    assert refreshing.current is known


@pytest.mark.settings(JWT_EXPIRES_IN="1h")
def test_extra_public_keys_verify_beside_the_static_key(app_factory, rsa_pem, ec_pem):
    """The guide's path during a manual rotation: the new key signs, the old key's public half still verifies."""
    old = app_factory(JWT_SECRET_KEY=ec_pem)
    old_token = token_from(old)
    new = app_factory(JWT_SECRET_KEY=rsa_pem, JWT_EXTRA_PUBLIC_KEYS=public_key_pem(_public(ec_pem)))
    assert verifies(new, old_token)
    assert _kid_of(old_token) in kids_in_jwks(new)
    assert verifies(new, token_from(new))


def _kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"])


def _public(pem: str):
    return serialization.load_pem_private_key(pem.encode(), None).public_key()


def _write(path, text):
    path.write_text(text)
    return path


def test_a_reader_with_an_unknown_kid_waits_for_the_reload_in_flight(rsa_pem, ec_pem):
    """Threads (gthread workers): the second of two requests naming a new kid must not get 401 while the
    first request's reload, which brings that key, is still running."""
    old, new = (KeySet.from_config(get_jwt_config({"JWT_SECRET_KEY": pem})) for pem in (ec_pem, rsa_pem))
    new_kid = next(iter(new.by_kid))
    reloading, release = threading.Event(), threading.Event()
    loads = iter([old, new])

    def slow_load() -> KeySet:
        keys = next(loads)
        if keys is new:
            reloading.set()
            release.wait(5)
        return keys

    refreshing = RefreshingKeySet(slow_load, refresh_seconds=3600, unknown_kid_cooldown=60)
    assert refreshing.current is old  # the first load
    found: dict[str, object] = {}
    first = threading.Thread(target=lambda: found.setdefault("first", refreshing.find(new_kid)))
    first.start()  # an unknown kid: this reader reloads, and the reload takes a while
    assert reloading.wait(5), "the first reader should be reloading"
    second = threading.Thread(target=lambda: found.setdefault("second", refreshing.find(new_kid)))
    second.start()
    second.join(0.2)
    release.set()
    first.join(5)
    second.join(5)
    assert found["first"] is not None and found["second"] is not None
