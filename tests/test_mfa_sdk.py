"""SPEC §11 through Medusa's own JS SDK (@medusajs/js-sdk 2.21): sdk.auth.mfa.*, and sdk.auth.login's challenge.

Real node running tests/interop/mfa.js (which computes TOTP codes with its own RFC 6238, as an authenticator
app would) against a real gunicorn; on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import backends, claims_of, empty_database, load_private, make_issuer, run_sdk, skip_without_node
from tests.live import FLASK, LiveServer, live_server, run_command
from tests.web_fixtures import Mailbox, running_mailbox, text_part

pytestmark = pytest.mark.slow

NODE_TIMEOUT = 90  # a scenario may wait up to 15 s for the start of a TOTP step
PASSWORD = "correct horse battery staple"
MFA_REQUIRED = {"status": 401, "message": "MFA verification is required to complete this request"}
INVALID_CODE = {"status": 401, "message": "Invalid MFA code"}
SPENT = {"status": 401, "message": "MFA challenge is expired or has no attempts left"}
INVALID_TOKEN = {"status": 401, "message": "Invalid auth token provided"}

skip_without_node("@medusajs/js-sdk")


@dataclass
class Service:
    server: LiveServer

    def sdk(self, scenario: str, *args: str) -> dict[str, Any]:
        return run_sdk("mfa.js", scenario, self.server.base_url, *args, timeout=NODE_TIMEOUT)

    def admin(self, email: str) -> str:
        """A new admin (the CLI), for a scenario of its own: each has its own login-throttle counters."""
        self.flask("users", "create", "--email", email, "--password", PASSWORD)
        return email

    def flask(self, *args: str) -> str:
        return run_command([FLASK, "--app", "wsgi", *args], self.server.env)


def _service(request, tmp_path_factory, rsa_pem: str, extra: dict[str, str]) -> Iterator[Service]:
    if request.param:
        extra = {**extra, "DATABASE_URL": request.param}
    try:
        with live_server(tmp_path_factory.mktemp("mfa"), extra_env=extra, private_key_pem=rsa_pem) as server:
            yield Service(server)
    finally:
        if request.param:
            empty_database(request.param, rsa_pem)


@pytest.fixture(scope="module", params=backends())
def service(request, tmp_path_factory: pytest.TempPathFactory, database_url: str, rsa_pem: str) -> Iterator[Service]:
    yield from _service(request, tmp_path_factory, rsa_pem, {})


def test_start_verify_login_challenge_and_a_protected_route(service: Service):
    email = service.admin("journey@example.com")
    answer = service.sdk("journey", email, PASSWORD)
    assert answer["started"]["mfa_factor"]["status"] == "pending"
    assert answer["started"]["otpauth_url"].startswith("otpauth://totp/")
    assert answer["enabled"]["status"] == "enabled"
    assert [f["status"] for f in answer["listed"]["mfa_factors"]] == ["enabled"]
    assert "secret" not in json.dumps(answer["listed"])
    assert answer["beforeMfaRefresh"] == INVALID_TOKEN  # enabling ended the password-only sign-in
    enrolled = claims_of(answer["enrolledToken"])  # ...and answered the caller a new one, second factor passed
    assert enrolled["mfa_enabled"] is True and isinstance(enrolled["mfa_challenge_completed_at"], str)
    assert enrolled["sid"] != claims_of(answer["beforeMfa"])["sid"] and answer["enrolledUser"]["email"] == email
    challenged = answer["challenged"]
    assert challenged["mfa_required"] is True
    assert challenged["mfa_challenge"]["methods"] == ["totp", "recovery_code"]
    assert challenged["mfa_challenge"]["max_attempts"] == 5
    assert claims_of(challenged["token"])["actor_id"] == ""
    assert answer["challengeOnAdmin"] == INVALID_TOKEN  # the challenge token opens nothing else
    completed = claims_of(answer["completed"])
    assert completed["mfa_enabled"] is True and isinstance(completed["mfa_challenge_completed_at"], str)
    assert completed["sid"].startswith("sess_") and completed["sid"] != enrolled["sid"]  # the sign-in starts here
    assert answer["user"]["email"] == email and completed["actor_id"] == answer["user"]["id"]
    refreshed = claims_of(answer["refreshed"])
    assert [refreshed[k] for k in ("sid", "auth_time", "mfa_challenge_completed_at")] == [
        completed[k] for k in ("sid", "auth_time", "mfa_challenge_completed_at")
    ]
    assert answer["replayed"] == INVALID_CODE


def test_session_mode_login_challenge_verify_and_the_dashboards_session(service: Service):
    """Medusa's admin dashboard runs the SDK with auth: {type: "session"}: the challenge token goes to
    /auth/session, verifyChallenge sends the cookie alone, and the token it gets becomes the session."""
    email = service.admin("session-journey@example.com")
    answer = service.sdk("sessionJourney", email, PASSWORD)
    assert answer["enabled"]["status"] == "enabled" and answer["enrolledUser"]["email"] == email
    challenged = answer["challenged"]
    assert challenged["mfa_required"] is True and challenged["mfa_challenge"]["methods"] == ["totp", "recovery_code"]
    assert claims_of(challenged["token"])["actor_id"] == ""
    assert not any("medusa_session" in name for name in answer["cookiesWhileWaiting"])  # a challenge is no session
    assert answer["waitingOnAdmin"] == INVALID_TOKEN and answer["waitingOnFactors"] == INVALID_TOKEN
    assert answer["wrong"] == INVALID_CODE
    completed = claims_of(answer["completed"])
    assert completed["mfa_enabled"] is True and isinstance(completed["mfa_challenge_completed_at"], str)
    assert answer["user"]["email"] == email and completed["actor_id"] == answer["user"]["id"]
    assert [f["status"] for f in answer["listed"]["mfa_factors"]] == ["enabled"]
    assert answer["takenAgain"] == INVALID_TOKEN  # the browser holds the challenge no more
    assert answer["replayed"] == INVALID_CODE  # the same code on the next sign-in's challenge
    assert answer["afterNewSignIn"] == INVALID_TOKEN  # that sign-in, under way, ended the browser's session


def test_session_mode_five_wrong_codes_spend_the_challenge(service: Service):
    answer = service.sdk("sessionWrongCodes", service.admin("session-wrong@example.com"), PASSWORD)
    assert answer["wrong"] == [INVALID_CODE] * 4 + [SPENT]
    assert answer["right"]["status"] == 429  # the login throttle answers first, as with a bearer
    assert answer["onAdmin"] == INVALID_TOKEN


def test_five_wrong_codes_spend_the_challenge(service: Service):
    answer = service.sdk("wrongCodes", service.admin("wrong@example.com"), PASSWORD)
    assert answer["wrong"] == [INVALID_CODE] * 4 + [SPENT]
    # The right code after them: the login throttle (5 failures per account and address) answers first.
    assert answer["right"]["status"] == 429


def test_a_recovery_code_works_once_and_disabling_needs_a_code(service: Service):
    email = service.admin("recovery@example.com")
    answer = service.sdk("recovery", email, PASSWORD)
    assert len(answer["codes"]) == 2
    assert answer["user"]["email"] == email
    assert answer["completedAfterRecovery"] == INVALID_TOKEN  # a recovery code ends the other sessions
    assert answer["reused"] == INVALID_CODE
    assert answer["disableWithoutCode"]["status"] == 400
    assert answer["disableWrongCode"] == INVALID_CODE
    assert answer["disabled"]["mfa_factor"]["status"] == "disabled"
    assert isinstance(answer["plain"], str) and claims_of(answer["plain"])["mfa_enabled"] is False


def test_a_token_with_mfa_enabled_and_no_completion_is_refused(service: Service, rsa_pem: str):
    server = service.server
    admin_claims = claims_of(server.login(service.admin("pending@example.com"), PASSWORD))
    run_command(
        [
            FLASK,
            "--app",
            "wsgi",
            "customers",
            "create",
            "--email",
            "pending-shopper@example.com",
            "--password",
            PASSWORD,
        ],
        server.env,
    )
    shopper = server.post(
        "/auth/customer/emailpass", json_body={"email": "pending-shopper@example.com", "password": PASSWORD}
    )
    customer_claims = claims_of(shopper.json()["token"])
    issuer = make_issuer({"JWT_SECRET_KEY": rsa_pem}, load_private(rsa_pem))
    now = int(time.time())

    def minted(claims: dict[str, Any], **mfa: Any) -> str:
        return issuer.craft({**claims, "iat": now, "exp": now + 600, **mfa})

    pending = {"mfa_enabled": True, "mfa_challenge_completed_at": None}
    refused = service.sdk("pending", minted(admin_claims, **pending), minted(customer_claims, **pending))
    assert refused == {"admin": MFA_REQUIRED, "customer": MFA_REQUIRED}
    # Control: the same tokens, completed, open both routes (the crafting is not why they were refused).
    done = {"mfa_enabled": True, "mfa_challenge_completed_at": "2026-01-01T00:00:00Z"}
    opened = service.sdk("pending", minted(admin_claims, **done), minted(customer_claims, **done))
    assert opened["admin"]["user"]["id"] == admin_claims["actor_id"]
    assert opened["customer"]["customer"]["id"] == customer_claims["actor_id"]


@pytest.fixture(scope="module", params=backends())
def strict(request, tmp_path_factory: pytest.TempPathFactory, database_url: str, rsa_pem: str) -> Iterator[Service]:
    yield from _service(request, tmp_path_factory, rsa_pem, {"MFA_REQUIRED_FOR": "user"})


def test_mfa_required_for_users_keeps_an_admin_without_a_factor_out(strict: Service):
    email = strict.admin("required@example.com")
    answer = strict.sdk("required", email, PASSWORD)
    assert answer["withoutFactor"] == {"status": 401, "message": "MFA enrolment is required to complete this request"}
    assert answer["factors"] == {"mfa_factors": []}
    assert answer["user"]["email"] == email


@pytest.fixture(scope="module", params=backends())
def verifying(request, tmp_path_factory: pytest.TempPathFactory, database_url: str, rsa_pem: str) -> Iterator[Any]:
    """Customers must verify their email (AUTH_VERIFICATIONS_PER_ACTOR); mail goes to a real SMTP server."""
    with running_mailbox() as mailbox:
        extra = {**mailbox.settings(), "AUTH_VERIFICATIONS_PER_ACTOR": "customer=emailpass:email"}
        for service in _service(request, tmp_path_factory, rsa_pem, extra):
            yield service, mailbox


def test_verification_request_and_confirm_with_the_mailed_code(verifying: tuple[Service, Mailbox]):
    service, mailbox = verifying
    email = "verify-me@example.com"
    service.flask("customers", "create", "--email", email, "--password", PASSWORD)
    requested = service.sdk("verificationRequest", email, PASSWORD)
    assert requested["answer"]["verification_required"] is True
    assert requested["answer"]["verification"]["entity_id"] == email
    assert requested["onStore"] == INVALID_TOKEN  # the verification token opens nothing else
    assert requested["requested"]["verification"]["entity_type"] == "email"
    [message] = [m for m in mailbox.wait_for(1) if m["To"] == email]
    code = re.search(r"code is (\d{6})", text_part(message))
    assert code is not None
    confirmed = service.sdk("verificationConfirm", requested["answer"]["token"], code.group(1), email, PASSWORD)
    assert confirmed["wrong"] == {"status": 401, "message": "Invalid verification code"}
    assert confirmed["confirmed"]["entity_id"] == email and confirmed["confirmed"]["verified_at"]
    assert confirmed["again"]["status"] == 401  # the code works once
    assert claims_of(confirmed["access"])["actor_id"] == confirmed["customer"]["id"]


def test_session_mode_verification_with_the_mailed_code(verifying: tuple[Service, Mailbox]):
    """A storefront in session mode: login keeps the verification in the browser; request and confirm go with the
    cookie alone; signing in again makes the session."""
    service, mailbox = verifying
    email = "session-verify@example.com"
    service.flask("customers", "create", "--email", email, "--password", PASSWORD)
    before = len(mailbox.messages)  # the mailbox serves the module
    requested = service.sdk("sessionVerificationRequest", email, PASSWORD)
    assert requested["answer"]["verification_required"] is True
    assert requested["answer"]["verification"]["entity_id"] == email
    assert requested["onStore"] == INVALID_TOKEN  # the held verification opens nothing else
    assert requested["requested"]["verification"]["entity_type"] == "email"
    assert not any("medusa_session" in name for name in requested["cookies"])
    [message] = [m for m in mailbox.wait_for(before + 1) if m["To"] == email]
    code = re.search(r"code is (\d{6})", text_part(message))
    assert code is not None
    cookies = json.dumps(requested["cookies"])
    confirmed = service.sdk("sessionVerificationConfirm", cookies, code.group(1), email, PASSWORD)
    assert confirmed["wrong"] == {"status": 401, "message": "Invalid verification code"}
    assert confirmed["confirmed"]["entity_id"] == email and confirmed["confirmed"]["verified_at"]
    assert confirmed["again"] == INVALID_TOKEN  # taken: the browser holds it no more
    assert isinstance(confirmed["access"], str) and confirmed["customer"]["email"] == email
