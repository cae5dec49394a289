"""`flask --app wsgi purge`: rows whose time has passed go, live ones stay (rows counted before and after)."""

from __future__ import annotations

import base64
import os
import time
from datetime import timedelta
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import event, func

from medusa_auth import clock, purge
from medusa_auth.admin import invite_service
from medusa_auth.auth.identity_service import create_user, find_provider_identity
from medusa_auth.database import db
from medusa_auth.keys.ring import ACTIVE
from medusa_auth.models import BrowserSession, Invite, PasswordReset, RateLimitCounter, SigningKeyRecord, digest
from medusa_auth.tokens import TokenKind

RING = {"JWT_SECRET_KEY": None, "JWT_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}


def rows(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.execute(db.select(func.count()).select_from(model)).scalar_one())


def run_purge(app: Flask, *args: str) -> str:
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def identity_of(email: str) -> str:
    provider = find_provider_identity(email)
    assert provider is not None
    return provider.auth_identity_id


@pytest.mark.settings(SESSION_IDLE_SECONDS=600, SESSION_ABSOLUTE_SECONDS=3600)
def test_ended_sessions_go_and_live_ones_stay(app, frozen_clock):
    # The live session is a second from both ends: the clock must not move between planting and purging.
    with app.app_context():
        user = create_user("a@example.com", "correct horse battery")
        now = clock.now_datetime()
        sessions = {
            "live": (now - timedelta(seconds=599), now + timedelta(seconds=1)),
            "idle too long": (now - timedelta(seconds=600), now + timedelta(hours=1)),
            "past its absolute end": (now, now),
        }
        for name, (last_seen, expires) in sessions.items():
            db.session.add(
                BrowserSession(
                    id_hash=digest(name),
                    actor_type="user",
                    actor_id=user.id,
                    auth_provider="emailpass",
                    auth_identity_id=identity_of(user.email),
                    last_seen_at=last_seen,
                    expires_at=expires,
                )
            )
        db.session.commit()
    assert rows(app, BrowserSession) == 3
    assert "browser sessions: 2 deleted" in run_purge(app)
    with app.app_context():
        assert db.session.execute(db.select(BrowserSession.id_hash)).scalars().all() == [digest("live")]


def test_expired_reset_links_go_and_pending_ones_stay(app):
    with app.app_context():
        now = clock.now_datetime()
        for n, expires in enumerate((now - timedelta(seconds=1), now, now + timedelta(minutes=15))):
            email = f"r{n}@example.com"
            create_user(email, "correct horse battery")
            reset = PasswordReset(auth_identity_id=identity_of(email), jti_hash=digest(email), expires_at=expires)
            db.session.add(reset)
        db.session.commit()
    assert rows(app, PasswordReset) == 3
    assert "password resets: 2 deleted" in run_purge(app)
    assert rows(app, PasswordReset) == 1


def test_throttle_counters_of_ended_windows_go(app):
    with app.app_context():
        now = time.time()
        db.session.add_all(
            [
                RateLimitCounter(key="ended", count=3, expires_at=now - 1),
                RateLimitCounter(key="running", count=3, expires_at=now + 600),
            ]
        )
        db.session.commit()
    assert "throttle counters: 1 deleted" in run_purge(app)
    with app.app_context():
        assert db.session.execute(db.select(RateLimitCounter.key)).scalars().all() == ["running"]


def test_invites_are_kept_unless_asked_then_only_long_expired_unaccepted_ones_go(app):
    with app.app_context():
        now = clock.now_datetime()
        expiries = {"pending": now + timedelta(days=1), "expired": now - timedelta(days=1)}
        expiries |= {"long expired": now - timedelta(days=8), "accepted": now - timedelta(days=8)}
        for name, expires in expiries.items():
            invite = invite_service.create_invite(f"{name.replace(' ', '-')}@example.com", None, None, send_email=False)
            invite.invite.expires_at, invite.invite.accepted = expires, name == "accepted"
        db.session.commit()
    assert "invites: kept" in run_purge(app)
    assert rows(app, Invite) == 4
    assert "invites: 1 deleted" in run_purge(app, "--expired-invites-days", "7")
    with app.app_context():
        emails = db.session.execute(db.select(Invite.email).order_by(Invite.email)).scalars().all()
    assert emails == ["accepted@example.com", "expired@example.com", "pending@example.com"]


def test_spent_keys_go_once_every_token_they_signed_has_expired(app_factory, monkeypatch):
    with click.Context(click.Group("flask")):  # built as `flask --app wsgi ...` builds it: an empty ring is fine
        cli = app_factory(**RING)
    run = cli.test_cli_runner()
    with cli.app_context():
        assert run.invoke(args=["keys", "rotate"]).exit_code == 0  # k1 active
        assert run.invoke(args=["keys", "rotate", "--now"]).exit_code == 0  # k2 active, k1 retired
        assert run.invoke(args=["keys", "rotate"]).exit_code == 0  # k3 standby
        [standby] = db.session.execute(db.select(SigningKeyRecord.kid).filter_by(state="standby")).scalars()
        assert run.invoke(args=["keys", "revoke", "--", standby]).exit_code == 0
    server = app_factory(**RING)
    assert "signing keys: 0 deleted" in run_purge(cli)
    lifetime = cli.extensions["medusa_auth"].jwt.longest_token_lifetime
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now + lifetime + clock.LEEWAY_SECONDS - 60)
    assert "signing keys: 0 deleted" in run_purge(cli)  # the retired key is still published
    monkeypatch.setattr(clock, "now", lambda: now + lifetime + clock.LEEWAY_SECONDS + 1)
    assert "signing keys: 2 deleted" in run_purge(cli)
    with cli.app_context():
        left = db.session.execute(db.select(SigningKeyRecord.state)).scalars().all()
    assert left == [ACTIVE]
    extension = server.extensions["medusa_auth"]
    with server.app_context():
        extension.keys.refresh()
        token = extension.tokens.issue_auth_token("authid_1", "user_1", {})
    with server.test_request_context():  # the active key still signs and verifies, alone in the JWKS
        assert extension.tokens.verify(token, {TokenKind.ACCESS})["actor_id"] == "user_1"
        assert len(server.test_client().get("/.well-known/jwks.json").get_json()["keys"]) == 1


def test_without_a_key_ring_the_keys_step_is_skipped(app):
    assert "signing keys: no managed key ring" in run_purge(app)


def test_a_large_purge_deletes_in_batches(app, monkeypatch):
    monkeypatch.setattr(purge, "BATCH", 3)
    with app.app_context():
        now = time.time()
        db.session.add_all(RateLimitCounter(key=f"k{n}", count=1, expires_at=now - 1) for n in range(10))
        db.session.commit()
        deletes: list[str] = []

        def count_deletes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE FROM RATE_LIMIT_COUNTER"):
                deletes.append(statement)

        event.listen(db.engine, "before_cursor_execute", count_deletes)
        try:
            assert "throttle counters: 10 deleted" in run_purge(app)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_deletes)
    assert len(deletes) == 4  # 3 + 3 + 3 + 1
    assert rows(app, RateLimitCounter) == 0
