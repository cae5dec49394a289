"""The /app pages through Flask's client: CSRF on every form, local `next` only, sign in and out."""

from __future__ import annotations

import re

import pyotp
import pytest

from medusa_auth.web.navigation import HOME, safe_next
from tests.helpers import CSRF_INPUT, PASSWORD, csrf_token


def sign_in(client, email: str = "admin@example.com", password: str = PASSWORD, next_path: str | None = None):
    path = "/app/login" + (f"?next={next_path}" if next_path else "")
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, path)}
    return client.post(path, data=data)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        " //evil.example",
        "/%0a/evil",  # percent-encoded is fine as a path, see below
        "",
        None,
        "evil.example",
    ],
)
def test_next_goes_only_to_local_paths(target):
    result = safe_next(target)
    if target == "/%0a/evil":
        assert result == target  # a literal path on this site
    else:
        assert result == HOME


@pytest.mark.parametrize("target", ["/app/", "/app/?tab=1", "/admin/users/me", "/app/reset-password"])
def test_local_paths_are_kept(target):
    assert safe_next(target) == target


def test_sign_in_sets_the_session_and_shows_the_account_page(auth, client):
    auth.create_user()
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/app/"
    page = client.get("/app/")
    assert page.status_code == 200
    assert "admin@example.com" in page.get_data(as_text=True)
    assert client.get("/admin/users/me").status_code == 200  # the same session works on the API


