"""Redirect sign-in end to end: real gunicorn, the real OpenID Connect provider, Medusa's JS SDK, headless Chromium.

The SDK (``@medusajs/js-sdk``, tests/interop/sdk_redirect.js) plays the admin dashboard: ``sdk.auth.login``
answers ``{location}``, the test plays the person at the provider, the SDK hands the callback's query
to ``sdk.auth.callback``, then ``createUser`` and ``refresh``. Chromium clicks "Continue with Okta" on the
sign-in page and lands signed in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.live import LiveServer, free_port, live_server
from tests.oauth_fixtures import INTEROP, GitHubStandIn, GitHubUser, OidcProvider, query_of

pytestmark = pytest.mark.slow

NODE = shutil.which("node")
DASHBOARD_CALLBACK = "http://127.0.0.1:7001/app/login/callback"  # where the dashboard would read code and state
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def github_module() -> Iterator[GitHubStandIn]:
    stand_in = GitHubStandIn()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider, github_module: GitHubStandIn
) -> Iterator[LiveServer]:
    port = free_port()
    page_callback = f"http://127.0.0.1:{port}/app/login/okta/callback"
    client = oidc_provider.register_client(DASHBOARD_CALLBACK, page_callback)
    settings = {
        "AUTH_PROVIDERS": "okta,github",
        "AUTH_METHODS_PER_ACTOR": "user=emailpass,okta,github;customer=emailpass,okta,github",
        "OKTA_DISPLAY_NAME": "Okta",
        "AUTH_CALLBACK_URLS": DASHBOARD_CALLBACK,
        **oidc_provider.settings("okta", client, DASHBOARD_CALLBACK),
        **github_module.settings(DASHBOARD_CALLBACK),
    }
    with live_server(tmp_path_factory.mktemp("oauth-live"), extra_env=settings, port=port) as running:
        yield running


def sdk(server: LiveServer, *steps: list[Any]) -> dict[str, Any]:
    """Run SDK steps in one Node process against the live server; its one line of JSON."""
    assert NODE is not None
    result = subprocess.run(
        [NODE, "sdk_redirect.js", server.base_url, json.dumps(list(steps))],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def sdk_login(server: LiveServer, provider: str, actor: str = "user", **payload: Any) -> str:
    answer = sdk(server, ["login", actor, provider, payload])
    assert "error" not in answer, answer
    (started,) = answer["results"]
    assert set(started) == {"location"}
    return str(started["location"])


def test_an_admin_signs_in_with_the_sdk_through_openid_connect(server: LiveServer, oidc_provider: OidcProvider):
    oidc_provider.set_account("sdk-admin", email="sdk-admin@example.com", given_name="Sdk", family_name="Admin")
    location = sdk_login(server, "okta")
    assert query_of(location)["redirect_uri"] == DASHBOARD_CALLBACK
    query = query_of(oidc_provider.sign_in(location, "sdk-admin"))
    answer = sdk(server, ["callback", "user", "okta", query], ["createUser", "okta"], ["refresh"], ["adminMe"])
    assert "error" not in answer, answer
    token, created, refreshed, me = answer["results"]
    assert isinstance(token, str) and token.count(".") == 2
    assert created["user"]["email"] == "sdk-admin@example.com" and created["user"]["first_name"] == "Sdk"
    assert refreshed["token"] != token
    assert me["user"]["id"] == created["user"]["id"]


def test_a_customer_signs_in_with_the_sdk_through_openid_connect(server: LiveServer, oidc_provider: OidcProvider):
    oidc_provider.set_account("sdk-shopper", email="sdk-shopper@example.com", given_name="Sdk")
    location = sdk_login(server, "okta", "customer")
    query = query_of(oidc_provider.sign_in(location, "sdk-shopper"))
    steps = [
        ["callback", "customer", "okta", query],
        ["createCustomer", {"email": "sdk-shopper@example.com", "first_name": "Sdk"}],
        ["refresh"],
        ["customerMe"],
    ]
    answer = sdk(server, *steps)
    assert "error" not in answer, answer
    _, created, _, me = answer["results"]
    assert created["customer"]["email"] == "sdk-shopper@example.com" and created["customer"]["has_account"] is True
    assert me["customer"]["id"] == created["customer"]["id"]


def test_a_customer_signs_in_with_the_sdk_through_github(server: LiveServer, github_module: GitHubStandIn):
    user = GitHubUser(
        id=777, login="shopper", emails=[{"email": "gh-shopper@example.com", "primary": True, "verified": True}]
    )
    query = query_of(github_module.sign_in(sdk_login(server, "github", "customer"), user))
    steps = [
        ["callback", "customer", "github", query],
        ["createCustomer", {"email": "gh-shopper@example.com"}],
        ["refresh"],
        ["customerMe"],
    ]
    answer = sdk(server, *steps)
    assert "error" not in answer, answer
    assert answer["results"][3]["customer"]["email"] == "gh-shopper@example.com"


def test_the_next_sdk_sign_in_is_the_admins_at_once(server: LiveServer, oidc_provider: OidcProvider):
    oidc_provider.set_account("returning", email="returning@example.com")
    first = query_of(oidc_provider.sign_in(sdk_login(server, "okta"), "returning"))
    assert "error" not in sdk(server, ["callback", "user", "okta", first], ["createUser", "okta"])
    again = query_of(oidc_provider.sign_in(sdk_login(server, "okta"), "returning"))
    answer = sdk(server, ["callback", "user", "okta", again], ["adminMe"])
    assert "error" not in answer, answer
    assert answer["results"][1]["user"]["email"] == "returning@example.com"


def test_an_admin_signs_in_with_the_sdk_through_github(server: LiveServer, github_module: GitHubStandIn):
    user = GitHubUser(
        id=4242, login="hubber", emails=[{"email": "hubber@example.com", "primary": True, "verified": True}]
    )
    query = query_of(github_module.sign_in(sdk_login(server, "github"), user))
    answer = sdk(server, ["callback", "user", "github", query], ["createUser", "github"], ["refresh"], ["adminMe"])
    assert "error" not in answer, answer
    assert answer["results"][3]["user"]["email"] == "hubber@example.com"


def test_the_sdk_sees_a_replayed_callback_refused(server: LiveServer, oidc_provider: OidcProvider):
    query = query_of(oidc_provider.sign_in(sdk_login(server, "okta"), "replayer"))
    assert "error" not in sdk(server, ["callback", "user", "okta", query])
    answer = sdk(server, ["callback", "user", "okta", query])
    assert answer["error"] == {
        "step": "callback",
        "status": 401,
        "message": "The sign-in state is unknown, expired or already used",
    }


def test_the_sdk_sees_a_callback_url_outside_the_allowlist_refused(server: LiveServer):
    answer = sdk(server, ["login", "user", "okta", {"callback_url": "https://evil.example.com/steal"}])
    assert answer["error"]["status"] == 400
    assert answer["error"]["message"] == "callback_url is not one of the allowed callback URLs (AUTH_CALLBACK_URLS)"


def test_a_tampered_id_token_is_refused_through_gunicorn(server: LiveServer, oidc_provider: OidcProvider):
    query = query_of(oidc_provider.sign_in(sdk_login(server, "okta"), "tampered-live"))
    oidc_provider.tamper_next_id_token("signature")
    answer = sdk(server, ["callback", "user", "okta", query])
    assert answer["error"]["status"] == 401
    assert "Traceback" not in server.stderr()


# ---------------------------------------------------------------- the sign-in page, in Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def at_the_provider(page: Page, login: str) -> None:
    """oidc-provider's own pages: sign in with any password, then consent."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]").click()  # the consent page's "Continue"


