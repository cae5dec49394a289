"""SPEC §13 through Medusa's own JS SDK (@medusajs/js-sdk 2.21): ``sdk.admin.apiKey.*``, a client built with
``apiKey`` (HTTP Basic), one built with ``publishableKey``, ``sdk.admin.user.update/delete`` and friends.

Real node running tests/interop/admin_keys.js against a real gunicorn (2 workers, so a revocation made in
one worker must reach the other within REVOCATION_REFRESH_SECONDS); SQLite, and PostgreSQL when
TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import backends, empty_database, run_node, skip_without_node
from tests.live import FLASK, LiveServer, live_server, run_command

pytestmark = pytest.mark.slow
skip_without_node()

PASSWORD = "correct horse battery staple"
ADMIN = "sdk-admin@example.com"


@pytest.fixture(scope="module", params=backends())
def server(request, tmp_path_factory: pytest.TempPathFactory, rsa_pem: str) -> Iterator[LiveServer]:
    extra = {"DATABASE_URL": request.param} if request.param else {}
    try:
        with live_server(tmp_path_factory.mktemp("admin-keys"), extra_env=extra, user=(ADMIN, PASSWORD)) as live:
            yield live
    finally:
        if request.param:
            empty_database(request.param, rsa_pem)


def sdk(server: LiveServer, scenario: str, *args: str) -> dict[str, Any]:
    """One scenario of admin_keys.js against this server; its JSON answer."""
    result = run_node("admin_keys.js", [scenario, server.base_url, *args])
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_the_sdk_makes_keys_a_machine_and_a_storefront_use_them_and_a_revoked_key_stops(server: LiveServer):
    answer = sdk(server, "apiKeys", ADMIN, PASSWORD, "shopper@example.com")
    secret, publishable = answer["secret"], answer["publishable"]
    assert re.fullmatch(r"sk_[0-9a-f]{64}", secret["token"]) and re.fullmatch(r"pk_[0-9a-f]{64}", publishable["token"])
    assert answer["retrieved"]["token"] == "" and answer["retrieved"]["redacted"] == secret["redacted"]
    assert answer["listed"]["count"] == 2 and answer["renamed"]["title"] == "EU storefront"
    assert [u["email"] for u in answer["machineUsers"]["users"]] == [ADMIN]
    assert answer["machineMakesSecret"]["status"] == 403 and answer["machineMe"]["status"] == 403
    assert answer["withoutKey"] == {
        "status": 400,
        "message": "Publishable API key required in the request header: x-publishable-api-key. "
        "You can manage your keys in settings in the dashboard.",
    }
    assert answer["customer"]["email"] == answer["me"]["email"] == "shopper@example.com"
    assert answer["revoked"]["revoked_at"] is not None
    assert answer["afterRevoke"] == {"status": 401, "message": "Invalid auth token provided"}
    assert answer["deleted"] == {"id": secret["id"], "object": "api_key", "deleted": True}
    assert [k["id"] for k in answer["listedAfter"]["api_keys"]] == [publishable["id"]]
    assert secret["token"] not in server.stderr()


def test_the_sdk_manages_another_admin(server: LiveServer):
    run_command(
        [FLASK, "--app", "wsgi", "users", "create", "--email", "grace@example.com", "--password", PASSWORD], server.env
    )
    answer = sdk(server, "users", ADMIN, PASSWORD, "grace@example.com")
    assert answer["found"] == ["grace@example.com"]
    assert answer["updated"]["first_name"] == "Grace" and answer["updated"]["metadata"] == {"team": "ops"}
    assert answer["providers"] == {"providers": ["emailpass"]}
    assert answer["tokenParts"] == 3
    assert answer["deleted"]["object"] == "user" and answer["deleted"]["deleted"] is True
    assert answer["deleteMyself"]["status"] == 400
