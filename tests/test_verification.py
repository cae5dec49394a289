"""Verification (SPEC §11): AUTH_VERIFICATIONS_PER_ACTOR, the verification form at sign-in, request and confirm,
with the code read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, FakeClock, bearer, claims_of, header_of
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


def request_code(client: FlaskClient, token: str, mailbox: Mailbox, count: int = 1, email: str = EMAIL) -> str:
    response = client.post(
        "/auth/verification/request", json={"entity_id": email, "entity_type": "email"}, headers=bearer(token)
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["verification"]["verified_at"] is None
    message = mailbox.wait_for(count)[-1]
    assert message["To"] == email
    match = _CODE.search(text_part(message))
    assert match, text_part(message)
    return match.group(1)


def confirm(client: FlaskClient, token: str, code: str) -> Any:
    return client.post("/auth/verification/confirm", json={"code": code}, headers=bearer(token))


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
    for method, path in [
        ("GET", "/store/customers/me"),
        ("POST", "/auth/session"),
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


def test_actor_types_not_named_sign_in_as_before(client: FlaskClient, auth):
    auth.create_user()
    answer = client.post("/auth/user/emailpass", json={"email": "admin@example.com", "password": PASSWORD}).get_json()
    assert set(answer) == {"token"}
