"""A second factor (SPEC §11): TOTP enrolment, sign-in challenges, recovery codes, disabling, the guard's 401s.

Through the real routes on the real database; the project's clock is frozen so TOTP steps move when a test
says so. Codes are computed here with pyotp from the secret the start route hands out, as an app would.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth.database import db
from medusa_auth.errors import MFA_ENROLMENT_REQUIRED_MESSAGE, MFA_REQUIRED_MESSAGE
from medusa_auth.extension import medusa_auth
from medusa_auth.mfa import challenges
from medusa_auth.models import MfaFactor, MfaRecoveryCode, SignInSession
from medusa_auth.settings import ConfigError, load_settings
from tests.helpers import (
    PASSWORD,
    AuthActions,
    FakeClock,
    bearer,
    claims_of,
    csrf_token,
    header_of,
    security_events,
    start_session,
)

# Every app re-reads the ended sign-ins on each request, so an ended token is refused at once on /admin too.
pytestmark = pytest.mark.settings(REVOCATION_REFRESH_SECONDS=0)

EMAIL = "admin@example.com"
ME = "/admin/users/me"
SPENT = "MFA challenge is expired or has no attempts left"
SESSION_COOKIE = "__Host-medusa_session"
OUR_ORIGIN = {"Origin": "http://localhost:9000"}
STEP_START = 1_700_000_010  # a moment 10 s into a 30-second step (1_700_000_010 // 30 * 30 + 10)


@pytest.fixture
def at_step(frozen_clock: FakeClock) -> FakeClock:
    frozen_clock.move_to(STEP_START)
    return frozen_clock


def code(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(clock()) + steps * 30)


def start(client: FlaskClient, token: str, **body: Any) -> dict[str, Any]:
    response = client.post("/auth/mfa/factors", json={"provider": "totp", **body}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def enrol(client: FlaskClient, token: str, clock: FakeClock) -> tuple[str, str]:
    """Start and verify a TOTP factor; (factor id, secret). The clock moves past the step the code used."""
    started = start(client, token)
    factor_id, secret = started["mfa_factor"]["id"], started["secret"]
    verified = client.post(
        f"/auth/mfa/factors/{factor_id}/verify", json={"code": code(secret, clock)}, headers=bearer(token)
    )
    assert verified.status_code == 200, verified.get_json()
    clock.move(30)
    return factor_id, secret


def login(client: FlaskClient, email: str = EMAIL, actor: str = "user") -> dict[str, Any]:
    response = client.post(f"/auth/{actor}/emailpass", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def answer_challenge(client: FlaskClient, challenge: dict[str, Any], method: str, value: str) -> Any:
    return client.post(
        f"/auth/mfa/challenges/{challenge['mfa_challenge']['id']}/verify",
        json={"method": method, "code": value},
        headers=bearer(challenge["token"]),
    )


def signed_in(client: FlaskClient, secret: str, clock: FakeClock) -> str:
    """Password, then the current TOTP code: the completed sign-in's token."""
    response = answer_challenge(client, login(client), "totp", code(secret, clock))
    assert response.status_code == 200, response.get_json()
    clock.move(30)
    token: str = response.get_json()["token"]
    return token


def ended(client: FlaskClient, token: str) -> bool:
    """The token's sign-in was ended: refresh refuses it, and so does every route (its ``sid`` is ended)."""
    return refused(client.post("/auth/token/refresh", headers=bearer(token))) and refused(
        client.get(ME, headers=bearer(token))
    )


def refused(response: Any, message: str = "Invalid auth token provided", status: int = 401) -> bool:
    return response.status_code == status and response.get_json()["message"] == message


# -- enrolment ---------------------------------------------------------------------------------------


def test_start_hands_out_the_secret_once_and_seals_it(app: Flask, client: FlaskClient, auth: AuthActions, at_step):
    token = auth.token()
    started = start(client, token, label="Work phone", metadata={"device": "pixel"})
    factor, secret = started["mfa_factor"], started["secret"]
    assert factor["status"] == "pending" and factor["provider"] == "totp" and factor["metadata"] == {"device": "pixel"}
    parsed = urlsplit(started["otpauth_url"])
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret] and query["issuer"] == ["localhost"]
    assert pyotp.parse_uri(started["otpauth_url"]).now() == pyotp.TOTP(secret).now()  # what an app reads
    listed = client.get("/auth/mfa/factors", headers=bearer(token)).get_json()["mfa_factors"]
    assert [f["id"] for f in listed] == [factor["id"]]
    assert secret not in str(listed)
    with app.app_context():
        row = db.session.get(MfaFactor, factor["id"])
        assert row is not None and secret.encode() not in row.sealed_secret


