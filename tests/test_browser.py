"""What a person does, in headless Chromium against a live gunicorn, with mail through aiosmtpd.

Debian's chromium (installed by `make browser-deps`) is driven by Playwright's Python package;
no browser is ever downloaded. A screenshot of each page goes under the test's temporary folder.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from medusa_auth.keys.config import get_jwt_config
from medusa_auth.keys.keyset import KeySet
from medusa_auth.tokens import TokenKind, Tokens
from tests.live import FLASK, LiveServer, free_port, live_server, run_command
from tests.web_fixtures import Mailbox, link_in, running_mailbox

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without these, Chromium keeps trying (and failing) to phone home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
ADMIN = ("browser-admin@example.com", "correct horse battery staple")
NEW_PASSWORD = "a brand new passphrase"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def mailbox_module() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox_module: Mailbox) -> Iterator[LiveServer]:
    """Production settings (Secure, __Host- cookies), mail to the test's SMTP server."""
    with live_server(tmp_path_factory.mktemp("browser"), extra_env=mailbox_module.settings(), user=ADMIN) as running:
        yield running


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
    """A fresh browser profile (no cookies) the size of a phone."""
    context: BrowserContext = browser.new_context(viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def mailbox(mailbox_module: Mailbox) -> Mailbox:
    mailbox_module.messages.clear()
    return mailbox_module


def shot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_sign_in_see_the_account_sign_out_and_be_refused(page: Page, server: LiveServer, tmp_path: Path):
    page.goto(f"{server.base_url}/app/")
    expect(page).to_have_url(f"{server.base_url}/app/login?next=/app/")
    shot(page, tmp_path, "1-login")
    sign_in(page, ADMIN[0], "not the password")
    expect(page.get_by_role("alert")).to_contain_text("Invalid email or password")
    shot(page, tmp_path, "2-login-error")
    sign_in(page, *ADMIN)
    expect(page).to_have_url(f"{server.base_url}/app/")
    expect(page.locator("#signed-in-email")).to_have_text(ADMIN[0])
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-medusa_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    shot(page, tmp_path, "3-account")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.base_url}/app/login")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    shot(page, tmp_path, "4-signed-out")
    page.goto(f"{server.base_url}/app/")
    expect(page).to_have_url(f"{server.base_url}/app/login?next=/app/")
    assert page.request.get(f"{server.base_url}/admin/users/me").status == 401


def test_an_open_redirect_attempt_lands_on_a_local_page(page: Page, server: LiveServer, tmp_path: Path):
    page.goto(f"{server.base_url}/app/login?next=//evil.example")
    sign_in(page, *ADMIN)
    expect(page).to_have_url(f"{server.base_url}/app/")
    shot(page, tmp_path, "after-hostile-next")


def test_reset_the_password_from_the_mailed_link(page: Page, server: LiveServer, mailbox: Mailbox, tmp_path: Path):
    email = "forgetful@example.com"
    assert server.post("/auth/user/emailpass/register", json_body={"email": email, "password": ADMIN[1]}).status == 200
    _make_user(server, email)
    mailbox.wait_for(1)
    mailbox.messages.clear()  # the invite's mail; the reset's comes next
    page.goto(f"{server.base_url}/app/login")
    page.get_by_role("link", name="Forgot your password?").click()
    shot(page, tmp_path, "1-reset-request")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses that address")
    shot(page, tmp_path, "2-reset-sent")
    link = link_in(mailbox.wait_for(1)[0])
    assert link.startswith(f"{server.base_url}/app/reset-password/confirm?token=")
    page.goto(link)
    shot(page, tmp_path, "3-reset-confirm")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD + " typo")
    page.get_by_role("button", name="Change the password").click()
    expect(page.locator("#confirm-error")).to_have_text("The two passwords are not the same.")
    shot(page, tmp_path, "4-reset-mismatch")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    shot(page, tmp_path, "5-reset-done")
    page.get_by_role("link", name="Sign in with your new password").click()
    sign_in(page, email, NEW_PASSWORD)
    expect(page.locator("#signed-in-email")).to_have_text(email)
    page.goto(link)  # the link worked once
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    shot(page, tmp_path, "6-reset-link-used")


