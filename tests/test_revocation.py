"""Signed out means signed out (SPEC §12): sign-in sessions, their ``sid`` in every token, and every way
of ending one refusing its bearer tokens, cached or not; refresh bounded by the sign-in's absolute end.

Each app here re-reads the ended sessions on every request (REVOCATION_REFRESH_SECONDS=0), so a test
sees the state the next refresh would bring; the refresh interval and the staleness bound are tested on
``RefreshingEndedSessions`` with a moved clock. tests/test_revocation_live.py runs it across instances.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from medusa_auth import purge, revocation
from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.models import BrowserSession, SignInSession
from medusa_auth.revocation import (
    ENDED,
    EndedSessions,
    FeedError,
    FeedPolicy,
    RefreshingEndedSessions,
    feed_loader,
    parse_feed,
)
from medusa_auth.settings import ConfigError
from medusa_auth.tokens import InvalidToken, TokenKind, VerificationUnavailable
from medusa_auth.verifier import revocation_feed
from tests.helpers import PASSWORD, FakeClock, bearer, claims_of, csrf_token, security_events, start_session
from tests.live import free_port
from tests.web_fixtures import link_in, token_of

pytestmark = pytest.mark.settings(REVOCATION_REFRESH_SECONDS=0)

ME = "/admin/users/me"
ABSOLUTE = 3600


def logout(client, token: str, scope: str | None = None):
    body = {} if scope is None else {"scope": scope}
    return client.post("/auth/logout", json=body, headers=bearer(token))


def refresh(client, token: str):
    return client.post("/auth/token/refresh", headers=bearer(token))


def opens(client, token: str) -> bool:
    status = client.get(ME, headers=bearer(token)).status_code
    assert status in (200, 401)
    return status == 200


# -- tokens carry their sign-in ---------------------------------------------------------------------


def test_every_sign_in_starts_a_session_whose_id_and_time_its_tokens_carry(app, auth, client):
    auth.create_user()
    first, second = auth.login(), auth.login()
    a, b = claims_of(first), claims_of(second)
    assert a["sid"].startswith("sess_") and a["sid"] != b["sid"]
    with app.app_context():
        row = db.session.get(SignInSession, a["sid"])
        assert (row.auth_identity_id, row.actor_type, row.auth_provider) == (a["auth_identity_id"], "user", "emailpass")
        assert a["auth_time"] == int(row.created_at.timestamp())
        assert row.ended_at is None


def test_refresh_keeps_the_sid_and_the_sign_in_time(auth, client, frozen_clock):
    token = auth.token()
    frozen_clock.move(120)
    refreshed = refresh(client, token).get_json()["token"]
    before, after = claims_of(token), claims_of(refreshed)
    assert (after["sid"], after["auth_time"]) == (before["sid"], before["auth_time"])
    assert after["iat"] == before["iat"] + 120 and after["jti"] != before["jti"]


def test_registration_is_a_sign_in_too(client):
    token = client.post("/auth/customer/emailpass/register", json={"email": "c@example.com", "password": PASSWORD})
    claims = claims_of(token.get_json()["token"])
    assert claims["actor_id"] == "" and claims["sid"].startswith("sess_")
    assert refresh(client, token.get_json()["token"]).status_code == 200


@pytest.mark.settings(SESSION_ABSOLUTE_SECONDS=ABSOLUTE)
def test_no_chain_of_refreshes_outlives_the_sign_in(auth, client, frozen_clock):
    token = auth.token()
    end = claims_of(token)["auth_time"] + ABSOLUTE
    assert claims_of(token)["exp"] == end  # JWT_EXPIRES_IN is a day; the sign-in ends first
    for _ in range(3):
        frozen_clock.move(ABSOLUTE // 4)
        token = refresh(client, token).get_json()["token"]
        assert claims_of(token)["exp"] == end
    frozen_clock.move_to(end + 10)  # the token is still inside the verification leeway ...
    assert opens(client, token)
    refused = refresh(client, token)  # ... but the sign-in is over: no new token
    assert refused.status_code == 401 and refused.get_json()["type"] == "unauthorized"


def test_a_token_without_a_sid_opens_routes_until_it_expires_but_extends_nothing(app, auth, client):
    """Tokens from before sign-in sessions, or signed with the same key by Medusa or the guide's Node.js code."""
    auth.create_user()
    token = auth.login()
    claims = claims_of(token)
    with app.app_context():
        legacy = medusa_auth().tokens.issue_auth_token(claims["auth_identity_id"], claims["actor_id"], {})
    assert "sid" not in claims_of(legacy)
    assert opens(client, legacy)
    assert refresh(client, legacy).status_code == 401
    assert client.post("/auth/session", headers=bearer(legacy)).status_code == 401
    assert logout(client, legacy).status_code == 401