def test_the_account_name_is_the_sign_in_email(client: FlaskClient, auth: AuthActions, at_step):
    started = start(client, auth.token(), issuer="Acme Shop")
    assert pyotp.parse_uri(started["otpauth_url"]).name == EMAIL
    assert pyotp.parse_uri(started["otpauth_url"]).issuer == "Acme Shop"


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "sms"},
        {},
        {"provider": "totp", "label": 7},
        {"provider": "totp", "issuer": "a:b"},
        {"provider": "totp", "metadata": []},
    ],
)
def test_start_refuses_bad_bodies(client: FlaskClient, auth: AuthActions, body: dict[str, Any]):
    response = client.post("/auth/mfa/factors", json=body, headers=bearer(auth.token()))
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_a_wrong_code_does_not_enable_and_a_right_one_ends_earlier_tokens(
    client: FlaskClient, auth: AuthActions, at_step, caplog
):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    token = auth.token()
    other_device = auth.login()
    started = start(client, token)
    factor_id, secret = started["mfa_factor"]["id"], started["secret"]
    wrong = client.post(f"/auth/mfa/factors/{factor_id}/verify", json={"code": "000000"}, headers=bearer(token))
    assert refused(wrong, "Invalid MFA code")
    right = client.post(
        f"/auth/mfa/factors/{factor_id}/verify", json={"code": code(secret, at_step)}, headers=bearer(token)
    )
    assert right.status_code == 200 and right.get_json()["mfa_factor"]["status"] == "enabled"
    # Tokens minted on the password alone (mfa_enabled: false) end with the factor's start.
    assert ended(client, other_device) and ended(client, token)
    events = [e for e in security_events(caplog) if e["event"] == "mfa_enabled"]
    assert len(events) == 1 and events[0]["sessions_ended"] >= 0
    assert secret not in caplog.text and code(secret, at_step) not in caplog.text


def test_another_identitys_factor_is_not_found(client: FlaskClient, auth: AuthActions, at_step):
    factor_id = start(client, auth.token())["mfa_factor"]["id"]
    intruder = auth.token("intruder@example.com")
    for response in (
        client.post(f"/auth/mfa/factors/{factor_id}/verify", json={"code": "123456"}, headers=bearer(intruder)),
        client.delete(f"/auth/mfa/factors/{factor_id}", json={"code": "123456"}, headers=bearer(intruder)),
    ):
        assert response.status_code == 404, response.get_json()