def test_continue_with_okta_lands_signed_in(page: Page, server: LiveServer, oidc_provider, tmp_path: Path):
    oidc_provider.set_account("page-admin", email="page-admin@example.com")
    page.goto(f"{server.base_url}/app/")
    expect(page).to_have_url(f"{server.base_url}/app/login?next=/app/")
    expect(page.get_by_role("link", name="Continue with GitHub")).to_be_visible()
    page.screenshot(path=str(tmp_path / "1-login-with-providers.png"), full_page=True)
    page.get_by_role("link", name="Continue with Okta").click()
    at_the_provider(page, "page-admin")
    expect(page).to_have_url(f"{server.base_url}/app/")
    expect(page.locator("#signed-in-email")).to_have_text("page-admin@example.com")
    page.screenshot(path=str(tmp_path / "2-signed-in.png"), full_page=True)
    assert page.request.get(f"{server.base_url}/admin/users/me").status == 200


def test_a_provider_refusal_is_shown_on_the_page(page: Page, server: LiveServer, oidc_provider, tmp_path: Path):
    page.goto(f"{server.base_url}/app/login")
    page.get_by_role("link", name="Continue with Okta").click()
    page.locator("input[name=login]").fill("unverified-page")
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]").click()
    expect(page.get_by_role("alert")).to_contain_text("Okta has not verified an email address for this account")
    page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    assert page.request.get(f"{server.base_url}/admin/users/me").status == 401