def test_wrong_password_and_unknown_email_get_the_same_page(auth, client):
    auth.create_user()
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert 'role="alert"' in response.get_data(as_text=True)
        assert "Invalid email or password" in response.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(auth, client):
    auth.create_user()
    client.get("/app/login")
    response = client.post("/app/login", data={"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert client.get("/admin/users/me").status_code == 401


def test_a_csrf_token_from_another_browser_is_refused(app_factory, auth):
    auth.create_user()
    app = app_factory()
    attacker, victim = app.test_client(), app.test_client()
    stolen = csrf_token(attacker, "/app/login")
    victim.get("/app/login")
    response = victim.post(
        "/app/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": stolen}
    )
    assert response.status_code == 400


def test_sign_out_needs_the_csrf_token_then_ends_the_session(auth, client):
    auth.create_user()
    sign_in(client)
    assert client.post("/app/logout").status_code == 400  # a cross-site form cannot sign you out
    assert client.get("/app/").status_code == 200
    token = csrf_token(client, "/app/")
    response = client.post("/app/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/app/login"
    assert client.get("/app/").status_code == 302
    assert client.get("/admin/users/me").status_code == 401


def test_the_account_page_sends_strangers_to_sign_in(client):
    response = client.get("/app/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/login?next=/app/"


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example"])
def test_sign_in_with_a_hostile_next_lands_on_a_local_page(auth, client, target):
    auth.create_user()
    response = sign_in(client, next_path=target)
    assert response.status_code == 302 and response.headers["Location"] == HOME


def test_sign_in_follows_a_local_next(auth, client):
    auth.create_user()
    assert sign_in(client, next_path="/app/?welcome=1").headers["Location"] == "/app/?welcome=1"


def test_the_session_id_changes_at_sign_in(auth, client):
    auth.create_user()
    sign_in(client)
    first = client.get_cookie("__Host-medusa_session").value
    sign_in(client)
    assert client.get_cookie("__Host-medusa_session").value != first


def test_pages_set_referrer_policy_and_refuse_framing(client):
    response = client.get("/app/login")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_login_form_is_labelled(client):
    html = client.get("/app/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html and '<label for="password">Password</label>' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert '<meta name="viewport"' in html and '<html lang="en">' in html


def test_field_errors_are_tied_to_their_fields(client):
    token = csrf_token(client, "/app/login")
    html = client.post("/app/login", data={"csrf_token": token}).get_data(as_text=True)
    assert 'aria-invalid="true"' in html and 'aria-describedby="email-error"' in html
    assert 'id="email-error"' in html and "Enter your email address." in html


def test_the_reset_page_says_the_same_for_known_and_unknown_emails(auth, app_factory, mailbox):
    client = app_factory(**mailbox.settings()).test_client()
    auth.create_user()
    pages = []
    for email in ("admin@example.com", "nobody@example.com"):
        token = csrf_token(client, "/app/reset-password")
        response = client.post("/app/reset-password", data={"email": email, "csrf_token": token})
        pages.append(re.sub(CSRF_INPUT, "", response.get_data(as_text=True)))
    assert pages[0] == pages[1]
    assert "If an account uses that address" in pages[0]
    assert len(mailbox.wait_for(1)) == 1


def test_a_bad_reset_link_shows_a_page_that_says_what_to_do(client):
    response = client.get("/app/reset-password/confirm?token=not-a-token")
    assert response.status_code == 400
    assert "Ask for a new reset link" in response.get_data(as_text=True)


# -- the invite page ------------------------------------------------------------------------------


def new_invite(runner) -> str:
    result = runner.invoke(args=["invites", "create", "--email", "invitee@example.com"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1].split("/app/invite", 1)[1]


def test_the_invite_page_creates_the_user_and_signs_them_in(runner, client):
    path = "/app/invite" + new_invite(runner)
    page = client.get(path)
    assert page.status_code == 200 and "invitee@example.com" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    data = {"first_name": "Ada", "last_name": "Lovelace", "password": PASSWORD, "confirm": PASSWORD}
    response = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302 and response.headers["Location"] == "/app/"
    account = client.get("/app/").get_data(as_text=True)
    assert "invitee@example.com" in account and "Ada Lovelace" in account
    again = client.get(path)
    assert again.status_code == 400 and "already accepted" in again.get_data(as_text=True)


def test_the_invite_form_explains_mismatched_passwords_and_keeps_the_invite(runner, client):
    path = "/app/invite" + new_invite(runner)
    data = {"password": PASSWORD, "confirm": PASSWORD + "!", "csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "The two passwords are not the same." in response.get_data(as_text=True)
    assert client.get(path).status_code == 200


def test_the_invite_form_needs_the_csrf_token(runner, client):
    path = "/app/invite" + new_invite(runner)
    client.get(path)
    assert client.post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 400
    assert client.get(path).status_code == 200  # nothing was accepted


@pytest.mark.parametrize("query", ["", "?token=", "?token=garbage"])
def test_a_broken_invite_link_shows_a_friendly_page(client, query):
    response = client.get("/app/invite" + query)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This invite link does not work" in html and "ask for a new invite" in html


def test_over_https_a_form_without_a_referer_works(app_factory, auth):
    """Our pages send no Referer (no-referrer policy), so the sign-in form must not depend on one
    (Flask-WTF's own HTTPS check, CSRFProtect.protect, would refuse it: the pages do not use it)."""
    auth.create_user()
    client = app_factory().test_client()
    https = "https://localhost"
    token = CSRF_INPUT.search(client.get("/app/login", base_url=https).get_data(as_text=True)).group(1)
    data = {"email": "admin@example.com", "password": PASSWORD, "csrf_token": token}
    response = client.post("/app/login", data=data, base_url=https)
    assert response.status_code == 302


def test_a_form_post_marked_cross_site_is_refused_even_with_a_valid_token(auth, client):
    auth.create_user()
    data = {"email": "admin@example.com", "password": PASSWORD, "csrf_token": csrf_token(client, "/app/login")}
    for site in ("cross-site", "same-site"):
        response = client.post("/app/login", data=data, headers={"Sec-Fetch-Site": site})
        assert response.status_code == 400, site
        assert client.get("/app/").status_code == 302


def test_the_reload_link_of_an_expired_form_keeps_the_query(client):
    client.get("/app/invite?token=abc")
    html = client.post("/app/invite?token=abc", data={}).get_data(as_text=True)
    assert 'href="/app/invite?token=abc"' in html


# -- two-step sign-in (SPEC §11) -----------------------------------------------------------------------

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_RECOVERY = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")
_FACTOR = re.compile(r'name="factor_id" type="hidden" value="([^"]+)"')


def turn_on_two_step(client) -> tuple[str, list[str]]:
    """The account page's enrolment; the secret read off the page, and the recovery codes it shows once."""
    page = client.post("/app/two-step", data={"csrf_token": csrf_token(client, "/app/")}).get_data(as_text=True)
    assert "<svg" in page and 'id="qr-code"' in page  # the QR code, drawn by the server
    secret, factor_id = _SECRET.search(page).group(1), _FACTOR.search(page).group(1)
    shown = client.post(
        "/app/two-step/verify",
        data={"csrf_token": CSRF_INPUT.search(page).group(1), "factor_id": factor_id, "code": pyotp.TOTP(secret).now()},
    )
    assert shown.status_code == 200, shown.get_data(as_text=True)
    return secret, _RECOVERY.findall(shown.get_data(as_text=True))


def test_the_account_page_turns_two_step_on_and_the_sign_in_page_asks_for_the_code(auth, client, app_factory):
    auth.create_user()
    sign_in(client)
    secret, codes = turn_on_two_step(client)
    assert len(codes) == 10
    assert "Two-step sign-in is on" not in client.get("/app/").get_data(as_text=True)  # the codes page said it once
    assert 'id="two-step-status">On' in client.get("/app/").get_data(as_text=True)
    assert client.get("/admin/users/me").status_code == 200  # this browser's session started afresh, completed

    browser = app_factory().test_client()
    response = sign_in(browser)
    assert response.status_code == 302 and response.headers["Location"] == "/app/login/code"
    assert browser.get("/admin/users/me").status_code == 401  # the password alone signs nobody in
    token = csrf_token(browser, "/app/login/code")
    wrong = browser.post("/app/login/code", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 401 and "Invalid MFA code" in wrong.get_data(as_text=True)
    right = browser.post("/app/login/code", data={"csrf_token": token, "code": codes[0]})
    assert right.status_code == 302 and right.headers["Location"] == "/app/"
    assert browser.get("/admin/users/me").status_code == 200


def test_turning_two_step_off_needs_a_code(auth, client):
    auth.create_user()
    sign_in(client)
    _, codes = turn_on_two_step(client)
    token = csrf_token(client, "/app/")
    refused = client.post("/app/two-step/disable", data={"csrf_token": token, "code": "000000"})
    assert refused.status_code == 401
    turned_off = client.post("/app/two-step/disable", data={"csrf_token": token, "code": codes[1]})
    assert turned_off.status_code == 302
    assert 'id="two-step-status">Off' in client.get("/app/").get_data(as_text=True)
    assert client.get("/admin/users/me").status_code == 200