def test_a_second_totp_factor_waits_for_the_first_to_be_disabled(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    response = client.post(
        "/auth/mfa/factors", json={"provider": "totp"}, headers=bearer(signed_in(client, secret, at_step))
    )
    assert response.status_code == 400 and response.get_json()["type"] == "not_allowed"


# -- signing in ------------------------------------------------------------------------------------


def test_login_answers_the_challenge_and_its_token_opens_nothing_else(client: FlaskClient, auth: AuthActions, at_step):
    enrol(client, auth.token(), at_step)
    answer = login(client)
    assert answer["mfa_required"] is True
    challenge = answer["mfa_challenge"]
    assert challenge["methods"] == ["totp", "recovery_code"]
    assert (challenge["attempts"], challenge["max_attempts"]) == (0, 5)
    assert challenge["expires_at"].endswith("Z")
    claims, header = claims_of(answer["token"]), header_of(answer["token"])
    assert claims["actor_id"] == "" and claims["mfa_enabled"] is True and claims["mfa_challenge_completed_at"] is None
    assert header["typ"] == "mfa-challenge+jwt"
    challenge_bearer = bearer(answer["token"])
    for method, path in [  # POST /auth/session takes it: the browser holds the challenge (session mode, below)
        ("GET", "/admin/users/me"),
        ("POST", "/auth/token/refresh"),
        ("GET", "/auth/mfa/factors"),
        ("POST", "/auth/mfa/recovery-codes"),
        ("POST", "/store/customers"),
        ("POST", "/admin/invites/accept?token=x"),  # never taken for a registration token
    ]:
        assert refused(client.open(path, method=method, headers=challenge_bearer, json={})), path


def test_a_code_is_accepted_once(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    enabling_code = code(secret, at_step, -1)  # still inside the ±1 step window
    assert refused(answer_challenge(client, login(client), "totp", enabling_code), "Invalid MFA code")
    fresh = code(secret, at_step)
    completed = answer_challenge(client, login(client), "totp", fresh)
    assert completed.status_code == 200
    assert refused(answer_challenge(client, login(client), "totp", fresh), "Invalid MFA code")  # the same code again
    assert refused(answer_challenge(client, login(client), "totp", code(secret, at_step, -1)), "Invalid MFA code")


def test_a_completed_challenge_opens_protected_routes_and_refresh_keeps_it(
    client: FlaskClient, auth: AuthActions, at_step
):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    completed = answer_challenge(client, answer, "totp", code(secret, at_step))
    token = completed.get_json()["token"]
    claims = claims_of(token)
    assert (
        claims["mfa_enabled"] is True and claims["mfa_challenge_completed_at"] == "2023-11-14T22:14:00Z"
    )  # the clock's
    assert claims["actor_id"].startswith("user_")
    assert client.get("/admin/users/me", headers=bearer(token)).status_code == 200
    refreshed = client.post("/auth/token/refresh", headers=bearer(token)).get_json()["token"]
    assert claims_of(refreshed)["mfa_challenge_completed_at"] == claims["mfa_challenge_completed_at"]
    # One challenge gives one token.
    assert refused(
        answer_challenge(client, answer, "totp", code(secret, at_step, 1)),
        "MFA challenge is expired or has no attempts left",
    )


def test_five_wrong_codes_spend_the_challenge(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    for _ in range(4):
        assert refused(answer_challenge(client, answer, "totp", "111111"), "Invalid MFA code")
    spent = "MFA challenge is expired or has no attempts left"
    assert refused(answer_challenge(client, answer, "totp", "111111"), spent)
    # From another address, past the login throttle's (account, address) counter: the challenge's own limit.
    elsewhere = client.post(
        f"/auth/mfa/challenges/{answer['mfa_challenge']['id']}/verify",
        json={"method": "totp", "code": code(secret, at_step)},
        headers=bearer(answer["token"]),
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert refused(elsewhere, spent)


def test_a_challenge_lasts_five_minutes(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    at_step.move(301)
    assert refused(
        answer_challenge(client, answer, "totp", code(secret, at_step)),
        "MFA challenge is expired or has no attempts left",
    )


def test_a_challenge_token_answers_only_its_own_challenge(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    first, second = login(client), login(client)
    crossed = client.post(
        f"/auth/mfa/challenges/{second['mfa_challenge']['id']}/verify",
        json={"method": "totp", "code": code(secret, at_step)},
        headers=bearer(first["token"]),
    )
    assert refused(crossed)


@pytest.mark.parametrize(
    "body",
    [
        {"method": "sms", "code": "123456"},
        {"method": "totp"},
        {"method": "totp", "code": 123456},
        {"method": "totp", "code": {"id": "a passkey's answer"}},
        {"method": "webauthn", "code": "123456"},  # a passkey's answer is a JSON object (or its text)
    ],
)
def test_a_challenge_refuses_bad_bodies(client: FlaskClient, auth: AuthActions, at_step, body: dict[str, Any]):
    enrol(client, auth.token(), at_step)
    answer = login(client)
    response = client.post(
        f"/auth/mfa/challenges/{answer['mfa_challenge']['id']}/verify", json=body, headers=bearer(answer["token"])
    )
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_challenge_attempts_count_in_the_login_throttle(client: FlaskClient, auth: AuthActions, at_step):
    enrol(client, auth.token(), at_step)
    statuses = []
    for _ in range(3):  # three challenges, two wrong codes each: past the throttle's 5 per account and address
        answer = login(client)
        statuses += [answer_challenge(client, answer, "totp", "222222").status_code for _ in range(2)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


# -- recovery codes --------------------------------------------------------------------------------


def test_recovery_codes_need_an_enabled_factor_and_a_sane_count(client: FlaskClient, auth: AuthActions, at_step):
    token = auth.token()
    response = client.post("/auth/mfa/recovery-codes", json={}, headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["type"] == "not_allowed"
    _, secret = enrol(client, token, at_step)
    completed = signed_in(client, secret, at_step)
    for count in (0, 51, "3", True, 2.5):
        bad = client.post("/auth/mfa/recovery-codes", json={"count": count}, headers=bearer(completed))
        assert bad.status_code == 400, count
    default = client.post("/auth/mfa/recovery-codes", headers=bearer(completed)).get_json()["recovery_codes"]
    assert len(default) == 10 and len(set(default)) == 10


def test_a_recovery_code_works_once_and_regenerating_replaces_them(
    app: Flask, client: FlaskClient, auth: AuthActions, at_step, caplog
):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    _, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    old = client.post("/auth/mfa/recovery-codes", json={"count": 3}, headers=bearer(completed)).get_json()
    codes = client.post("/auth/mfa/recovery-codes", json={"count": 3}, headers=bearer(completed)).get_json()
    old_codes, new_codes = old["recovery_codes"], codes["recovery_codes"]
    assert refused(answer_challenge(client, login(client), "recovery_code", old_codes[0]), "Invalid MFA code")
    with app.app_context():
        stored = db.session.execute(db.select(MfaRecoveryCode.code_hash)).scalars().all()
        assert len(stored) == 3 and not set(stored) & set(new_codes)
    used = answer_challenge(client, login(client), "recovery_code", new_codes[0].upper().replace("-", " "))
    assert used.status_code == 200, used.get_json()
    # A recovery code stands in for a lost device: the identity's other sessions end.
    assert ended(client, completed)
    assert client.get("/admin/users/me", headers=bearer(used.get_json()["token"])).status_code == 200
    assert refused(answer_challenge(client, login(client), "recovery_code", new_codes[0]), "Invalid MFA code")
    assert [e["event"] for e in security_events(caplog)].count("mfa_recovery_code_used") == 1
    assert not any(c in caplog.text for c in (*old_codes, *new_codes))


# -- disabling -------------------------------------------------------------------------------------


def test_disabling_needs_a_code(client: FlaskClient, auth: AuthActions, at_step):
    factor_id, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    client.post("/auth/mfa/recovery-codes", json={"count": 2}, headers=bearer(completed))
    no_code = client.delete(f"/auth/mfa/factors/{factor_id}", headers=bearer(completed))
    assert no_code.status_code == 400
    assert refused(
        client.delete(f"/auth/mfa/factors/{factor_id}", json={"code": "333333"}, headers=bearer(completed)),
        "Invalid MFA code",
    )
    disabled = client.delete(
        f"/auth/mfa/factors/{factor_id}",
        json={"method": "totp", "code": code(secret, at_step)},
        headers=bearer(completed),
    )
    assert disabled.status_code == 200 and disabled.get_json()["mfa_factor"]["status"] == "disabled"
    assert ended(client, completed)
    plain = login(client)
    assert "mfa_required" not in plain and claims_of(plain["token"])["mfa_enabled"] is False
    assert client.get("/auth/mfa/factors", headers=bearer(plain["token"])).get_json() == {"mfa_factors": []}


def test_disabling_with_a_recovery_code(client: FlaskClient, auth: AuthActions, at_step):
    factor_id, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    (recovery,) = client.post("/auth/mfa/recovery-codes", json={"count": 1}, headers=bearer(completed)).get_json()[
        "recovery_codes"
    ]
    disabled = client.delete(
        f"/auth/mfa/factors/{factor_id}", json={"method": "recovery_code", "code": recovery}, headers=bearer(completed)
    )
    assert disabled.status_code == 200


# -- the guard ---------------------------------------------------------------------------------------


def _minted(app: Flask, actor_type: str, actor_id: str, identity_id: str, **mfa: Any) -> str:
    with app.app_context():
        return medusa_auth().tokens.issue_auth_token(identity_id, actor_id, {}, actor_type=actor_type, **mfa)


def test_a_token_with_mfa_enabled_and_no_completion_is_refused(app: Flask, client: FlaskClient, auth: AuthActions):
    claims = claims_of(auth.token())
    pending = _minted(app, "user", claims["actor_id"], claims["auth_identity_id"], mfa_enabled=True)
    assert refused(client.get("/admin/users/me", headers=bearer(pending)), MFA_REQUIRED_MESSAGE)
    assert refused(client.post("/auth/session", headers=bearer(pending)), MFA_REQUIRED_MESSAGE)
    completed = _minted(
        app,
        "user",
        claims["actor_id"],
        claims["auth_identity_id"],
        mfa_enabled=True,
        mfa_challenge_completed_at="2026-01-01T00:00:00Z",
    )
    assert client.get("/admin/users/me", headers=bearer(completed)).status_code == 200


def test_a_customer_token_with_mfa_enabled_and_no_completion_is_refused(app: Flask, client: FlaskClient):
    registration = client.post(
        "/auth/customer/emailpass/register", json={"email": "shopper@example.com", "password": PASSWORD}
    ).get_json()["token"]
    created = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(registration))
    customer_id = created.get_json()["customer"]["id"]
    identity_id = claims_of(registration)["auth_identity_id"]
    pending = _minted(app, "customer", customer_id, identity_id, mfa_enabled=True)
    assert refused(client.get("/store/customers/me", headers=bearer(pending)), MFA_REQUIRED_MESSAGE)


def test_a_session_keeps_the_completion(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    # A challenge token makes no session: the browser holds the challenge, which opens nothing protected.
    assert client.post("/auth/session", headers=bearer(login(client)["token"])).status_code == 200
    assert refused(client.get(ME)) and refused(client.get("/auth/mfa/factors"))
    completed = signed_in(client, secret, at_step)
    session = client.post("/auth/session", headers=bearer(completed))
    assert session.status_code == 200
    assert client.get("/admin/users/me").status_code == 200
    assert client.get("/auth/mfa/factors").status_code == 200


# -- session mode: the browser holds the challenge (Medusa's JS SDK with auth: {type: "session"}) ----------------


def hold(client: FlaskClient, answer: dict[str, Any]) -> dict[str, Any]:
    """What the SDK's login does in session mode: the challenge token to POST /auth/session, the browser keeps it."""
    response = client.post("/auth/session", headers=bearer(answer["token"]))
    assert response.status_code == 200, response.get_json()
    held: dict[str, Any] = response.get_json()
    return held


def answer_by_cookie(
    client: FlaskClient, answer: dict[str, Any], method: str, value: str, headers: dict[str, str] | None = None, **env
) -> Any:
    """The SDK's verifyChallenge in session mode: no Authorization header, the browser's cookies."""
    path = f"/auth/mfa/challenges/{answer['mfa_challenge']['id']}/verify"
    return client.post(path, json={"method": method, "code": value}, headers=headers or {}, environ_base=env)


def actor_with_totp(client: FlaskClient, auth: AuthActions, actor: str, clock: FakeClock) -> tuple[str, str]:
    """An admin (``user``) or a shopper (``customer``) with TOTP on: (email, secret)."""
    if actor == "user":
        token = auth.token(EMAIL)
        email = EMAIL
    else:
        email = "shopper@example.com"
        body = {"email": email, "password": PASSWORD}
        registration = client.post("/auth/customer/emailpass/register", json=body).get_json()["token"]
        created = client.post("/store/customers", json={"email": email}, headers=bearer(registration))
        assert created.status_code == 200, created.get_json()
        token = login(client, email, "customer")["token"]
    _, secret = enrol(client, token, clock)
    return email, secret


def test_session_mode_the_browser_holds_the_challenge_and_answers_it_by_cookie(
    client: FlaskClient, auth: AuthActions, at_step, caplog
):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    held = hold(client, answer)
    # Medusa's answer, {user: auth_context}: the challenge token's claims.
    assert held["user"]["mfa_challenge_id"] == answer["mfa_challenge"]["id"] and held["user"]["actor_id"] == ""
    assert client.get_cookie(SESSION_COOKIE) is None  # no session: a challenge is no sign-in
    right = code(secret, at_step)
    verified = answer_by_cookie(client, answer, "totp", right)
    assert verified.status_code == 200, verified.get_json()
    token = verified.get_json()["token"]
    claims = claims_of(token)
    assert claims["actor_id"].startswith("user_") and claims["mfa_challenge_completed_at"] == "2023-11-14T22:14:00Z"
    # Taken: the browser holds it no more (the guard's 401, not the service's "spent").
    assert refused(answer_by_cookie(client, answer, "totp", code(secret, at_step, 1)))
    assert refused(client.get(ME))  # the token is the client's to make a session of, as the SDK then does
    start_session(client, token)
    assert client.get(ME).status_code == 200 and client.get("/auth/mfa/factors").status_code == 200
    # A code is accepted once, by cookie too.
    again = login(client)
    hold(client, again)
    assert refused(answer_by_cookie(client, again, "totp", right), "Invalid MFA code")
    assert [e["step"] for e in security_events(caplog, "pending_step_kept")] == ["mfa_challenge"] * 2
    assert answer["token"] not in caplog.text and token not in caplog.text


def test_session_mode_wrong_codes_count_and_five_spend_the_challenge(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    hold(client, answer)
    for _ in range(4):
        assert refused(answer_by_cookie(client, answer, "totp", "111111"), "Invalid MFA code")
    assert refused(answer_by_cookie(client, answer, "totp", "111111"), SPENT)
    # From another address, past the login throttle's (account, address) counter: the challenge's own limit.
    assert refused(answer_by_cookie(client, answer, "totp", code(secret, at_step), REMOTE_ADDR="192.0.2.7"), SPENT)


def test_a_held_challenge_opens_nothing_else(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    hold(client, answer)
    for method, path in [
        ("GET", ME),
        ("GET", "/admin/users"),
        ("POST", "/auth/token/refresh"),
        ("GET", "/auth/mfa/factors"),
        ("POST", "/auth/mfa/recovery-codes"),
        ("GET", "/auth/passkeys"),
        ("POST", "/auth/verification/request"),
        ("POST", "/auth/user/emailpass/update"),
        ("GET", "/store/customers/me"),
        ("POST", "/store/customers"),
        ("POST", "/admin/invites/accept?token=x"),
    ]:
        assert refused(client.open(path, method=method, json={}, headers=OUR_ORIGIN)), path
    # Control: the browser still holds it, and it answers its challenge.
    assert answer_by_cookie(client, answer, "totp", code(secret, at_step)).status_code == 200


def test_a_cross_site_post_with_a_held_challenge_is_refused(client: FlaskClient, auth: AuthActions, at_step, caplog):
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    hold(client, answer)
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        for step in ("verify", "options"):
            response = client.post(f"/auth/mfa/challenges/{answer['mfa_challenge']['id']}/{step}", headers=headers)
            assert response.status_code == 403 and response.get_json()["type"] == "not_allowed", (headers, step)
    assert len(security_events(caplog, "cross_site_refused")) == 6
    # Control: from our own origin the same answer is taken (the challenge was not spent by the refusals).
    assert answer_by_cookie(client, answer, "totp", code(secret, at_step), OUR_ORIGIN).status_code == 200


@pytest.mark.parametrize(("actor", "protected"), [("customer", "/store/customers/me"), ("user", ME)])
def test_a_challenge_held_for_the_api_is_not_finished_on_the_sign_in_page(
    client: FlaskClient, auth: AuthActions, at_step, actor: str, protected: str
):
    """The page finishes only the admin's challenge it started itself: a customer's must never become an admin's
    page session, and the API's token goes back to the API client."""
    email, secret = actor_with_totp(client, auth, actor, at_step)
    answer = login(client, email, actor)
    hold(client, answer)
    assert client.get("/app/login/code").headers["Location"] == "/app/login"
    form = {"csrf_token": csrf_token(client, "/app/login"), "code": code(secret, at_step)}
    posted = client.post("/app/login/code", data=form)
    assert posted.status_code == 302 and posted.headers["Location"] == "/app/login"
    assert client.get_cookie(SESSION_COOKIE) is None and refused(client.get(protected))
    # Control: the API finishes it by cookie, for either actor type, with the same code (it was not used).
    verified = answer_by_cookie(client, answer, "totp", code(secret, at_step))
    assert verified.status_code == 200, verified.get_json()
    start_session(client, verified.get_json()["token"])
    assert client.get(protected).status_code == 200


def test_holding_a_challenge_ends_the_browsers_earlier_session(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    start_session(client, completed)
    assert client.get(ME).status_code == 200
    hold(client, login(client))  # a new sign-in is under way in this browser
    assert client.get_cookie(SESSION_COOKIE) is None and refused(client.get(ME))
    # As a new session's start: the earlier sign-in's bearer tokens are not this browser's to end.
    assert client.get(ME, headers=bearer(completed)).status_code == 200


def test_a_held_challenge_ends_with_the_challenges_lifetime(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    answer = login(client)
    hold(client, answer)
    at_step.move(challenges.LIFETIME_SECONDS - 1)
    assert refused(answer_by_cookie(client, answer, "totp", "111111"), "Invalid MFA code")  # still held
    at_step.move(2)
    assert refused(answer_by_cookie(client, answer, "totp", code(secret, at_step)))  # dropped: the guard's 401


def test_a_held_challenge_from_before_a_password_change_is_refused(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    answer = login(client)
    hold(client, answer)
    changed = client.post(
        "/auth/user/emailpass/update",
        json={"current_password": PASSWORD, "password": PASSWORD + "-new"},
        headers=bearer(completed),
    )
    assert changed.status_code == 200, changed.get_json()
    assert refused(answer_by_cookie(client, answer, "totp", code(secret, at_step)))
    assert refused(client.post("/auth/session", headers=bearer(answer["token"])))


@pytest.mark.settings(MFA_REQUIRED_FOR="user")
def test_mfa_required_for_keeps_an_actor_without_a_factor_to_enrolment(client: FlaskClient, auth: AuthActions, at_step):
    token = auth.token()
    assert refused(client.get("/admin/users/me", headers=bearer(token)), MFA_ENROLMENT_REQUIRED_MESSAGE)
    assert client.get("/auth/mfa/factors", headers=bearer(token)).status_code == 200
    _, secret = enrol(client, token, at_step)
    assert client.get("/admin/users/me", headers=bearer(signed_in(client, secret, at_step))).status_code == 200
    shopper = client.post("/auth/customer/emailpass/register", json={"email": "s@example.com", "password": PASSWORD})
    created = client.post(
        "/store/customers", json={"email": "s@example.com"}, headers=bearer(shopper.get_json()["token"])
    )
    assert created.status_code == 200  # customers are not named: no factor needed


# -- secrets at rest and settings --------------------------------------------------------------------


def test_a_sealed_secret_copied_to_another_factor_does_not_open(
    app: Flask, client: FlaskClient, auth: AuthActions, at_step
):
    first = start(client, auth.token())
    second = start(client, auth.token("other@example.com"))
    with app.app_context():
        rows = [db.session.get(MfaFactor, s["mfa_factor"]["id"]) for s in (first, second)]
        assert rows[0] is not None and rows[1] is not None
        rows[1].sealed_secret = rows[0].sealed_secret
        db.session.commit()
    other = auth.login("other@example.com")
    copied = client.post(
        f"/auth/mfa/factors/{second['mfa_factor']['id']}/verify",
        json={"code": code(first["secret"], at_step)},
        headers=bearer(other),
    )
    assert refused(copied, "Invalid MFA code")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MFA_ENCRYPTION_KEY", "too-short"),
        ("MFA_REQUIRED_FOR", "User!"),
        ("MFA_REQUIRED_FOR", "user,api-key"),  # a machine's secret key has no second factor to enrol
        ("AUTH_VERIFICATIONS_PER_ACTOR", "customer=emailpass"),
        ("AUTH_VERIFICATIONS_PER_ACTOR", "customer=emailpass:phone"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(tmp_path, name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        load_settings(str(tmp_path), {"APP_ENV": "test", name: value})


def test_settings_are_read(tmp_path):
    settings = load_settings(
        str(tmp_path),
        {
            "APP_ENV": "test",
            "MFA_REQUIRED_FOR": "user, customer",
            "AUTH_VERIFICATIONS_PER_ACTOR": "customer=emailpass:email",
        },
    )
    assert settings.mfa.required_for == {"user", "customer"}
    assert settings.mfa.verification_for("customer", "emailpass") == "email"
    assert settings.mfa.verification_for("user", "emailpass") is None


def test_the_purge_removes_expired_challenges_and_abandoned_enrolments(
    app: Flask, client: FlaskClient, auth: AuthActions, at_step
):
    from medusa_auth import purge
    from medusa_auth.models import MfaChallenge

    enrol(client, auth.token(), at_step)
    login(client)
    abandoned = start(client, auth.token("other@example.com"))["mfa_factor"]["id"]
    # Rows are stamped with the real time (models.utcnow); the purge is asked about a day later than that.
    a_day_later = datetime.now(UTC) + timedelta(days=1, seconds=1)
    with app.app_context():
        counts = {step.name: count for step, count in purge.run(purge.PurgeOptions(now=a_day_later)).items()}
        assert counts["MFA challenges"] == 1 and counts["abandoned MFA enrolments"] == 1
        assert db.session.execute(db.select(MfaChallenge)).first() is None
        remaining = db.session.execute(db.select(MfaFactor.id, MfaFactor.status)).all()
        assert [status for _, status in remaining] == ["enabled"] and abandoned not in [i for i, _ in remaining]


# -- sign-in sessions (SPEC §12) and API keys (SPEC §13) ------------------------------------------------


def _sign_ins(app: Flask, identity_id: str) -> int:
    with app.app_context():
        rows = db.session.execute(db.select(SignInSession.id).filter_by(auth_identity_id=identity_id)).scalars()
        return len(list(rows))


def test_the_sign_in_session_starts_when_the_challenge_is_passed(
    app: Flask, client: FlaskClient, auth: AuthActions, at_step
):
    _, secret = enrol(client, auth.token(), at_step)
    identity_id = claims_of(login(client)["token"])["auth_identity_id"]
    before = _sign_ins(app, identity_id)
    challenge = login(client)
    assert "sid" not in claims_of(challenge["token"]) and "auth_time" not in claims_of(challenge["token"])
    assert _sign_ins(app, identity_id) == before  # a challenge is no sign-in: an abandoned one leaves nothing
    at_step.move(7)
    completed = answer_challenge(client, challenge, "totp", code(secret, at_step)).get_json()["token"]
    claims = claims_of(completed)
    assert _sign_ins(app, identity_id) == before + 1
    with app.app_context():
        row = db.session.get(SignInSession, claims["sid"])
        assert row is not None and (row.actor_type, row.auth_provider) == ("user", "emailpass")
    assert claims["auth_time"] == int(at_step()) and claims["mfa_challenge_completed_at"] == "2023-11-14T22:14:07Z"
    at_step.move(60)
    refreshed = claims_of(client.post("/auth/token/refresh", headers=bearer(completed)).get_json()["token"])
    kept = ("sid", "auth_time", "mfa_enabled", "mfa_challenge_completed_at")
    assert {k: refreshed[k] for k in kept} == {k: claims[k] for k in kept}
    assert client.post("/auth/logout", headers=bearer(completed)).get_json() == {"success": True}
    assert ended(client, completed)


def test_a_completed_sign_in_signs_out_of_its_browser_session_too(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    assert client.post("/auth/session", headers=bearer(completed)).status_code == 200
    assert client.get(ME).status_code == 200  # the session kept the completion
    assert client.delete("/auth/session").get_json() == {"success": True}
    assert ended(client, completed)


def test_enabling_and_disabling_over_the_api_answer_the_bearer_a_new_sign_in(
    client: FlaskClient, auth: AuthActions, at_step
):
    token, other_device = auth.token(), auth.login()
    started = start(client, token)
    factor_id, secret = started["mfa_factor"]["id"], started["secret"]
    enabled = client.post(
        f"/auth/mfa/factors/{factor_id}/verify", json={"code": code(secret, at_step)}, headers=bearer(token)
    ).get_json()
    assert enabled["mfa_factor"]["status"] == "enabled"
    fresh = claims_of(enabled["token"])
    assert fresh["sid"] != claims_of(token)["sid"] and fresh["mfa_enabled"] is True
    assert fresh["mfa_challenge_completed_at"] == "2023-11-14T22:13:30Z"  # the code it proved, now
    assert ended(client, token) and ended(client, other_device)
    assert client.get(ME, headers=bearer(enabled["token"])).status_code == 200
    at_step.move(30)
    disabled = client.delete(
        f"/auth/mfa/factors/{factor_id}", json={"code": code(secret, at_step)}, headers=bearer(enabled["token"])
    ).get_json()
    assert disabled["mfa_factor"]["status"] == "disabled"
    assert claims_of(disabled["token"])["mfa_enabled"] is False
    assert ended(client, enabled["token"])
    assert client.get(ME, headers=bearer(disabled["token"])).status_code == 200


def test_changing_ones_password_keeps_the_second_factor_passed(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    completed = signed_in(client, secret, at_step)
    changed = client.post(
        "/auth/user/emailpass/update",
        json={"current_password": PASSWORD, "password": PASSWORD + "-new"},
        headers=bearer(completed),
    )
    assert changed.status_code == 200, changed.get_json()
    token = changed.get_json()["token"]
    assert claims_of(token)["mfa_challenge_completed_at"] == claims_of(completed)["mfa_challenge_completed_at"]
    assert claims_of(token)["sid"] != claims_of(completed)["sid"]
    assert ended(client, completed)
    assert client.get(ME, headers=bearer(token)).status_code == 200


@pytest.mark.settings(MFA_REQUIRED_FOR="user")
def test_a_secret_api_key_is_never_asked_for_a_second_factor(client: FlaskClient, auth: AuthActions, at_step):
    _, secret = enrol(client, auth.token(), at_step)
    admin = bearer(signed_in(client, secret, at_step))
    key = client.post("/admin/api-keys", json={"title": "ci", "type": "secret"}, headers=admin).get_json()["api_key"]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key['token']}:".encode()).decode()}
    listed = client.get("/admin/users", headers=basic)
    assert listed.status_code == 200, listed.get_json()
    assert client.get(f"/admin/api-keys/{key['id']}", headers=basic).status_code == 200
