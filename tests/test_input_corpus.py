"""The input corpus (issue 19, findings 8-10): every malformed body, email and number by name, on every route.

The attack corpus (``test_attack_corpus.py``) lists bad tokens; this one lists bad input. Each case is
sent to every route that reads that kind of input (JSON bodies; emails in bodies, the query string, the
pages' forms and the CLI; integers in the query string) and must get a 400 ``invalid_data`` (a form
error on a page, a one-line error from the CLI) that says what is wrong, and never a 500: no ERROR
record on any logger, no traceback, nothing created, no mail sent. The controls show the same routes
accept well-formed input, so each refusal is the input's fault, not the harness's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask

from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.models import AuthIdentity, Invite, User
from medusa_auth.tokens import TokenKind
from tests.helpers import PASSWORD
from tests.input_corpus import BAD_BODIES, BAD_EMAILS, BAD_IDS, BAD_INTEGERS, GOOD_EMAILS, body
from tests.live import live_server

LOGIN = "/auth/user/emailpass"
REGISTER = f"{LOGIN}/register"
RESET = f"{LOGIN}/reset-password"
UPDATE = f"{LOGIN}/update"
INVITES = "/admin/invites"
ACCEPT = f"{INVITES}/accept?token=some-invite-token"
CUSTOMERS = "/store/customers"

# Credentials each route needs before it reads its body.
JSON_ROUTES = {
    "login": (LOGIN, None),
    "register": (REGISTER, None),
    "reset-request": (RESET, None),
    "reset-update": (UPDATE, "reset"),
    "invite-create": (INVITES, "admin"),
    "invite-accept": (ACCEPT, "registration"),
    "customer-create": (CUSTOMERS, "customer-registration"),
    "customer-update": (f"{CUSTOMERS}/me", "customer"),
}


@dataclass
class Caller:
    """Sends input to the app with whatever credential each route needs, and reads what it left behind."""

    app: Flask
    client: Any
    auth: Any
    bearers: dict[str, dict[str, str]]

    def post(self, route: str, data: bytes | str, content_type: str = "application/json") -> Any:
        path, needs = JSON_ROUTES[route]
        headers = self.bearers[needs] if needs else {}
        return self.client.post(path, data=data, content_type=content_type, headers=headers)

    def counts(self) -> tuple[int, int, int]:
        """(users, identities, invites)."""
        with self.app.app_context():
            return tuple(  # type: ignore[return-value]
                len(db.session.execute(db.select(model)).all()) for model in (User, AuthIdentity, Invite)
            )


@pytest.fixture
def settings(settings, mailbox):
    return {**settings, **mailbox.settings()}


@pytest.fixture
def caller(app, client, auth) -> Caller:
    admin = auth.bearer(auth.token())
    registered = client.post(REGISTER, json={"email": "registered@example.com", "password": PASSWORD})
    assert registered.status_code == 200, registered.get_json()
    with app.app_context():
        claims = {"entity_id": "admin@example.com", "actor_type": "user", "purpose": "reset"}
        reset = medusa_auth().tokens.issue(TokenKind.RESET, claims, 900).token
    bearers = {"admin": admin, "registration": auth.bearer(registered.get_json()["token"]), "reset": auth.bearer(reset)}
    shopper = {"email": "shopper@example.com", "password": PASSWORD}
    customer = client.post("/auth/customer/emailpass/register", json=shopper).get_json()["token"]
    bearers["customer-registration"] = auth.bearer(customer)
    created = client.post(CUSTOMERS, json={"email": "shopper@example.com"}, headers=bearers["customer-registration"])
    assert created.status_code == 200, created.get_json()
    bearers["customer"] = auth.bearer(client.post("/auth/customer/emailpass", json=shopper).get_json()["token"])
    other = client.post("/auth/customer/emailpass/register", json={"email": "other@example.com", "password": PASSWORD})
    bearers["customer-registration"] = auth.bearer(other.get_json()["token"])  # one with no customer yet
    return Caller(app, client, auth, bearers)


def assert_refused(response: Any, words: str, where: str) -> None:
    assert response.status_code == 400, (where, response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json", where
    error = response.get_json()
    assert error["type"] == "invalid_data", (where, error)
    assert words in error["message"], (where, error["message"])


def assert_no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(("name", "data", "content_type", "words"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_malformed_body_is_a_400_on_every_json_route(caller, mailbox, caplog, name, data, content_type, words):
    before = caller.counts()
    for route in JSON_ROUTES:
        assert_refused(caller.post(route, data, content_type), words, route)
    assert caller.counts() == before
    assert mailbox.messages == []
    assert_no_error_logged(caplog)


def test_control_a_well_formed_body_gets_past_parsing_on_every_json_route(caller):
    """The same routes and credentials: a good body is read (answers other than 400, or 400 for the invite)."""
    expected = {
        "login": 401,  # unknown email
        "register": 200,
        "reset-request": 201,
        "reset-update": 401,  # the reset token was never mailed: not pending
        "invite-create": 200,
        "invite-accept": 400,  # the invite token in the query is not a token: refused after parsing
        "customer-create": 400,  # a customer has no password member: Medusa's "Unrecognized fields"
        "customer-update": 400,  # nor does an update
    }
    words = {"invite-accept": "invite link", "customer-create": "Unrecognized", "customer-update": "Unrecognized"}
    for route, status in expected.items():
        response = caller.post(route, body())
        assert response.status_code == status, (route, response.get_json())
        if status == 400:
            assert words[route] in response.get_json()["message"]


def test_control_a_body_at_the_depth_limit_is_read(caller):
    assert caller.post("register", body('"x": ' + "[" * 15 + "]" * 15)).status_code == 200


def test_control_brackets_inside_strings_do_not_count_as_depth(caller):
    brackets = '"x": "' + "[{" * 2000 + '", "y": "\\"[[[["'
    assert caller.post("register", body(brackets)).status_code == 200


def test_control_a_surrogate_pair_escape_is_one_character_and_fine(caller):
    response = caller.post("invite-create", b'{"email": "pair@example.com", "metadata": {"smile": "\\ud83d\\ude00"}}')
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["invite"]["metadata"] == {"smile": "\U0001f600"}


# -- emails -------------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def post_form(app_factory: Callable[..., Flask], path: str, fields: dict[str, str]) -> Any:
    """A browser's POST to a page: its form's CSRF token first (a fresh app: Flask-WTF caches it in ``g``)."""
    client = app_factory().test_client()
    page = client.get(path).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, page
    return client.post(path, data={**fields, "csrf_token": match.group(1)})


def email_refusals(caller: Caller, app_factory: Callable[..., Flask], runner: Any, email: str) -> dict[str, Any]:
    """Every place that takes an email, given ``email``: the API, the query string, both pages, the CLI."""
    client, admin = caller.client, caller.bearers["admin"]
    return {
        "login": client.post(LOGIN, json={"email": email, "password": PASSWORD}),
        "register": client.post(REGISTER, json={"email": email, "password": PASSWORD}),
        "reset-request": client.post(RESET, json={"identifier": email}),
        "invite-create": client.post(INVITES, json={"email": email}, headers=admin),
        "invite-list": client.get(INVITES, query_string={"email": email}, headers=admin),
        "customer-create": client.post(
            CUSTOMERS, json={"email": email}, headers=caller.bearers["customer-registration"]
        ),
        "login-page": post_form(app_factory, "/app/login", {"email": email, "password": PASSWORD}),
        "reset-page": post_form(app_factory, "/app/reset-password", {"email": email}),
        "cli-users-create": runner.invoke(args=["users", "create", "--email", email, "--password", PASSWORD]),
        "cli-invites-create": runner.invoke(args=["invites", "create", "--email", email, "--send-email"]),
        "cli-customers-create": runner.invoke(args=["customers", "create", "--email", email, "--password", PASSWORD]),
    }


@pytest.mark.parametrize(("name", "email"), BAD_EMAILS, ids=[e[0] for e in BAD_EMAILS])
def test_anything_but_one_plain_address_is_refused_wherever_an_email_is_taken(
    caller, app_factory, runner, mailbox, caplog, name, email
):
    before = caller.counts()
    for where, result in email_refusals(caller, app_factory, runner, email).items():
        if where.startswith("cli-"):
            assert result.exit_code == 2, (where, result.output)
            assert "Invalid value for '--email': must be one email address" in result.output, (where, result.output)
            assert "Traceback" not in result.output
        elif where.endswith("-page"):
            assert result.status_code == 400, (where, result.status_code)
            assert "Enter one email address" in result.get_data(as_text=True), where
        else:
            field = "identifier" if where == "reset-request" else "email"
            assert_refused(result, f"{field} must be one email address", where)
    assert caller.counts() == before
    assert mailbox.messages == []
    assert_no_error_logged(caplog)


@pytest.mark.parametrize("email", GOOD_EMAILS)
def test_control_a_plain_address_is_taken_everywhere(caller, app_factory, runner, mailbox, email):
    """Invited (one mail, to it), registered, accepted, signed in on the API and the page, whatever its case."""
    client, admin = caller.client, caller.bearers["admin"]
    invited = client.post(INVITES, json={"email": email}, headers=admin)
    assert invited.status_code == 200, invited.get_json()
    assert invited.get_json()["email"]["sent"] is True
    assert str(mailbox.wait_for(1)[0]["To"]) == email.lower()
    assert client.get(INVITES, query_string={"email": email.upper()}, headers=admin).get_json()["count"] == 1
    registered = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert registered.status_code == 200, registered.get_json()
    token = invited.get_json()["invite"]["token"]
    invitee = caller.auth.bearer(registered.get_json()["token"])
    accepted = client.post(f"{INVITES}/accept?token={token}", headers=invitee)
    assert accepted.status_code == 200, accepted.get_json()
    assert client.post(LOGIN, json={"email": email.upper(), "password": PASSWORD}).status_code == 200
    assert post_form(app_factory, "/app/login", {"email": email, "password": PASSWORD}).status_code == 302
    assert client.post(RESET, json={"identifier": email}).status_code == 201
    assert post_form(app_factory, "/app/reset-password", {"email": email}).status_code == 200
    again = runner.invoke(args=["users", "create", "--email", email, "--password", PASSWORD])
    assert again.exit_code == 1 and "already exists" in again.output, again.output  # read, then found taken


def test_the_good_emails_are_at_the_limits_they_claim():
    assert len(GOOD_EMAILS[4].split("@")[0]) == 64
    assert len(GOOD_EMAILS[5]) == 254


# -- integers in the query string -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), BAD_INTEGERS, ids=[i[0] for i in BAD_INTEGERS])
@pytest.mark.parametrize("parameter", ["limit", "offset"])
def test_anything_but_ascii_digits_in_limit_or_offset_is_a_400(caller, caplog, parameter, name, value):
    for path in ("/admin/users", INVITES):
        response = caller.client.get(path, query_string={parameter: value}, headers=caller.bearers["admin"])
        assert_refused(response, f"{parameter} must be an integer", path)
    assert_no_error_logged(caplog)


def test_control_ascii_digits_in_limit_and_offset_are_read(caller):
    for path in ("/admin/users", INVITES):
        page = caller.client.get(f"{path}?limit=0007&offset=000000000000", headers=caller.bearers["admin"])
        assert page.status_code == 200 and (page.get_json()["limit"], page.get_json()["offset"]) == (7, 0)


# -- ids in the path ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "raw_id"), BAD_IDS, ids=[i[0] for i in BAD_IDS])
def test_an_id_no_row_can_have_is_a_404_on_every_id_route(caller, caplog, name, raw_id):
    """On PostgreSQL a NUL in a path id reached the query and came back as a 500."""
    admin = caller.bearers["admin"]
    for method, path in (
        ("GET", f"/admin/users/{raw_id}"),
        ("GET", f"{INVITES}/{raw_id}"),
        ("DELETE", f"{INVITES}/{raw_id}"),
        ("POST", f"{INVITES}/{raw_id}/resend"),
    ):
        response = caller.client.open(path, method=method, headers=admin)
        assert response.status_code == 404, (method, path, response.get_data()[:200])
        assert response.get_json()["type"] == "not_found"
    assert_no_error_logged(caplog)


def test_control_a_real_id_is_found_on_every_id_route(caller):
    admin = caller.bearers["admin"]
    invite = caller.client.post(INVITES, json={"email": "new@example.com"}, headers=admin).get_json()["invite"]
    me = caller.client.get("/admin/users/me", headers=admin).get_json()["user"]
    assert caller.client.get(f"/admin/users/{me['id']}", headers=admin).status_code == 200
    assert caller.client.get(f"{INVITES}/{invite['id']}", headers=admin).status_code == 200
    assert caller.client.post(f"{INVITES}/{invite['id']}/resend", headers=admin).status_code == 200
    assert caller.client.delete(f"{INVITES}/{invite['id']}", headers=admin).status_code == 200


# -- the same corpus against gunicorn ------------------------------------------------------------------


@pytest.mark.slow
def test_the_corpus_against_a_live_gunicorn_gets_400s_and_no_traceback(tmp_path: Path):
    """Through real sockets and a real worker: every case a 400 JSON, the worker alive, nothing in its error log."""
    with live_server(tmp_path / "live", user=("admin@example.com", PASSWORD)) as server:
        admin = {"Authorization": f"Bearer {server.login('admin@example.com', PASSWORD)}"}
        sent = []
        for _, data, content_type, _ in BAD_BODIES:
            for path, headers in ((LOGIN, {}), (REGISTER, {}), (RESET, {}), (INVITES, admin)):
                sent.append(server.post(path, body=data, headers={**headers, "Content-Type": content_type}))
        for _, email in BAD_EMAILS:
            sent.append(server.post(REGISTER, json_body={"email": email, "password": PASSWORD}))
            sent.append(server.post(INVITES, json_body={"email": email}, headers=admin))
            sent.append(server.get(f"{INVITES}?{urlencode({'email': email})}", headers=admin))
        for _, value in BAD_INTEGERS:
            sent.append(server.get(f"/admin/users?{urlencode({'limit': value})}", headers=admin))
        missing = [server.get(f"/admin/users/{raw_id}", headers=admin) for _, raw_id in BAD_IDS]
        assert server.get("/health").status == 200
        log = server.stderr()
    # 414: gunicorn's own JSON refusal of a request line over 4094 bytes (the 5000-digit limit).
    assert [r.status for r in sent if r.status not in (400, 414)] == []
    assert {r.status for r in missing} == {404}
    assert {r.json()["type"] for r in sent} == {"invalid_data"}
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
