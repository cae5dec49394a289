"""Issue 19, findings 8-10, each as the attack it was: unhandled 500s on odd input, one email fanning out
to several recipients, duplicate members, unnormalised emails, a discovery document claiming an issuer
tokens do not carry, and CORS headers for requests that carry no Origin.

The breadth (every bad body, email and number on every route) is in ``test_input_corpus.py``.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from medusa_auth import mail, strict_json
from medusa_auth.database import db
from medusa_auth.models import Invite, ProviderIdentity, normalize_email
from medusa_auth.request_data import MAX_METADATA_BYTES, is_email
from medusa_auth.settings import settings_from
from tests.helpers import PASSWORD
from tests.live import free_port
from tests.web_fixtures import Mailbox

LOGIN = "/auth/user/emailpass"
REGISTER = f"{LOGIN}/register"
RESET = f"{LOGIN}/reset-password"
ADMIN_ORIGIN = "https://admin.example.com"
STORE_ORIGIN = "https://store.example.com"


class EnvelopeMailbox(Mailbox):
    """A real SMTP server that also keeps each message's envelope recipients (who the mail really went to)."""

    recipients: list[list[str]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp():
    box = EnvelopeMailbox("127.0.0.1", free_port())
    box.recipients = []
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def settings(settings, smtp):
    return {**settings, **smtp.settings()}


@pytest.fixture
def admin(auth) -> dict[str, str]:
    return auth.bearer(auth.token())


def assert_400(response: Any, words: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data()[:300])
    error = response.get_json()
    assert error["type"] == "invalid_data" and words in error["message"], error


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


def identities(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(ProviderIdentity.entity_id)).scalars())


# -- 8. unhandled 500s with tracebacks -------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOGIN, REGISTER, RESET])
@pytest.mark.parametrize("nested", [b"[" * 30000, b'{"a":' * 10000], ids=["arrays", "objects"])
def test_json_nested_30000_deep_is_a_400_not_a_recursion_traceback(client, caplog, path, nested):
    assert_400(client.post(path, data=nested, content_type="application/json"), "nested more than 16 levels")
    assert no_errors_logged(caplog)


@pytest.mark.parametrize("levels", [0, 1, 15, 16, 17, 40, 30000])
@pytest.mark.parametrize("opener,closer", [(b"[", b"]"), (b'{"a":', b"}")], ids=["arrays", "objects"])
def test_the_depth_check_is_exact_at_16_and_agrees_with_the_parser(levels, opener, closer):
    data = opener * levels + b"1" + closer * levels
    assert strict_json.nesting_exceeds(data, 16) == (levels > 16)
    if levels <= 16:
        assert strict_json.loads(data) is not None  # the parser takes what the check lets through


@pytest.mark.parametrize(
    "data",
    [
        b'["' + b"[{" * 100 + b'"]',  # brackets inside a string are text
        b'["\\"[[[[[[[[[[[[[[[[[[[[", 1]',  # an escaped quote does not end the string
        b'{"a": "\\\\", "b": [[[[1]]]]}',  # an escaped backslash does
    ],
)
def test_brackets_inside_strings_are_not_nesting(data):
    assert not strict_json.nesting_exceeds(data, 16)
    strict_json.loads(data)


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
@pytest.mark.parametrize("email", ["a\\ud800@example.com", "a\\u0000@example.com"], ids=["surrogate", "nul"])
def test_an_email_with_a_lone_surrogate_or_a_nul_is_a_400(app, client, caplog, path, email):
    raw = f'{{"email": "{email}", "password": "{PASSWORD}"}}'
    response = client.post(path, data=raw, content_type="application/json")
    assert_400(response, "surrogate" if "ud800" in email else "email must be one email address")
    assert no_errors_logged(caplog)
    assert identities(app) == []


def test_an_email_lower_casing_makes_longer_than_its_column_is_refused_and_no_hash_is_logged(app, client, caplog):
    """Lower-cased, "İ" is two characters: 300 of them passed the length check, then overflowed VARCHAR(320)."""
    email = "\u0130" * 300 + "@example.com"
    assert len(email) <= 320 < len(email.lower())
    caplog.set_level(logging.DEBUG)
    response = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert_400(response, "email must be one email address")
    assert no_errors_logged(caplog)
    assert "argon2" not in caplog.text and "$v=19$" not in caplog.text
    assert identities(app) == []


