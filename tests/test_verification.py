"""Verification (SPEC §11): AUTH_VERIFICATIONS_PER_ACTOR, the verification form at sign-in, request and confirm,
with the code read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, FakeClock, bearer, claims_of, header_of, start_session
from tests.web_fixtures import Mailbox, text_part

EMAIL = "shopper@example.com"
_CODE = re.compile(r"code is (\d{6})")


@pytest.fixture
def settings(settings, mailbox):
    return {**settings, **mailbox.settings(), "AUTH_VERIFICATIONS_PER_ACTOR": "customer=emailpass:email"}


def shopper(client: FlaskClient, email: str = EMAIL) -> None:
    registration = client.post("/auth/customer/emailpass/register", json={"email": email, "password": PASSWORD})
    created = client.post("/store/customers", json={"email": email}, headers=bearer(registration.get_json()["token"]))
    assert created.status_code == 200, created.get_json()


def login(client: FlaskClient, email: str = EMAIL, actor: str = "customer") -> dict[str, Any]:
    response = client.post(f"/auth/{actor}/emailpass", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def request_code(client: FlaskClient, token: str | None, mailbox: Mailbox, count: int = 1, email: str = EMAIL) -> str:
    """Ask for a code with ``token`` (None: by the browser's cookie); the code, read from the mail."""
    response = client.post(
        "/auth/verification/request", json={"entity_id": email, "entity_type": "email"}, headers=_credential(token)
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["verification"]["verified_at"] is None
    message = mailbox.wait_for(count)[-1]
    assert message["To"] == email
    match = _CODE.search(text_part(message))
    assert match, text_part(message)
    return match.group(1)


def confirm(client: FlaskClient, token: str | None, code: str, **headers: str) -> Any:
    return client.post("/auth/verification/confirm", json={"code": code}, headers={**_credential(token), **headers})


def _credential(token: str | None) -> dict[str, str]:
    return bearer(token) if token is not None else {}


def test_an_unverified_sign_in_answers_the_verification_form_and_its_token_opens_nothing_else(client: FlaskClient):
    shopper(client)
    answer = login(client)
    assert answer["verification_required"] is True
    assert answer["verification"] == {
        "entity_id": EMAIL,
        "entity_type": "email",
        "code_provider": "email",
        "verified_at": None,
    }
    assert header_of(answer["token"])["typ"] == "verification+jwt" and claims_of(answer["token"])["actor_id"] == ""
    for method, path in [  # POST /auth/session takes it: the browser holds the verification (session mode, below)
        ("GET", "/store/customers/me"),
        ("POST", "/auth/token/refresh"),
        ("GET", "/auth/mfa/factors"),
        ("POST", "/store/customers"),
    ]:
        response = client.open(path, method=method, headers=bearer(answer["token"]), json={})
        assert response.status_code == 401, path


def test_the_mailed_code_verifies_once_and_the_next_sign_in_is_ordinary(client: FlaskClient, mailbox: Mailbox):
    shopper(client)
    token = login(client)["token"]
    code = request_code(client, token, mailbox)
    wrong = confirm(client, token, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "Invalid verification code"
    confirmed = confirm(client, token, code)
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert (body["entity_id"], body["entity_type"], body["code_provider"]) == (EMAIL, "email", "email")
    assert body["verified_at"].endswith("Z")
    assert confirm(client, token, code).status_code == 401  # single use
    access = login(client)
    assert "verification_required" not in access
    assert client.get("/store/customers/me", headers=bearer(access["token"])).status_code == 200


def test_five_wrong_codes_spend_it_and_a_new_request_replaces_it(client: FlaskClient, mailbox: Mailbox):
    shopper(client)
    token = login(client)["token"]
    first = request_code(client, token, mailbox)
    wrong = "000000" if first != "000000" else "111111"
    assert [confirm(client, token, wrong).status_code for _ in range(5)] == [401] * 5
    spent = confirm(client, token, first)
    assert spent.status_code == 401 and "request a new one" in spent.get_json()["message"]
    second = request_code(client, token, mailbox, count=2)
    assert confirm(client, token, second).status_code == 200


def test_a_code_lasts_fifteen_minutes(client: FlaskClient, mailbox: Mailbox, frozen_clock: FakeClock):
    shopper(client)
    token = login(client)["token"]
    code = request_code(client, token, mailbox)
    frozen_clock.move(15 * 60 + 1)
    assert confirm(client, token, code).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"entity_id": "someone-else@example.com", "entity_type": "email"},
        {"entity_id": EMAIL, "entity_type": "phone"},
        {"entity_id": EMAIL, "entity_type": "email", "code_provider": "sms"},
        {"entity_type": "email"},
    ],
)
def test_request_refuses_what_is_not_the_identitys_own_email(client: FlaskClient, body: dict[str, Any]):
    shopper(client)
    response = client.post("/auth/verification/request", json=body, headers=bearer(login(client)["token"]))
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


# -- session mode: the browser holds the verification (Medusa's JS SDK with auth: {type: "session"}) ---------------


def test_session_mode_the_browser_holds_the_verification_and_confirms_it_by_cookie(
    client: FlaskClient, mailbox: Mailbox
):
    shopper(client)
    answer = login(client)
    held = client.post("/auth/session", headers=bearer(answer["token"]))  # what the SDK's login does
    assert held.status_code == 200, held.get_json()
    assert held.get_json()["user"]["verification_entity_type"] == "email" and held.get_json()["user"]["actor_id"] == ""
    assert client.get_cookie("__Host-medusa_session") is None  # no session: the sign-in is not done
    code = request_code(client, None, mailbox)
    wrong = confirm(client, None, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "Invalid verification code"
    confirmed = confirm(client, None, code)
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["entity_id"] == EMAIL and confirmed.get_json()["verified_at"].endswith("Z")
    # Taken: the browser holds it no more (the guard's 401, not the service's).
    gone = confirm(client, None, code)
    assert gone.status_code == 401 and gone.get_json()["message"] == "Invalid auth token provided"
    access = login(client)  # the SDK signs in again: an ordinary sign-in now, whose token makes the session
    assert "verification_required" not in access
    start_session(client, access["token"])
    assert client.get("/store/customers/me").status_code == 200


def test_a_held_verification_opens_nothing_else_and_no_cross_site_post(client: FlaskClient, mailbox: Mailbox):
    shopper(client)
    held = client.post("/auth/session", headers=bearer(login(client)["token"]))
    assert held.status_code == 200
    for method, path in [
        ("GET", "/store/customers/me"),
        ("POST", "/store/customers/me"),
        ("POST", "/auth/token/refresh"),
        ("GET", "/auth/mfa/factors"),
        ("POST", "/auth/mfa/challenges/mfachal_x/verify"),
        ("GET", "/auth/passkeys"),
        ("POST", "/auth/customer/emailpass/update"),
    ]:
        response = client.open(path, method=method, json={})
        assert response.status_code == 401 and response.get_json()["message"] == "Invalid auth token provided", path
    cross_site = confirm(client, None, "123456", Origin="https://evil.example")
    assert cross_site.status_code == 403 and cross_site.get_json()["type"] == "not_allowed"
    # Control: from our own origin the browser's verification is taken.
    assert request_code(client, None, mailbox)


def test_actor_types_not_named_sign_in_as_before(client: FlaskClient, auth):
    auth.create_user()
    answer = client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": PASSWORD}).get_json()
    assert set(answer) == {"token"}