def test_a_sid_that_is_not_a_string_makes_no_token(app, auth):
    auth.create_user()
    with app.app_context():
        tokens = medusa_auth().tokens
        forged = tokens.sign(
            TokenKind.ACCESS,
            {"actor_id": "u", "actor_type": "user", "auth_identity_id": "a", "app_metadata": {}, "sid": ["x"]},
            60,
        )
        with pytest.raises(InvalidToken, match="unrecognised token kind"):
            tokens.verify(forged, {TokenKind.ACCESS})


# -- each way of ending access ----------------------------------------------------------------------


def test_logout_local_ends_this_sign_in_only(auth, client, caplog):
    auth.create_user()
    mine, other = auth.login(), auth.login()
    caplog.set_level("INFO", logger="medusa_auth.security")
    response = logout(client, mine)  # scope defaults to local
    assert response.status_code == 200 and response.get_json() == {"success": True}
    assert not opens(client, mine)
    assert refresh(client, mine).status_code == 401
    assert opens(client, other) and refresh(client, other).status_code == 200
    ended = [e for e in security_events(caplog) if e["event"] == "sign_in_session_ended"]
    assert [(e["sid"], e["reason"]) for e in ended] == [(claims_of(mine)["sid"], "signed_out")]
    assert mine not in caplog.text


def test_logout_global_ends_every_sign_in_of_the_identity(auth, client):
    auth.create_user()
    auth.create_user("someone@example.com")
    mine, other, stranger = auth.login(), auth.login(), auth.login("someone@example.com")
    assert logout(client, mine, "global").status_code == 200
    assert not opens(client, mine) and not opens(client, other)
    assert opens(client, stranger)


def test_logout_others_keeps_this_sign_in_only(auth, client):
    auth.create_user()
    mine, other, third = auth.login(), auth.login(), auth.login()
    assert logout(client, mine, "others").status_code == 200
    assert opens(client, mine)
    assert not opens(client, other) and not opens(client, third)