@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "\u0663", "\uff19", "9" * 5000])
@pytest.mark.parametrize("parameter", ["limit", "offset"])
@pytest.mark.parametrize("path", ["/admin/users", "/admin/invites"])
def test_limit_and_offset_take_ascii_digits_only(client, admin, caplog, path, parameter, value):
    """Both "²".isdigit() and "①".isdigit() are True, then int() raised; "٣" and "９" were read as 3 and 9."""
    response = client.get(path, query_string={parameter: value}, headers=admin)
    assert_400(response, f"{parameter} must be an integer")
    assert no_errors_logged(caplog)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_invite_metadata_with_a_non_finite_number_is_a_400_and_nothing_is_stored(app, client, admin, smtp, literal):
    raw = f'{{"email": "new@example.com", "metadata": {{"score": {literal}}}}}'
    response = client.post("/admin/invites", data=raw, content_type="application/json", headers=admin)
    assert_400(response, "not strict JSON")
    with app.app_context():
        assert db.session.execute(db.select(Invite)).first() is None
    assert smtp.messages == []


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        (deep(6), "metadata must not nest more than 5 levels"),
        ({"blob": "x" * MAX_METADATA_BYTES}, f"metadata must be at most {MAX_METADATA_BYTES} bytes"),
        ({f"key{i}": i for i in range(1200)}, f"metadata must be at most {MAX_METADATA_BYTES} bytes"),
        ({"name": "\u00e9" * (MAX_METADATA_BYTES // 2)}, "bytes"),  # bytes, not characters
    ],
    ids=["six-deep", "one-long-string", "many-keys", "two-byte-characters"],
)
def test_invite_metadata_is_bounded_in_depth_and_size(app, client, admin, metadata, words):
    response = client.post("/admin/invites", json={"email": "new@example.com", "metadata": metadata}, headers=admin)
    assert_400(response, words)
    with app.app_context():
        assert db.session.execute(db.select(Invite)).first() is None


def test_control_metadata_at_the_bounds_is_kept(client, admin):
    metadata = {"deep": deep(4), "text": "x" * (MAX_METADATA_BYTES - 100)}
    response = client.post("/admin/invites", json={"email": "new@example.com", "metadata": metadata}, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["invite"]["metadata"] == metadata


def test_accept_refuses_a_nul_in_a_name_with_a_400(client, admin):
    """A NUL reached a text column: PostgreSQL refuses it with an error that became a 500."""
    invite = client.post("/admin/invites", json={"email": "new@example.com"}, headers=admin).get_json()["invite"]
    token = invite["token"]
    registered = client.post(REGISTER, json={"email": "new@example.com", "password": PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {registered}"}
    response = client.post(f"/admin/invites/accept?token={token}", json={"first_name": "Ada\x00"}, headers=bearer)
    assert_400(response, "first_name must not contain control characters")
    accepted = client.post(f"/admin/invites/accept?token={token}", json={"first_name": "Ada"}, headers=bearer)
    assert accepted.status_code == 200, accepted.get_json()


# -- 9. one email, several recipients --------------------------------------------------------------------


def test_an_invite_for_a_list_of_addresses_is_refused_and_mails_nobody(app, client, admin, smtp):
    """The attack: the invite was accepted and mailed, the link with its token, to attacker@evil.example too."""
    response = client.post("/admin/invites", json={"email": "bob,attacker@evil.example"}, headers=admin)
    assert_400(response, "email must be one email address")
    with app.app_context():
        assert db.session.execute(db.select(Invite)).first() is None
    assert smtp.recipients == []


@pytest.mark.parametrize(
    "email",
    [
        "<x@evil.example>",
        '"Bob" <bob@x.example>',
        "=?utf-8?q?attacker=40evil.example?=@example.com",
        "=?utf-8?b?YXR0YWNrZXJAZXZpbC5leGFtcGxl?=@example.com",
        "bob@example.com, attacker@evil.example",
    ],
)
def test_angle_brackets_display_names_encoded_words_and_lists_make_no_invite(client, admin, smtp, email):
    assert_400(client.post("/admin/invites", json={"email": email}, headers=admin), "one email address")
    assert smtp.recipients == []


def test_control_an_invite_goes_to_its_one_address_in_the_envelope_and_the_header(client, admin, smtp):
    response = client.post("/admin/invites", json={"email": "Bob@Example.com"}, headers=admin)
    assert response.status_code == 200 and response.get_json()["email"]["sent"] is True
    [message] = smtp.wait_for(1)
    assert smtp.recipients == [["bob@example.com"]]
    assert message["To"] == "bob@example.com"
    assert [str(address) for address in message["To"].addresses] == ["bob@example.com"]


@pytest.mark.parametrize(
    "to",
    [
        "bob,attacker@evil.example",
        "bob@example.com, attacker@evil.example",
        "Bob <bob@example.com>",
        "=?utf-8?q?a?=@example.com",
        "bob@example.com\r\nBcc: attacker@evil.example",
    ],
)
def test_mail_itself_sends_to_one_address_only(smtp, to):
    """Whatever a caller hands it (a row written before this rule, a future route), mail.py sends to one addr-spec."""
    settings = settings_from({**smtp.settings(), "APP_ENV": "production"}, instance_path="instance").mail
    with pytest.raises(mail.MailNotSent, match="not one email address"):
        mail.deliver(settings, mail.Mail(to=to, subject="You are invited", text="a link", html="<p>a link</p>"))
    assert smtp.recipients == []


# -- 10a. duplicate members -------------------------------------------------------------------------------


def test_a_duplicate_email_member_is_refused_not_read_as_the_last_one(app, client, caplog):
    """{"email": "a", "email": "b"}: a proxy or WAF that reads the first saw one address, Flask the other."""
    raw = f'{{"email": "victim@example.com", "email": "attacker@example.com", "password": "{PASSWORD}"}}'
    response = client.post(REGISTER, data=raw, content_type="application/json")
    assert_400(response, "duplicate member")
    assert identities(app) == []
    assert no_errors_logged(caplog)


# -- 10b. one address, one account -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "bob@example.com.",  # a trailing dot: the same mailbox to DNS
        "bob\u200b@example.com",  # zero-width space (Cf)
        "b\u00adob@example.com",  # soft hyphen (Cf)
        "bob@example.com\u200d",  # zero-width joiner at the end
        "\uff42\uff4f\uff42@example.com",  # fullwidth letters, "bob" after NFKC
        "bo\u0062\u0301@example.com",  # a combining accent
        "bob@ex\u0430mple.com",  # a Cyrillic a
    ],
)
def test_a_variant_spelling_of_a_registered_address_makes_no_second_account(app, client, variant):
    assert client.post(REGISTER, json={"email": "bob@example.com", "password": PASSWORD}).status_code == 200
    assert_400(client.post(REGISTER, json={"email": variant, "password": PASSWORD}), "email must be one email address")
    assert identities(app) == ["bob@example.com"]


def test_another_case_of_a_registered_address_is_the_same_account(app, client):
    assert client.post(REGISTER, json={"email": "Bob@Example.com", "password": PASSWORD}).status_code == 200
    again = client.post(REGISTER, json={"email": "BOB@EXAMPLE.COM", "password": PASSWORD})
    assert again.status_code == 401 and again.get_json()["message"] == "Identity with email already exists"
    assert client.post(LOGIN, json={"email": "bOb@eXample.cOm", "password": PASSWORD}).status_code == 200
    assert identities(app) == ["bob@example.com"]


def test_normalize_email_is_nfkc_then_lower_case():
    assert normalize_email("Bob@Example.COM") == "bob@example.com"
    assert normalize_email("\uff22\uff4f\uff42@\uff25xample.com") == "bob@example.com"
    assert normalize_email("\ufb00@example.com") == "ff@example.com"  # the ligature ﬀ
    assert all(is_email(normalize_email(e)) for e in ("Bob@Example.COM", "o'Brien+X@Mail.Example.co.uk"))


# -- 10c. the discovery document and the tokens' issuer ------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.settings(MEDUSA_BACKEND_URL="https://auth.example.com")
def test_without_jwt_issuer_the_discovery_document_claims_no_issuer(client, auth):
    """It said issuer "https://auth.example.com" while tokens carry no iss: a client checking iss refused them all."""
    document = client.get("/.well-known/openid-configuration").get_json()
    assert "iss" not in claims_of(auth.token())
    assert "issuer" not in document
    assert document["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"


@pytest.mark.settings(JWT_ISSUER="https://auth.example.com", MEDUSA_BACKEND_URL="https://auth.example.com")
def test_control_with_jwt_issuer_the_discovery_document_names_the_tokens_iss(client, auth):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == claims_of(auth.token())["iss"] == "https://auth.example.com"


# -- 10d. CORS headers only for an allowed Origin ------------------------------------------------------------


@pytest.mark.settings(ADMIN_CORS=ADMIN_ORIGIN, AUTH_CORS=STORE_ORIGIN)
def test_a_request_without_an_origin_gets_no_cors_headers(client, auth):
    """flask-cors sent Access-Control-Allow-Origin: <the configured origin> to every request, Origin or not."""
    bearer = auth.bearer(auth.token())
    for response in (
        client.get("/admin/users/me", headers=bearer),
        client.get("/admin/users/me"),
        client.post(LOGIN, json={"email": "admin@example.com", "password": PASSWORD}),
        client.options("/admin/invites", headers={"Access-Control-Request-Method": "POST"}),
    ):
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")], response.headers


@pytest.mark.settings(ADMIN_CORS=ADMIN_ORIGIN, AUTH_CORS=STORE_ORIGIN)
def test_control_cors_headers_go_to_an_allowed_origin_on_its_own_area_only(client, auth):
    bearer = auth.bearer(auth.token())
    allowed = client.get("/admin/users/me", headers={**bearer, "Origin": ADMIN_ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ADMIN_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    store = client.post(LOGIN, json={"email": "x@example.com", "password": "y"}, headers={"Origin": STORE_ORIGIN})
    assert store.headers["Access-Control-Allow-Origin"] == STORE_ORIGIN
    for origin, path in ((STORE_ORIGIN, "/admin/users/me"), (ADMIN_ORIGIN, LOGIN), ("https://evil.example", LOGIN)):
        refused = client.post(path, json={}, headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in refused.headers, (origin, path)