def test_accept_an_invite_from_the_mailed_link(page: Page, server: LiveServer, mailbox: Mailbox, tmp_path: Path):
    admin = {"Authorization": f"Bearer {server.login(*ADMIN)}"}
    created = server.post("/admin/invites", json_body={"email": "invitee@example.com"}, headers=admin)
    assert created.status == 200 and created.json()["email"]["sent"] is True
    link = link_in(mailbox.wait_for(1)[0])
    page.goto(link)
    expect(page.get_by_role("heading", name="Accept your invitation")).to_be_visible()
    expect(page.locator("main")).to_contain_text("You are invited as invitee@example.com")
    shot(page, tmp_path, "1-invite")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password, again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{server.base_url}/app/")
    expect(page.get_by_role("status")).to_contain_text("Welcome")
    expect(page.locator("#signed-in-email")).to_have_text("invitee@example.com")
    expect(page.locator("main")).to_contain_text("Grace Hopper")
    shot(page, tmp_path, "2-invite-signed-in")
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("already accepted")
    shot(page, tmp_path, "3-invite-used")


def test_an_expired_invite_link_explains_what_happened(page: Page, server: LiveServer, tmp_path: Path):
    config = get_jwt_config({"JWT_SECRET_KEY_FILE": str(server.key_file)})
    tokens = Tokens(KeySet.from_config(config), config.user_module)
    expired = tokens.sign(TokenKind.INVITE, {"id": "invite_gone", "email": "late@example.com"}, -3600)
    page.goto(f"{server.base_url}/app/invite?token={expired}")
    expect(page.get_by_role("heading", name="This invite link does not work")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The invite has expired: ask for a new invite")
    shot(page, tmp_path, "invite-expired")


def _make_user(server: LiveServer, email: str) -> None:
    """A user for ``email`` through the real invite flow (the API's two steps)."""
    admin = {"Authorization": f"Bearer {server.login(*ADMIN)}"}
    token = server.post("/admin/invites", json_body={"email": email}, headers=admin).json()["invite"]["token"]
    registration = {"Authorization": f"Bearer {server.login(email, ADMIN[1])}"}
    accepted = server.post(f"/admin/invites/accept?token={token}", json_body={}, headers=registration)
    assert accepted.status == 200, accepted.body


def test_two_step_sign_in_from_the_qr_codes_secret(page: Page, server: LiveServer, tmp_path: Path):
    """Turn it on from the account page (the secret read off the page, as a phone reads the QR code), sign in
    with a code, then with a recovery code, and turn it off; a screenshot of each step."""
    email = "two-step@example.com"
    run_command([FLASK, "--app", "wsgi", "users", "create", "--email", email, "--password", ADMIN[1]], server.env)
    page.goto(f"{server.base_url}/app/login")
    sign_in(page, email, ADMIN[1])
    expect(page.locator("#two-step-status")).to_contain_text("Off")
    shot(page, tmp_path, "mfa-1-account-off")
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.locator("#qr-code svg")).to_be_visible()
    page.get_by_text("Can't scan it?").click()
    secret = page.locator("#totp-secret").inner_text()
    otpauth_url = page.locator("#otpauth-url").get_attribute("href") or ""
    assert pyotp.parse_uri(otpauth_url).secret == secret and pyotp.parse_uri(otpauth_url).name == email
    shot(page, tmp_path, "mfa-2-qr-code")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("status")).to_contain_text("Two-step sign-in is on")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    shot(page, tmp_path, "mfa-3-recovery-codes")
    page.get_by_role("link", name="back to my account").click()
    expect(page.locator("#two-step-status")).to_contain_text("On")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, email, ADMIN[1])
    expect(page).to_have_url(f"{server.base_url}/app/login/code")
    shot(page, tmp_path, "mfa-4-asks-for-the-code")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#signed-in-email")).to_have_text(email)
    shot(page, tmp_path, "mfa-5-signed-in-with-a-code")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, email, ADMIN[1])
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#signed-in-email")).to_have_text(email)
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(codes[1])
    page.get_by_role("button", name="Turn off two-step sign-in").click()
    expect(page.locator("#two-step-status")).to_contain_text("Off")
    shot(page, tmp_path, "mfa-6-turned-off")


# ---------------------------------------------------------------- passkeys, with Chromium's virtual authenticator


@pytest.fixture(scope="module")
def passkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Passkeys need a domain for their relying party: the pages are opened at http://localhost (a secure context)."""
    port = free_port()
    extra = {"MEDUSA_BACKEND_URL": f"http://localhost:{port}", "AUTH_METHODS_PER_ACTOR": "user=emailpass,passkey"}
    with live_server(tmp_path_factory.mktemp("passkeys"), extra_env=extra, user=ADMIN, port=port) as running:
        running.base_url = f"http://localhost:{port}"
        yield running