@pytest.mark.parametrize("body", [{"scope": "everything"}, {"scope": None}, {"scope": ["local"]}])
def test_logout_with_an_unknown_scope_is_a_400_and_ends_nothing(auth, client, body):
    token = auth.token()
    response = client.post("/auth/logout", json=body, headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"
    assert opens(client, token)


def test_logout_needs_a_live_token(auth, client):
    assert client.post("/auth/logout", json={}).status_code == 401
    token = auth.token()
    assert logout(client, token).status_code == 200
    assert logout(client, token).status_code == 401  # already signed out


def test_a_signed_out_token_is_refused_even_when_this_worker_had_cached_it(app, auth):
    token = auth.token()
    with app.test_request_context():
        tokens = medusa_auth().tokens
        tokens.verify(token, {TokenKind.ACCESS})
        assert tokens.cache.get(token, 0) is not None
    assert logout(app.test_client(), token).status_code == 200
    with app.test_request_context():
        with pytest.raises(InvalidToken, match="signed out"):
            tokens.verify(token, {TokenKind.ACCESS})
        assert tokens.cache.get(token, 0) is None  # purged on sight


def test_deleting_the_browser_session_ends_its_bearer_tokens(app, auth, client):
    token = auth.token()
    start_session(client, token)
    assert client.get(ME).status_code == 200
    assert client.delete("/auth/session").get_json() == {"success": True}
    assert client.get(ME).status_code == 401
    assert not opens(app.test_client(), token)
    assert refresh(client, token).status_code == 401


def test_signing_a_token_out_ends_the_browser_session_it_started(app, auth):
    token = auth.token()
    browser = app.test_client()
    start_session(browser, token)
    assert browser.get(ME).status_code == 200
    assert logout(app.test_client(), token).status_code == 200
    assert browser.get(ME).status_code == 401
    with app.app_context():
        assert db.session.execute(db.select(BrowserSession)).first() is None


def test_a_signed_out_token_cannot_start_a_browser_session(app, auth, client):
    token = auth.token()
    assert logout(app.test_client(), token).status_code == 200
    assert client.post("/auth/session", headers=bearer(token)).status_code == 401


@pytest.mark.settings(SESSION_ABSOLUTE_SECONDS=ABSOLUTE)
def test_a_browser_session_from_a_token_ends_with_its_sign_in(app, auth, client):
    token = auth.token()
    start_session(client, token)
    with app.app_context():
        browser = db.session.execute(db.select(BrowserSession)).scalar_one()
        sign_in = db.session.get(SignInSession, claims_of(token)["sid"])
        assert browser.sign_in_session_id == sign_in.id
        assert browser.expires_at <= sign_in.expires_at


def test_a_page_sign_in_starts_a_sign_in_session_and_signing_out_ends_it(app, auth, client):
    auth.create_user()
    form = {"email": "admin@example.com", "password": PASSWORD, "csrf_token": csrf_token(client, "/app/login")}
    assert client.post("/app/login", data=form).status_code == 302
    with app.app_context():
        sid = db.session.execute(db.select(SignInSession.id)).scalar_one()
    assert client.post("/app/logout", data={"csrf_token": csrf_token(client, "/app/")}).status_code == 302
    with app.app_context():
        assert db.session.get(SignInSession, sid).ended_reason == "signed_out"


@pytest.fixture
def reset_settings(settings, mailbox):
    return {**settings, **mailbox.settings()}


def test_a_password_reset_ends_every_sign_in_of_the_identity(app, app_factory, reset_settings, mailbox):
    """(``app``: its teardown empties the tables this test fills.)"""
    resetting = app_factory(**reset_settings)
    client = resetting.test_client()
    from medusa_auth.auth.identity_service import create_user

    with resetting.app_context():
        create_user("admin@example.com", PASSWORD)
    login = {"email": "admin@example.com", "password": PASSWORD}
    first = client.post("/auth/user/emailpass", json=login).get_json()["token"]
    second = client.post("/auth/user/emailpass", json=login).get_json()["token"]
    assert opens(client, first) and opens(client, second)
    assert (
        client.post("/auth/user/emailpass/reset-password", json={"identifier": "admin@example.com"}).status_code == 201
    )
    reset = token_of(link_in(mailbox.wait_for(1)[-1]))
    changed = client.post(
        "/auth/user/emailpass/update", json={"password": "a brand new passphrase"}, headers=bearer(reset)
    )
    assert changed.status_code == 200
    assert not opens(client, first) and not opens(client, second)
    with resetting.app_context():
        reasons = {row.ended_reason for row in db.session.execute(db.select(SignInSession)).scalars()}
    assert reasons == {"credentials_changed"}
    again = client.post("/auth/user/emailpass", json={**login, "password": "a brand new passphrase"})
    assert opens(client, again.get_json()["token"])


def test_an_admin_revokes_every_session_of_a_user(app, auth, client, caplog):
    admin = auth.token()
    target_id = auth.create_user("target@example.com")
    target_bearer, target_other = auth.login("target@example.com"), auth.login("target@example.com")
    browser = app.test_client()
    start_session(browser, target_other)
    caplog.set_level("INFO", logger="medusa_auth.security")
    response = client.post(f"/admin/users/{target_id}/sessions/revoke", headers=bearer(admin))
    assert response.status_code == 200 and response.get_json() == {"success": True, "ended": 2}
    assert not opens(client, target_bearer) and not opens(client, target_other)
    assert browser.get(ME).status_code == 401
    assert opens(client, admin)
    events = security_events(caplog)
    assert {"event": "user_sessions_revoked", "user_id": target_id, "ended": 2} | {
        "revoked_by": claims_of(admin)["actor_id"]
    } in events
    assert [e["reason"] for e in events if e["event"] == "sign_in_session_ended"] == ["revoked_by_admin"] * 2


def test_revoking_an_unknown_user_is_a_404(auth, client):
    admin = auth.token()
    for user_id in ("user_nobody", "x" * 300):
        response = client.post(f"/admin/users/{user_id}/sessions/revoke", headers=bearer(admin))
        assert response.status_code == 404 and response.get_json()["type"] == "not_found"


def test_revoking_needs_an_admin(auth, client):
    target_id = auth.create_user("target@example.com")
    assert client.post(f"/admin/users/{target_id}/sessions/revoke").status_code == 401


# -- the per-worker set: interval, staleness, fail closed -----------------------------------------------


class Source:
    """A ``load`` whose answer (or failure) the test sets."""

    def __init__(self, *sids: str, failing: bool = False):
        self.sids, self.failing, self.loads = set(sids), failing, 0

    def __call__(self, current: EndedSessions | None) -> EndedSessions:
        self.loads += 1
        if self.failing:
            raise ConnectionError("database down")
        return EndedSessions.of(self.sids)


def test_a_session_ended_elsewhere_is_refused_after_the_next_refresh_and_not_before(fake_clock: FakeClock):
    source = Source()
    ended = RefreshingEndedSessions(source, refresh_seconds=2, max_staleness=30, monotonic=fake_clock)
    assert ended.refusal("sess_a") is None and source.loads == 1
    source.sids.add("sess_a")  # another instance ends it
    fake_clock.move(1.9)
    assert ended.refusal("sess_a") is None and source.loads == 1  # no database read per request
    fake_clock.move(0.1)
    assert ended.refusal("sess_a") == ENDED and source.loads == 2
    assert ended.refusal("sess_b") is None and ended.refusal(None) is None


def test_the_set_fails_closed_once_it_is_stale_past_the_bound_and_recovers(fake_clock: FakeClock, caplog):
    source = Source("sess_a")
    ended = RefreshingEndedSessions(source, refresh_seconds=2, max_staleness=30, monotonic=fake_clock)
    assert ended.refusal("sess_b") is None
    source.failing = True
    fake_clock.move(30)
    assert ended.refusal("sess_b") is None and ended.refusal("sess_a") == ENDED  # the last snapshot holds
    assert "not refreshed" in caplog.text
    loads = source.loads
    fake_clock.move(1)
    for sid in ("sess_b", None):  # every token, sid or not: neither accepted nor called invalid
        with pytest.raises(VerificationUnavailable, match="unknown for too long"):
            ended.refusal(sid)
    assert source.loads == loads  # retried only once per interval
    source.failing = False
    fake_clock.move(1)
    assert ended.refusal("sess_b") is None


def test_a_first_load_that_fails_refuses_rather_than_errs(fake_clock: FakeClock):
    source = Source()
    source.failing = True
    ended = RefreshingEndedSessions(source, refresh_seconds=2, max_staleness=30, monotonic=fake_clock)
    with pytest.raises(VerificationUnavailable):
        ended.refusal(None)


@pytest.mark.parametrize("idle_seconds", [None, 31], ids=["first load", "after a quiet spell past the bound"])
def test_requests_arriving_during_a_load_they_need_wait_for_it(fake_clock: FakeClock, idle_seconds: int | None):
    """A worker's first requests come in together (gunicorn's threads), and so do its first after a quiet spell
    longer than the staleness bound: while the load they need runs, none may answer "unknown for too long"
    (a 503). The bench's 10,000-ended-sessions service answered 187 such 503s after idling between its turns."""
    loading, release = threading.Event(), threading.Event()
    loads_before = 0 if idle_seconds is None else 1

    def load(current: EndedSessions | None) -> EndedSessions:
        nonlocal loads_before
        if loads_before == 0:  # the load under test: slow enough that the other requests arrive meanwhile
            loading.set()
            release.wait(10)
        loads_before -= 1
        return EndedSessions.of(["sess_a"])

    ended = RefreshingEndedSessions(load, refresh_seconds=2, max_staleness=30, monotonic=fake_clock)
    if idle_seconds is not None:
        assert ended.refusal("sess_a") == ENDED
        fake_clock.move(idle_seconds)
    answers: list[str | None] = []

    def ask() -> None:
        try:
            answers.append(ended.refusal("sess_a"))
        except VerificationUnavailable as unavailable:
            answers.append(str(unavailable))

    first = threading.Thread(target=ask)
    first.start()
    assert loading.wait(10)
    later = [threading.Thread(target=ask) for _ in range(4)]
    for thread in later:
        thread.start()
    release.set()
    for thread in [first, *later]:
        thread.join(10)
    assert answers == [ENDED] * 5


def test_a_load_that_hangs_makes_the_others_refuse_after_a_short_wait(fake_clock: FakeClock, monkeypatch):
    """A database that hangs (no answer, no error) holds one thread, not the worker: the rest get the 503."""
    monkeypatch.setattr(revocation, "LOAD_WAIT_SECONDS", 0.2)
    hanging, release = threading.Event(), threading.Event()

    def hung_load(current: EndedSessions | None) -> EndedSessions:
        hanging.set()
        release.wait(10)
        return EndedSessions.of([])

    ended = RefreshingEndedSessions(hung_load, refresh_seconds=2, max_staleness=30, monotonic=fake_clock)
    stuck = threading.Thread(target=ended.refusal, args=("sess_a",))
    stuck.start()
    assert hanging.wait(10)
    with pytest.raises(VerificationUnavailable, match="unknown for too long"):
        ended.refusal("sess_a")
    release.set()
    stuck.join(10)
    assert ended.refusal("sess_a") is None


def test_an_unchanged_set_keeps_its_snapshot(app, auth):
    """The feed's ETag and body are built once per change, not once per refresh."""
    with app.app_context():
        ended = medusa_auth().ended_sessions
        first = ended.current
        ended.refresh()
        assert ended.current is first


# -- the feed for remote verifiers --------------------------------------------------------------------


def test_the_feed_lists_ended_sessions_and_nothing_about_their_people(auth, client):
    token = auth.token()
    live = auth.login()
    empty = client.get("/.well-known/revoked-sessions")
    assert empty.status_code == 200 and empty.get_json() == {"ended_sessions": []}
    assert empty.headers["Cache-Control"] == "public, no-cache" and empty.headers["ETag"]
    logout(client, token)
    feed = client.get("/.well-known/revoked-sessions")
    assert feed.get_json() == {"ended_sessions": [claims_of(token)["sid"]]}
    assert claims_of(live)["sid"] not in feed.text
    for private in ("admin@example.com", claims_of(token)["auth_identity_id"], claims_of(token)["actor_id"]):
        assert private not in feed.text
    assert feed.headers["ETag"] != empty.headers["ETag"]
    again = client.get("/.well-known/revoked-sessions", headers={"If-None-Match": feed.headers["ETag"]})
    assert again.status_code == 304 and not again.data


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"ended_sessions": "sess_a"}',
        b'{"ended_sessions": [1]}',
        b'{"ended_sessions": [""]}',
        b'{"ended_sessions": ["' + b"s" * 65 + b'"]}',
        b'{"ended_sessions": [], "ended_sessions": ["sess_a"]}',
        b'{"ended_sessions": [NaN]}',
    ],
)
def test_a_feed_document_that_is_not_exactly_a_list_of_sids_is_refused(body):
    with pytest.raises(FeedError):
        parse_feed(body)


