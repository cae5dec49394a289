"""SPEC §9 through Medusa's own JS SDK (@medusajs/js-sdk 2.21): a storefront's sign-up, account, refresh and
reset; an admin who also shops; an invite for a shopper's email; session mode; every cross-actor attempt.

Real node running tests/interop/storefront.js against a real gunicorn (2 workers), real SMTP (aiosmtpd) for
the reset mail; on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (`make test-postgres`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import backends, claims_of, empty_database, run_sdk, skip_without_node
from tests.live import FLASK, LiveServer, live_server, run_command
from tests.web_fixtures import Mailbox, link_in, running_mailbox

pytestmark = pytest.mark.slow

NODE_TIMEOUT = 60
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
STOREFRONT = "https://shop.example.com"
ADMIN = "sdk-admin@example.com"

skip_without_node("@medusajs/js-sdk")


@dataclass
class Shop:
    server: LiveServer
    mailbox: Mailbox

    def sdk(self, scenario: str, *args: str) -> dict[str, Any]:
        """One scenario of storefront.js against this server; its JSON answer."""
        return run_sdk("storefront.js", scenario, self.server.base_url, *args, timeout=NODE_TIMEOUT)

    def flask(self, *args: str) -> str:
        return run_command([FLASK, "--app", "wsgi", *args], self.server.env)


@pytest.fixture(scope="module", params=backends())
def shop(request, tmp_path_factory: pytest.TempPathFactory, database_url: str, rsa_pem: str) -> Iterator[Shop]:
    """gunicorn with a storefront URL and mail to a real SMTP server; PostgreSQL is emptied afterwards."""
    with running_mailbox() as mailbox:
        extra = {**mailbox.settings(), "STOREFRONT_URL": STOREFRONT, "STORE_CORS": STOREFRONT}
        if request.param:
            extra["DATABASE_URL"] = request.param
        try:
            with live_server(tmp_path_factory.mktemp("storefront"), extra_env=extra, user=(ADMIN, PASSWORD)) as server:
                yield Shop(server, mailbox)
        finally:
            if request.param:
                empty_database(request.param, rsa_pem)


def refused(answer: Any, status: int = 401, message: str = "Invalid auth token provided") -> bool:
    return answer == {"status": status, "message": message}


def test_a_storefront_signs_up_signs_in_updates_refreshes_and_resets(shop: Shop):
    email = "ada@example.com"
    journey = shop.sdk("journey", email, PASSWORD)
    registration, access = claims_of(journey["registration"]), claims_of(journey["access"])
    assert (registration["actor_type"], registration["actor_id"]) == ("customer", "")
    created = journey["created"]
    assert created["id"].startswith("cus_") and created["email"] == email and created["first_name"] == "Ada"
    assert created["has_account"] is True and created["addresses"] == []
    assert access["actor_type"] == "customer" and access["actor_id"] == created["id"]
    assert access["auth_provider"] == "emailpass" and access["mfa_enabled"] is False
    assert access["mfa_challenge_completed_at"] is None
    assert journey["retrieved"]["id"] == created["id"]
    assert journey["updated"]["last_name"] == "Lovelace" and journey["updated"]["metadata"] == {"news": True}
    assert claims_of(journey["refreshed"])["actor_id"] == created["id"]
    assert journey["refreshed"] != journey["access"]
    assert journey["afterRefresh"]["last_name"] == "Lovelace"
    assert journey["providers"] == {
        "providers": [
            {
                "id": "emailpass",
                "identifier": "emailpass",
                "display_name": "Email/Password Authentication",
                "flow": "credentials",
            }
        ]
    }
    assert refused(journey["afterLogout"])

    [message] = [m for m in shop.mailbox.wait_for(len(shop.mailbox.messages) or 1) if m["To"] == email]
    link = link_in(message)
    assert link.startswith(f"{STOREFRONT}/reset-password?")
    query = parse_qs(urlsplit(link).query)
    assert query["email"] == [email]
    reset = shop.sdk("reset", email, query["token"][0], NEW_PASSWORD, PASSWORD)
    assert reset["updated"] == "ok"
    assert reset["again"]["status"] == 401  # the link works once
    assert refused(reset["withOldPassword"], message="Invalid email or password")
    assert reset["customer"]["id"] == created["id"]


def test_an_admin_shops_with_the_same_email_and_password(shop: Shop):
    answer = shop.sdk("adminShops", ADMIN, PASSWORD)
    assert refused(answer["registered"], message="Identity with email already exists")
    actorless = claims_of(answer["actorless"])
    assert (actorless["actor_type"], actorless["actor_id"]) == ("customer", "")
    assert answer["customer"]["email"] == ADMIN
    assert claims_of(answer["shopper"])["actor_id"] == answer["customer"]["id"] == answer["me"]["id"]
    assert claims_of(answer["admin"])["actor_id"] == answer["user"]["id"]
    assert claims_of(answer["admin"])["auth_identity_id"] == claims_of(answer["shopper"])["auth_identity_id"]
    assert refused(answer["shopperOnAdmin"]) and refused(answer["adminOnStore"])


def test_an_invite_for_a_shoppers_email_is_accepted_through_the_dashboards_flow(shop: Shop):
    email = "shopper-invited@example.com"
    shop.flask("customers", "create", "--email", email, "--password", PASSWORD)
    invite_link = shop.flask("invites", "create", "--email", email).strip().splitlines()[-1]
    invite_token = parse_qs(urlsplit(invite_link).query)["token"][0]
    answer = shop.sdk("inviteCustomer", email, PASSWORD, invite_token)
    assert refused(answer["registered"], message="Identity with email already exists")
    assert claims_of(answer["actorless"])["actor_type"] == "user" and claims_of(answer["actorless"])["actor_id"] == ""
    assert answer["user"]["email"] == email and answer["user"]["first_name"] == "Ada"
    assert claims_of(answer["admin"])["actor_id"] == answer["user"]["id"] == answer["me"]["id"]
    assert answer["customer"]["email"] == email
    assert claims_of(answer["shopper"])["actor_id"] == answer["customer"]["id"]


def test_every_cross_actor_attempt_is_refused(shop: Shop):
    customer = "cross-shopper@example.com"
    shop.flask("customers", "create", "--email", customer, "--password", PASSWORD)
    answer = shop.sdk("crossActor", ADMIN, customer, PASSWORD)
    # A customer's own token on the create route is Medusa's 400; everything else is the one 401.
    assert answer.pop("customerCreatingAnotherCustomer") == {
        "status": 400,
        "message": "Request already authenticated as a customer.",
    }
    assert len(answer) == 14
    assert {name: value for name, value in answer.items() if not refused(value)} == {}


def test_session_mode_signs_the_customer_in_with_a_cookie(shop: Shop):
    email = "session-shopper@example.com"
    shop.flask("customers", "create", "--email", email, "--password", PASSWORD)
    answer = shop.sdk("session", email, PASSWORD)
    assert answer["cookies"] == ["__Host-medusa_session"]
    assert claims_of(answer["access"])["actor_type"] == "customer"
    assert answer["customer"]["email"] == email and answer["updated"]["company_name"] == "Engines Ltd"
    assert refused(answer["onAdmin"]) and refused(answer["afterLogout"])
    assert answer["jarAfterLogout"] == []


def test_session_mode_lets_an_admin_become_a_shopper(shop: Shop):
    email = "session-admin@example.com"
    shop.flask("users", "create", "--email", email, "--password", PASSWORD)
    answer = shop.sdk("sessionAdminShops", email, PASSWORD)
    assert claims_of(answer["actorless"])["actor_id"] == ""
    assert refused(answer["beforeCreate"])  # a registration session is no account yet
    assert answer["customer"]["email"] == email and answer["me"]["id"] == answer["customer"]["id"]


def test_concurrent_creates_with_one_registration_token_make_one_customer(shop: Shop):
    email = "racer@example.com"
    registered = shop.server.post("/auth/customer/emailpass/register", json_body={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {registered.json()['token']}"}

    def create(_: int) -> int:
        return shop.server.post("/store/customers", json_body={"email": email}, headers=headers, timeout=60).status

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) - {200} <= {400, 422}, statuses
    login = shop.server.post("/auth/customer/emailpass", json_body={"email": email, "password": PASSWORD})
    token = login.json()["token"]
    me = shop.server.get("/store/customers/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json()["customer"]["email"] == email