def virtual_authenticator(page: Page) -> tuple[Any, str]:
    """A platform authenticator (resident keys, user verification) through the DevTools WebAuthn domain."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    added = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return devtools, added["authenticatorId"]


def test_add_a_passkey_sign_out_and_sign_in_with_it_alone(page: Page, passkey_server: LiveServer, tmp_path: Path):
    base = passkey_server.base_url
    devtools, authenticator_id = virtual_authenticator(page)
    page.goto(f"{base}/app/login")
    sign_in(page, *ADMIN)
    expect(page).to_have_url(f"{base}/app/")
    expect(page.get_by_role("heading", name="Passkeys")).to_be_visible()
    expect(page.get_by_text("No passkey yet")).to_be_visible()
    shot(page, tmp_path, "passkey-1-account-without")
    page.get_by_label("Name for the new passkey (optional)").fill("Chromium's virtual authenticator")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".passkey-label")).to_have_text("Chromium's virtual authenticator")
    expect(page.get_by_text("never used")).to_be_visible()
    shot(page, tmp_path, "passkey-2-added")
    (stored,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert stored["isResidentCredential"] and stored["rpId"] == "localhost"

    # Signed out, the sign-in page asks for the browser's passkey autofill (conditional mediation), which
    # Chromium's virtual authenticator answers as a person picking the passkey from the email field would.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/app/")
    expect(page.locator("#signed-in-email")).to_have_text(ADMIN[0])
    expect(page.get_by_text("last used")).to_be_visible()
    shot(page, tmp_path, "passkey-3-signed-in-by-autofill")

    # A browser without passkey autofill: the button.
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = undefined")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/app/login")
    expect(page.get_by_label("Email")).to_have_attribute("autocomplete", "username webauthn")
    shot(page, tmp_path, "passkey-4-signed-out")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{base}/app/")
    expect(page.locator("#signed-in-email")).to_have_text(ADMIN[0])
    shot(page, tmp_path, "passkey-5-signed-in-with-the-button")
    (used,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert used["signCount"] >= 2

    page.get_by_role("button", name="Remove the passkey Chromium's virtual authenticator").click()
    expect(page.get_by_role("status")).to_contain_text("The passkey was removed.")
    expect(page.get_by_text("No passkey yet")).to_be_visible()
    shot(page, tmp_path, "passkey-6-removed")


def test_a_passkey_unknown_here_is_refused_with_a_message(page: Page, passkey_server: LiveServer, tmp_path: Path):
    devtools, authenticator_id = virtual_authenticator(page)
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    credential = {
        "credentialId": base64.b64encode(b"a passkey this site never saw").decode(),
        "isResidentCredential": True,
        "rpId": "localhost",
        "privateKey": base64.b64encode(pkcs8).decode(),
        "userHandle": base64.b64encode(b"authid_nobody").decode(),
        "signCount": 0,
    }
    devtools.send("WebAuthn.addCredential", {"authenticatorId": authenticator_id, "credential": credential})
    page.goto(f"{passkey_server.base_url}/app/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text("This passkey is not registered here")
    expect(page).to_have_url(f"{passkey_server.base_url}/app/login")
    assert not any(c["name"] == "__Host-medusa_session" for c in page.context.cookies())
    shot(page, tmp_path, "passkey-unknown")


def test_answer_a_password_sign_ins_second_step_with_a_passkey(page: Page, passkey_server: LiveServer, tmp_path: Path):
    """Two-step sign-in on and a passkey added: the password, then "Use a passkey" on the code page (the virtual
    authenticator signs that challenge's options), and signed in; a screenshot of each step."""
    base, email = passkey_server.base_url, "passkey-second-factor@example.com"
    run_command(
        [FLASK, "--app", "wsgi", "users", "create", "--email", email, "--password", ADMIN[1]], passkey_server.env
    )
    # No passkey autofill here: it would sign in with the passkey alone, and this test signs in with the password.
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = undefined")
    devtools, authenticator_id = virtual_authenticator(page)
    page.goto(f"{base}/app/login")
    sign_in(page, email, ADMIN[1])
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".passkey-label")).to_have_count(1)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.get_by_text("Can't scan it?").click()
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text())
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("status")).to_contain_text("Two-step sign-in is on")
    page.get_by_role("link", name="back to my account").click()
    expect(page.locator("#two-step-status")).to_contain_text("On")
    shot(page, tmp_path, "passkey-mfa-1-account")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, email, ADMIN[1])
    expect(page).to_have_url(f"{base}/app/login/code")
    expect(page.get_by_role("button", name="Use a passkey")).to_be_visible()
    shot(page, tmp_path, "passkey-mfa-2-code-page")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(f"{base}/app/")
    expect(page.locator("#signed-in-email")).to_have_text(email)
    expect(page.get_by_text("last used")).to_be_visible()
    shot(page, tmp_path, "passkey-mfa-3-signed-in")
    (used,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert used["signCount"] >= 1
    assert page.request.get(f"{base}/admin/users/me").status == 200  # the session passed its second factor