def test_a_good_feed_document_reads_back_as_the_set_it_was_built_from():
    snapshot = EndedSessions.of(["sess_b", "sess_a", "sess_a"])
    assert parse_feed(snapshot.body) == snapshot


# -- purge ----------------------------------------------------------------------------------------------


@pytest.mark.settings(SESSION_ABSOLUTE_SECONDS=ABSOLUTE, JWT_EXPIRES_IN="1h")
def test_purge_removes_sign_ins_no_token_can_need(app, auth, client, frozen_clock):
    ended, live = auth.token(), auth.login()
    logout(client, ended)
    with app.app_context():
        kept = purge.run()
        assert db.session.execute(db.select(SignInSession.id)).scalars().all() != []
        step = next(s for s in kept if s.name == "sign-in sessions")
        assert kept[step] == 0
        frozen_clock.move(ABSOLUTE + 31)
        counts = purge.run()
        assert counts[step] == 2
        assert db.session.execute(db.select(SignInSession)).first() is None
    assert claims_of(live)["exp"] <= frozen_clock.now - 31


def test_purge_keeps_an_ended_sign_in_while_its_tokens_may_live(app, auth, client, frozen_clock):
    token = auth.token()
    logout(client, token)
    with app.app_context():
        frozen_clock.move(int(timedelta(hours=11).total_seconds()))  # before the 12 h absolute end
        purge.run()
        assert db.session.get(SignInSession, claims_of(token)["sid"]) is not None
        assert claims_of(token)["sid"] in medusa_auth().ended_sessions.current.sids


# -- a verifier polling the feed ----------------------------------------------------------------------


@pytest.fixture
def served(app):
    """The app on a real socket (werkzeug's server in a thread), for the feed client."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_the_feed_client_revalidates_learns_and_fails_closed_when_the_issuer_is_gone(
    served, auth, client, fake_clock: FakeClock
):
    issuer = {"url": f"{served}/.well-known/revoked-sessions"}

    def load(current):
        return feed_loader(issuer["url"], FeedPolicy(timeout=1))(current)

    ended = RefreshingEndedSessions(load, refresh_seconds=1, max_staleness=10, monotonic=fake_clock)
    token = auth.token()
    sid = claims_of(token)["sid"]
    assert ended.refusal(sid) is None
    first = ended.current
    fake_clock.move(1)
    assert ended.current is first  # a 304: the snapshot is kept, not rebuilt
    logout(client, token)
    fake_clock.move(1)
    assert ended.refusal(sid) == ENDED
    gone = f"http://127.0.0.1:{free_port_other_than(int(served.rsplit(':', 1)[1]))}/.well-known/revoked-sessions"
    issuer["url"] = gone  # the issuer is gone: nothing listens there
    fake_clock.move(10)
    assert ended.refusal("sess_other") is None  # unreachable, still within the bound
    fake_clock.move(1)
    with pytest.raises(VerificationUnavailable):
        ended.refusal("sess_other")


def free_port_other_than(port: int) -> int:
    candidate = free_port()
    return candidate if candidate != port else free_port()


def test_the_verifiers_feed_settings_are_checked():
    assert revocation_feed({}) is None  # the guide's simple mode: no check at all
    with pytest.raises(ConfigError, match="JWT_REVOCATION_URL"):
        revocation_feed({"JWT_REVOCATION_URL": "http://issuer.example/.well-known/revoked-sessions"})
    for name in ("JWT_REVOCATION_REFRESH_SECONDS", "JWT_REVOCATION_MAX_STALENESS_SECONDS"):
        for value in ("soon", "-1", "nan", "1e9"):
            with pytest.raises(ConfigError, match=name):
                revocation_feed({"JWT_REVOCATION_URL": "https://issuer.example/feed", name: value})
    feed = revocation_feed({"JWT_REVOCATION_URL": "https://issuer.example/feed", "JWT_REVOCATION_REFRESH_SECONDS": "1"})
    assert feed is not None and (feed.refresh_seconds, feed.max_staleness) == (1, 60)
