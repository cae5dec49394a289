"""Passkeys (SPEC §14): register signed in, sign in with a passkey alone, and every refusal.

The answers come from ``SoftAuthenticator``, an ES256 key that builds what a browser hands a page,
so each refusal is a real, signed answer with one thing wrong. The default MEDUSA_BACKEND_URL
(http://localhost:9000) makes the relying party ``localhost``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth import clock, create_app
from medusa_auth.auth import mfa_service, passkeys, throttle
from medusa_auth.database import db
from medusa_auth.models import Passkey, WebAuthnChallenge
from medusa_auth.providers import passkey as protocol
from medusa_auth.settings import ConfigError
from tests.helpers import (
    PASSWORD,
    AuthActions,
    FakeClock,
    bearer,
    claims_of,
    csrf_token,
    security_events,
    start_session,
)
from tests.soft_authenticator import AT, ORIGIN, UP, SoftAuthenticator, b64url

pytestmark = pytest.mark.settings(AUTH_METHODS_PER_ACTOR="user=emailpass,passkey;customer=emailpass,passkey")

USER_SIGN_IN = "/auth/user/passkey"
REFUSED = "passkey_refused"


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="medusa_auth.security")
    return caplog


def creation_options(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.post("/auth/passkeys/options", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    options: dict[str, Any] = response.get_json()
    return options


def register(client: FlaskClient, token: str, key: SoftAuthenticator, **bent: Any) -> Any:
    """Options, the authenticator's answer, and the finishing call's response."""
    answer = key.create(creation_options(client, token), **bent)
    return client.post("/auth/passkeys", json={"credential": answer, "label": "Laptop"}, headers=bearer(token))


def request_options(client: FlaskClient, actor_type: str = "user") -> dict[str, Any]:
    response = client.post(f"/auth/{actor_type}/passkey/options")
    assert response.status_code == 200, response.get_json()
    options: dict[str, Any] = response.get_json()
    return options


def sign_in(client: FlaskClient, key: SoftAuthenticator, actor_type: str = "user", **bent: Any) -> Any:
    answer = key.get(request_options(client, actor_type), **bent)
    return client.post(f"/auth/{actor_type}/passkey", json={"credential": answer})


@pytest.fixture
def admin(auth: AuthActions) -> str:
    """A fresh admin's access token (its sign-in is recent)."""
    return auth.token()


@pytest.fixture
def key(client: FlaskClient, admin: str) -> SoftAuthenticator:
    """The admin's registered passkey."""
    authenticator = SoftAuthenticator()
    response = register(client, admin, authenticator)
    assert response.status_code == 200, response.get_json()
    return authenticator


def refused_once(response: Any, events: pytest.LogCaptureFixture, message: str) -> dict[str, Any]:
    """A 401 saying ``message``, and exactly one passkey_refused line (returned)."""
    assert response.status_code == 401, response.get_json()
    assert response.get_json() == {"type": "unauthorized", "message": message}
    (event,) = security_events(events, REFUSED)
    return event


# ---------------------------------------------------------------- registering


def test_creation_options_ask_for_a_discoverable_passkey_and_a_verified_person(client, admin):
    options = creation_options(client, admin)
    assert options["rp"] == {"id": "localhost", "name": "Medusa Auth"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["user"]["name"] == "admin@example.com"
    assert options["timeout"] == 300_000 and options["attestation"] == "none"
    assert options["excludeCredentials"] == []


def test_register_list_and_the_next_options_exclude_it(client, admin, events):
    authenticator = SoftAuthenticator()
    response = register(client, admin, authenticator)
    assert response.status_code == 200, response.get_json()
    passkey = response.get_json()["passkey"]
    assert set(passkey) == {"id", "label", "created_at", "last_used_at"}
    assert passkey["id"].startswith("passkey_") and passkey["label"] == "Laptop" and passkey["last_used_at"] is None
    assert client.get("/auth/passkeys", headers=bearer(admin)).get_json() == {"passkeys": [passkey]}
    excluded = creation_options(client, admin)["excludeCredentials"]
    assert excluded == [{"id": b64url(authenticator.credential_id), "type": "public-key", "transports": ["internal"]}]
    (event,) = security_events(events, "passkey_registered")
    assert event["passkey_id"] == passkey["id"]


def test_nothing_secret_is_stored(app, client, key):
    with app.app_context():
        row = db.session.execute(db.select(Passkey)).scalar_one()
        assert row.credential_id == b64url(key.credential_id) and row.sign_count == 0
        assert b"\x02" in row.public_key[:8]  # a COSE EC2 public key, nothing private
        assert db.session.execute(db.select(WebAuthnChallenge)).first() is None  # the challenge was taken


def test_a_label_is_optional_and_checked(client, admin):
    answer = SoftAuthenticator().create(creation_options(client, admin))
    bad = client.post("/auth/passkeys", json={"credential": answer, "label": "a\x00b"}, headers=bearer(admin))
    assert bad.status_code == 400
    answer = SoftAuthenticator().create(creation_options(client, admin))
    response = client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(admin))
    assert response.status_code == 200 and response.get_json()["passkey"]["label"].startswith("Passkey added ")


@pytest.mark.parametrize("body", [{}, {"credential": "x"}, {"credential": []}, []])
def test_a_body_without_a_credential_object_is_a_400(client, admin, body):
    response = client.post("/auth/passkeys", json=body, headers=bearer(admin))
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_the_passkey_routes_need_a_sign_in(client):
    for method, path in [("post", "/auth/passkeys/options"), ("post", "/auth/passkeys"), ("get", "/auth/passkeys")]:
        response = getattr(client, method)(path, json={})
        assert response.status_code == 401, path
    assert client.delete("/auth/passkeys/passkey_01").status_code == 401


def test_any_actor_registered_or_not_may_add_one_and_sign_in_with_it(client, events):
    registered = client.post("/auth/customer/emailpass/register", json={"email": "c@example.com", "password": "x" * 12})
    token = registered.get_json()["token"]
    assert claims_of(token)["actor_id"] == ""
    authenticator = SoftAuthenticator()
    assert register(client, token, authenticator).status_code == 200
    signed_in = sign_in(client, authenticator, "customer")
    assert signed_in.status_code == 200
    claims = claims_of(signed_in.get_json()["token"])
    assert claims["actor_type"] == "customer" and claims["actor_id"] == ""
    assert claims["auth_identity_id"] == claims_of(token)["auth_identity_id"]


def test_a_cookie_session_lists_and_adds_passkeys_from_this_site_only(client, admin):
    start_session(client, admin)
    ours = {"Origin": ORIGIN}
    assert client.get("/auth/passkeys").get_json() == {"passkeys": []}
    options = client.post("/auth/passkeys/options", headers=ours)
    assert options.status_code == 200
    answer = SoftAuthenticator().create(options.get_json())
    assert client.post("/auth/passkeys", json={"credential": answer}, headers=ours).status_code == 200
    assert len(client.get("/auth/passkeys").get_json()["passkeys"]) == 1
    cross = client.post("/auth/passkeys/options", headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403


def test_registering_is_refused_when_the_challenge_was_another_accounts(client, auth, admin, events):
    other = auth.token("other@example.com")
    answer = SoftAuthenticator().create(creation_options(client, other))
    response = client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(admin))
    event = refused_once(response, events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another identity" and event["ceremony"] == "registration"


def test_registering_without_user_verification_is_refused(client, admin, events):
    response = register(client, admin, SoftAuthenticator(), flags=UP | AT)
    refused_once(response, events, protocol.NOT_VERIFIED)


def test_registering_for_another_site_is_refused(client, admin, events):
    refused_once(
        register(client, admin, SoftAuthenticator(), origin="https://evil.example"), events, protocol.WRONG_SITE
    )


def test_registering_a_passkey_already_registered_is_refused(client, auth, key, events):
    other = auth.token("other@example.com")
    again = SoftAuthenticator(key=key.key, credential_id=key.credential_id)
    refused_once(register(client, other, again), events, passkeys.ALREADY_REGISTERED)


def test_changing_passkeys_needs_a_recent_sign_in(client, key, admin, frozen_clock: FakeClock, events):
    listed = client.get("/auth/passkeys", headers=bearer(admin)).get_json()["passkeys"]
    frozen_clock.move(passkeys.RECENT_SIGN_IN_SECONDS + 1)
    for response in (
        client.post("/auth/passkeys/options", headers=bearer(admin)),
        client.delete(f"/auth/passkeys/{listed[0]['id']}", headers=bearer(admin)),
    ):
        assert response.status_code == 401 and response.get_json()["message"] == passkeys.SIGN_IN_AGAIN
    assert client.get("/auth/passkeys", headers=bearer(admin)).status_code == 200  # reading is fine


# ---------------------------------------------------------------- deleting


def test_delete_one_and_it_signs_in_no_more(client, key, admin, events):
    (listed,) = client.get("/auth/passkeys", headers=bearer(admin)).get_json()["passkeys"]
    response = client.delete(f"/auth/passkeys/{listed['id']}", headers=bearer(admin))
    assert response.get_json() == {"id": listed["id"], "object": "passkey", "deleted": True}
    assert client.get("/auth/passkeys", headers=bearer(admin)).get_json() == {"passkeys": []}
    refused_once(sign_in(client, key), events, passkeys.NOT_REGISTERED)


def test_another_accounts_passkey_cannot_be_deleted(client, auth, key, admin):
    (listed,) = client.get("/auth/passkeys", headers=bearer(admin)).get_json()["passkeys"]
    other = auth.token("other@example.com")
    assert client.delete(f"/auth/passkeys/{listed['id']}", headers=bearer(other)).status_code == 404
    assert client.delete("/auth/passkeys/not%00an-id", headers=bearer(other)).status_code == 404
    assert len(client.get("/auth/passkeys", headers=bearer(admin)).get_json()["passkeys"]) == 1


# ---------------------------------------------------------------- signing in


def test_providers_list_passkey_where_allowed(client, app_factory):
    listed = client.get("/auth/user/providers").get_json()["providers"]
    assert {"id": "passkey", "identifier": "passkey", "display_name": "Passkey", "flow": "credentials"} in listed
    plain = app_factory(AUTH_METHODS_PER_ACTOR=None).test_client()
    assert [p["id"] for p in plain.get("/auth/user/providers").get_json()["providers"]] == ["emailpass"]
    assert plain.post("/auth/user/passkey/options").status_code == 401
    assert plain.post(USER_SIGN_IN, json={"credential": {}}).status_code == 401


def test_request_options_name_no_one(client):
    options = request_options(client)
    assert options["rpId"] == "localhost" and options["userVerification"] == "required"
    assert options["allowCredentials"] == [] and options["timeout"] == 300_000


def test_sign_in_with_the_passkey_alone(app, client, key, events):
    response = sign_in(client, key)
    assert response.status_code == 200, response.get_json()
    claims = claims_of(response.get_json()["token"])
    assert claims["actor_type"] == "user" and claims["actor_id"].startswith("user_")
    assert claims["auth_provider"] == "passkey"
    assert client.get("/admin/users/me", headers=bearer(response.get_json()["token"])).status_code == 200
    with app.app_context():
        row = db.session.execute(db.select(Passkey)).scalar_one()
        assert row.sign_count == 1 and row.last_used_at is not None
    (event,) = security_events(events, "login_succeeded")[-1:]
    assert event["provider"] == "passkey" and event["actor_id"] == claims["actor_id"]
    assert security_events(events, REFUSED) == []


def test_an_authenticator_without_a_counter_signs_in_again_and_again(client, key):
    for _ in range(2):
        assert sign_in(client, key, counter=0).status_code == 200


def test_a_replayed_answer_is_refused(client, key, events):
    answer = key.get(request_options(client))
    assert client.post(USER_SIGN_IN, json={"credential": answer}).status_code == 200
    replayed = client.post(USER_SIGN_IN, json={"credential": answer})
    refused_once(replayed, events, protocol.CHALLENGE_UNKNOWN)


def test_an_expired_challenge_is_refused(client, key, frozen_clock: FakeClock, events):
    options = request_options(client)
    frozen_clock.move(protocol.CHALLENGE_LIFETIME_SECONDS)
    response = client.post(USER_SIGN_IN, json={"credential": key.get(options)})
    refused_once(response, events, protocol.CHALLENGE_UNKNOWN)


def test_a_challenge_the_service_never_gave_is_refused(client, key, events):
    response = client.post(USER_SIGN_IN, json={"credential": key.get({"challenge": b64url(b"m" * 32)})})
    refused_once(response, events, protocol.CHALLENGE_UNKNOWN)


def test_a_registration_challenge_does_not_sign_in(client, key, admin, events):
    registration = creation_options(client, admin)
    response = client.post(USER_SIGN_IN, json={"credential": key.get(registration, rp_id="localhost")})
    event = refused_once(response, events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another ceremony"


def test_another_actor_types_challenge_does_not_sign_in(client, key, events):
    answer = key.get(request_options(client, "customer"))
    event = refused_once(client.post(USER_SIGN_IN, json={"credential": answer}), events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another actor type"


def test_another_origin_is_refused(client, key, events):
    event = refused_once(sign_in(client, key, origin="https://evil.example"), events, protocol.WRONG_SITE)
    assert "evil.example" in event["reason"]


def test_another_relying_party_is_refused(client, key, events):
    refused_once(sign_in(client, key, rp_id="evil.example"), events, protocol.WRONG_SITE)


def test_user_verification_missing_is_refused(client, key, events):
    refused_once(sign_in(client, key, flags=UP), events, protocol.NOT_VERIFIED)


def test_an_unknown_credential_is_refused(client, key, events):
    stranger = SoftAuthenticator(user_handle=key.user_handle)
    event = refused_once(sign_in(client, stranger), events, passkeys.NOT_REGISTERED)
    assert event["reason"] == "unknown credential"


def test_a_credential_claiming_another_account_is_refused(client, key, events):
    event = refused_once(sign_in(client, key, user_handle=b"authid_someone_else"), events, passkeys.ANOTHER_ACCOUNT)
    assert event["passkey_id"].startswith("passkey_")


def test_a_counter_that_went_backwards_is_a_cloned_authenticator(app, client, key, events):
    assert sign_in(client, key, counter=7).status_code == 200
    events.clear()
    event = refused_once(sign_in(client, key, counter=3), events, passkeys.CLONED)
    assert "cloned" in event["reason"]
    events.clear()
    refused_once(sign_in(client, key, counter=7), events, passkeys.CLONED)  # not forward either
    with app.app_context():
        assert db.session.execute(db.select(Passkey.sign_count)).scalar_one() == 7


def test_a_signature_by_another_key_is_refused(client, key, events):
    forger = SoftAuthenticator(credential_id=key.credential_id, user_handle=key.user_handle)
    event = refused_once(sign_in(client, forger), events, protocol.DOES_NOT_VERIFY)
    assert "signature" in event["reason"]


def mangled_answers(answer: dict[str, Any]) -> list[Any]:
    response = answer["response"]
    return [
        {},
        {**answer, "id": 5},
        {**answer, "rawId": "!!!"},
        {**answer, "type": "other"},
        {**answer, "response": "x"},
        {**answer, "response": {**response, "clientDataJSON": b64url(b"not json")}},
        {**answer, "response": {**response, "clientDataJSON": b64url(b'{"type": 1, "challenge": 2, "origin": 3}')}},
        {**answer, "response": {**response, "clientDataJSON": b64url(b"[]")}},
        {**answer, "response": {**response, "authenticatorData": b64url(b"short")}},
        {**answer, "response": {**response, "authenticatorData": "%%%"}},
        {**answer, "response": {**response, "signature": b64url(b"\x00" * 70)}},
        {**answer, "response": {**response, "userHandle": 12}},
        {**answer, "authenticatorAttachment": "floppy"},
    ]


def test_mangled_assertions_are_401s_never_500s(client, key, events):
    good = key.get(request_options(client))
    for mangled in mangled_answers(good):
        events.clear()
        response = client.post(USER_SIGN_IN, json={"credential": mangled})
        assert response.status_code == 401, (mangled, response.get_json())
        assert len(security_events(events, REFUSED)) == 1


def test_mangled_registrations_are_401s_never_500s(client, admin, events):
    good = SoftAuthenticator().create(creation_options(client, admin))
    response = good["response"]
    for mangled in [
        {**good, "response": {**response, "attestationObject": b64url(b"\xa0")}},
        {**good, "response": {**response, "attestationObject": b64url(b"\xff\xff")}},
        {**good, "response": {**response, "attestationObject": "%%%"}},
        {**good, "rawId": b64url(b"other")},
        {},
    ]:
        events.clear()
        answer = client.post("/auth/passkeys", json={"credential": mangled}, headers=bearer(admin))
        assert answer.status_code == 401, (mangled, answer.get_json())
        assert len(security_events(events, REFUSED)) == 1


def allowed(response: Any) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


def test_the_passkey_provider_has_no_get_password_or_callback_route(client, key):
    answer = client.get(USER_SIGN_IN, json={"email": "admin@example.com", "password": "correct horse battery staple"})
    assert answer.status_code == 405 and allowed(answer) == {"OPTIONS", "POST"}
    for route in ("register", "reset-password", "callback"):
        assert client.post(f"/auth/user/passkey/{route}", json={}).status_code == 404, route
    assert client.post("/auth/user/passkey/update", json={}).status_code == 401  # the guard wants a reset token first
    assert allowed(client.options("/auth/passkeys/options")) == {"OPTIONS", "POST"}


# ---------------------------------------------------------------- configuration and the store


def test_webauthn_origins_adds_origins_on_the_relying_partys_domain(app_factory, auth):
    app = app_factory(
        MEDUSA_BACKEND_URL="https://auth.shop.example",
        WEBAUTHN_RP_ID="shop.example",
        WEBAUTHN_ORIGINS="https://admin.shop.example",
    )
    client = app.test_client()
    token = AuthActions(app, client).token()
    authenticator = SoftAuthenticator()
    answer = authenticator.create(creation_options(client, token), origin="https://admin.shop.example")
    assert client.post("/auth/passkeys", json={"credential": answer}, headers=bearer(token)).status_code == 200
    assert sign_in(client, authenticator, origin="https://auth.shop.example").status_code == 200


@pytest.mark.parametrize(
    ("auth_cors", "warned"),
    [(None, True), ("https://admin.shop.example", False), ("https://other.shop.example", True)],
)
def test_a_passkey_origin_the_browser_may_not_call_auth_from_is_warned_of(
    app_factory, caplog, auth_cors: str | None, warned: bool
):
    app_factory(
        MEDUSA_BACKEND_URL="https://auth.shop.example",
        WEBAUTHN_RP_ID="shop.example",
        WEBAUTHN_ORIGINS="https://admin.shop.example,https://auth.shop.example",  # its own origin needs no CORS
        AUTH_CORS=auth_cors,
    )
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("WEBAUTHN_ORIGINS")]
    expected = ["WEBAUTHN_ORIGINS: https://admin.shop.example not in AUTH_CORS: passkeys work there only if that "
                "page reaches /auth through a proxy of its own"]  # fmt: skip
    assert warnings == (expected if warned else [])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"WEBAUTHN_ORIGINS": "https://evil.example"}, "^WEBAUTHN_ORIGINS: 'https://evil.example' is not on"),
        ({"WEBAUTHN_RP_ID": "127.0.0.1"}, "^WEBAUTHN_RP_ID='127.0.0.1' must be a domain"),
        ({"WEBAUTHN_RP_ID": "shop.example"}, "^MEDUSA_BACKEND_URL: 'http://localhost:9000' is not on"),
        ({"MEDUSA_BACKEND_URL": "http://127.0.0.1:9000"}, "^AUTH_METHODS_PER_ACTOR: user may use passkey, but"),
    ],
)
def test_a_relying_party_that_cannot_work_stops_startup(settings, overrides: dict[str, Any], message: str):
    with pytest.raises(ConfigError, match=message):
        create_app({**settings, **overrides})


@pytest.mark.settings(MEDUSA_BACKEND_URL="http://127.0.0.1:9000", AUTH_METHODS_PER_ACTOR=None)
def test_a_backend_on_an_ip_address_has_no_passkeys(client, admin):
    response = client.post("/auth/passkeys/options", headers=bearer(admin))
    assert response.status_code == 501 and response.get_json()["message"] == passkeys.UNAVAILABLE


def test_the_purge_deletes_unanswered_challenges(app: Flask, client, runner, frozen_clock: FakeClock):
    request_options(client)
    frozen_clock.move(protocol.CHALLENGE_LIFETIME_SECONDS)
    result = runner.invoke(args=["purge"])
    assert "passkey challenges: 1 deleted" in result.output, result.output


def test_challenges_live_in_redis_when_redis_url_is_set(app_factory, redis_url, redis_prefix, auth):
    app = app_factory(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=redis_prefix)
    client = app.test_client()
    token = AuthActions(app, client).token()
    authenticator = SoftAuthenticator()
    assert register(client, token, authenticator).status_code == 200
    answer = authenticator.get(request_options(client))
    assert client.post(USER_SIGN_IN, json={"credential": answer}).status_code == 200
    assert client.post(USER_SIGN_IN, json={"credential": answer}).status_code == 401
    with app.app_context():
        assert db.session.execute(db.select(WebAuthnChallenge)).first() is None


# ---------------------------------------------------------------- the pages, as the server renders them


def test_the_sign_in_page_offers_a_passkey_and_its_autofill_where_allowed(client, app_factory):
    page = client.get("/app/login").get_data(as_text=True)
    assert 'autocomplete="username webauthn"' in page and "Sign in with a passkey" in page
    assert '<script src="/app/static/passkeys.js" defer></script>' in page
    with client.get("/app/static/passkeys.js") as script:
        assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert "'self'" in client.get("/app/login").headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    plain = app_factory(AUTH_METHODS_PER_ACTOR=None).test_client().get("/app/login").get_data(as_text=True)
    assert "passkey" not in plain and 'autocomplete="username"' in plain


def test_the_account_page_lists_passkeys_and_removes_one_with_a_form(client, key, admin):
    start_session(client, admin)
    page = client.get("/app/").get_data(as_text=True)
    assert "Laptop" in page and "never used" in page and "Add a passkey" in page
    (listed,) = client.get("/auth/passkeys").get_json()["passkeys"]
    token = csrf_token(client, "/app/")
    removed = client.post(f"/app/passkeys/{listed['id']}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "The passkey was removed." in removed.get_data(as_text=True)
    assert client.get("/auth/passkeys").get_json() == {"passkeys": []}


def test_a_stale_session_is_told_to_sign_in_again_before_removing_one(client, key, admin, frozen_clock: FakeClock):
    start_session(client, admin)
    (listed,) = client.get("/auth/passkeys").get_json()["passkeys"]
    token = csrf_token(client, "/app/")
    frozen_clock.move(passkeys.RECENT_SIGN_IN_SECONDS + 1)
    refused = client.post(f"/app/passkeys/{listed['id']}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert f"The passkey was not removed: {passkeys.SIGN_IN_AGAIN}." in refused.get_data(as_text=True)
    assert len(client.get("/auth/passkeys").get_json()["passkeys"]) == 1


def test_a_passkey_sign_in_passes_the_second_factor_too(client, key, admin):
    """User verification is required, so a passkey is a second factor itself: no TOTP code is asked for."""
    started = client.post("/auth/mfa/factors", json={"provider": "totp"}, headers=bearer(admin)).get_json()
    code = pyotp.TOTP(started["secret"]).now()
    verify = f"/auth/mfa/factors/{started['mfa_factor']['id']}/verify"
    assert client.post(verify, json={"code": code}, headers=bearer(admin)).status_code == 200
    token = sign_in(client, key).get_json()["token"]
    claims = claims_of(token)
    assert claims["mfa_enabled"] is True and isinstance(claims["mfa_challenge_completed_at"], str)
    assert client.get("/admin/users/me", headers=bearer(token)).status_code == 200


# ---------------------------------------------------------------- a passkey as the second factor (issue 18, part 7)

SECOND_FACTOR = "second_factor"


def turn_on_totp(client: FlaskClient, token: str) -> str:
    """Enable a TOTP factor for the token's identity (its earlier sign-ins end); the secret."""
    started = client.post("/auth/mfa/factors", json={"provider": "totp"}, headers=bearer(token)).get_json()
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    verify = f"/auth/mfa/factors/{started['mfa_factor']['id']}/verify"
    assert client.post(verify, json={"code": code}, headers=bearer(token)).status_code == 200
    secret: str = started["secret"]
    return secret


def password_login(client: FlaskClient, email: str = "admin@example.com", **environ: Any) -> dict[str, Any]:
    response = client.post("/auth/user/emailpass", json={"email": email, "password": PASSWORD}, environ_base=environ)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def challenge_path(challenge: dict[str, Any], step: str) -> str:
    return f"/auth/mfa/challenges/{challenge['mfa_challenge']['id']}/{step}"


def second_factor_options(client: FlaskClient, challenge: dict[str, Any]) -> dict[str, Any]:
    response = client.post(challenge_path(challenge, "options"), headers=bearer(challenge["token"]))
    assert response.status_code == 200, response.get_json()
    options: dict[str, Any] = response.get_json()
    return options


def answer_with(client: FlaskClient, challenge: dict[str, Any], code: Any, **environ: Any) -> Any:
    body = {"method": "webauthn", "code": code}
    return client.post(
        challenge_path(challenge, "verify"), json=body, headers=bearer(challenge["token"]), environ_base=environ
    )


@pytest.fixture
def two_step(client: FlaskClient, key: SoftAuthenticator, admin: str) -> str:
    """The admin has a passkey (``key``) and TOTP on: a password login is challenged. The TOTP secret."""
    return turn_on_totp(client, admin)


def refused_as_second_factor(response: Any, events: pytest.LogCaptureFixture, message: str) -> dict[str, Any]:
    """A 401 saying ``message``, one passkey_refused line of the second factor, and one attempt counted."""
    event = refused_once(response, events, message)
    assert event["ceremony"] == SECOND_FACTOR
    (failed,) = security_events(events, "mfa_challenge_failed")
    assert failed["method"] == "webauthn" and failed["attempts_left"] == 4
    return event


def test_a_passkey_alone_starts_no_challenge(client, key):
    """The lead's decision: only an enabled factor (TOTP) makes a password login ask for a second one."""
    answer = password_login(client)
    assert "mfa_required" not in answer and claims_of(answer["token"])["mfa_enabled"] is False


def test_a_challenge_offers_webauthn_to_an_identity_with_a_passkey(client, two_step, auth):
    assert password_login(client)["mfa_challenge"]["methods"] == ["totp", "webauthn", "recovery_code"]
    turn_on_totp(client, auth.token("nopasskey@example.com"))
    assert password_login(client, "nopasskey@example.com")["mfa_challenge"]["methods"] == ["totp", "recovery_code"]


def test_the_options_allow_only_the_identitys_own_passkeys(client, two_step, key, auth):
    other = SoftAuthenticator()
    assert register(client, auth.token("other@example.com"), other).status_code == 200
    options = second_factor_options(client, password_login(client))
    assert options["allowCredentials"] == [
        {"id": b64url(key.credential_id), "type": "public-key", "transports": ["internal"]}
    ]
    assert options["rpId"] == "localhost" and options["userVerification"] == "required"


def test_answer_a_password_logins_challenge_with_the_passkey(app, client, two_step, key, events):
    challenge = password_login(client)
    answered = answer_with(client, challenge, key.get(second_factor_options(client, challenge)))
    assert answered.status_code == 200, answered.get_json()
    token = answered.get_json()["token"]
    claims = claims_of(token)
    assert claims["actor_id"].startswith("user_") and claims["auth_provider"] == "emailpass"
    assert claims["mfa_enabled"] is True and isinstance(claims["mfa_challenge_completed_at"], str)
    assert client.get("/admin/users/me", headers=bearer(token)).status_code == 200
    with app.app_context():
        row = db.session.execute(db.select(Passkey)).scalar_one()
        assert row.sign_count == 1 and row.last_used_at is not None
    (completed,) = security_events(events, "mfa_challenge_completed")
    assert completed["method"] == "webauthn"
    assert security_events(events, REFUSED) == []
    assert b64url(key.credential_id) not in events.text  # the answer is never logged
    # One challenge gives one token.
    again = answer_with(client, challenge, key.get(second_factor_options(client, password_login(client))))
    assert again.status_code == 401 and again.get_json()["message"] == mfa_service.CHALLENGE_SPENT


def test_a_browser_holding_the_challenge_answers_it_with_a_passkey(client, two_step, key, events):
    """Medusa's JS SDK in session mode: the challenge token went to POST /auth/session, so options and verify come
    with the browser's cookie alone."""
    challenge = password_login(client)
    assert client.post("/auth/session", headers=bearer(challenge["token"])).status_code == 200
    options = client.post(challenge_path(challenge, "options"))
    assert options.status_code == 200, options.get_json()
    assert [c["id"] for c in options.get_json()["allowCredentials"]] == [b64url(key.credential_id)]
    body = {"method": "webauthn", "code": key.get(options.get_json())}
    answered = client.post(challenge_path(challenge, "verify"), json=body)
    assert answered.status_code == 200, answered.get_json()
    assert client.post("/auth/session", headers=bearer(answered.get_json()["token"])).status_code == 200
    assert client.get("/admin/users/me").status_code == 200
    (completed,) = security_events(events, "mfa_challenge_completed")
    assert completed["method"] == "webauthn"


def test_the_answer_may_come_as_its_json_text(client, two_step, key):
    challenge = password_login(client)
    answer = key.get(second_factor_options(client, challenge))
    assert answer_with(client, challenge, json.dumps(answer)).status_code == 200


@pytest.mark.parametrize(
    ("bent", "message", "reason"),
    [
        ({"flags": UP}, protocol.NOT_VERIFIED, "user verification missing"),
        ({"origin": "https://evil.example"}, protocol.WRONG_SITE, "origin 'https://evil.example' not allowed"),
        ({"rp_id": "evil.example"}, protocol.WRONG_SITE, "relying party id hash is another site's"),
        ({"user_handle": b"authid_someone_else"}, passkeys.ANOTHER_ACCOUNT, "user handle of another identity"),
        ({"challenge": b64url(b"m" * 32)}, protocol.CHALLENGE_UNKNOWN, "challenge unknown, expired or used"),
    ],
)
def test_a_bent_answer_is_refused_and_counted(client, two_step, key, events, bent, message, reason):
    challenge = password_login(client)
    answer = key.get(second_factor_options(client, challenge), **bent)
    event = refused_as_second_factor(answer_with(client, challenge, answer), events, message)
    assert event["reason"] == reason
    assert event["mfa_challenge_id"] == challenge["mfa_challenge"]["id"]
    assert event["auth_identity_id"] == claims_of(challenge["token"])["auth_identity_id"]


def test_an_answer_for_a_passwordless_sign_in_is_refused(client, two_step, key, events):
    challenge = password_login(client)
    answer = key.get(request_options(client))
    event = refused_as_second_factor(answer_with(client, challenge, answer), events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another ceremony"


def test_an_answer_for_a_second_factor_does_not_sign_in_alone(client, two_step, key, events):
    answer = key.get(second_factor_options(client, password_login(client)))
    event = refused_once(client.post(USER_SIGN_IN, json={"credential": answer}), events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another ceremony"


def test_an_answer_for_another_challenge_of_the_same_identity_is_refused(client, two_step, key, events):
    first, second = password_login(client), password_login(client)
    answer = key.get(second_factor_options(client, first))
    event = refused_as_second_factor(answer_with(client, second, answer), events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another MFA challenge"


def test_an_answer_for_another_identitys_challenge_is_refused(client, two_step, key, auth, events):
    """Someone who knows the admin's password has their own passkey sign their own challenge's options."""
    intruder = SoftAuthenticator()
    intruder_token = auth.token("intruder@example.com")
    assert register(client, intruder_token, intruder).status_code == 200
    turn_on_totp(client, intruder_token)
    own = password_login(client, "intruder@example.com")
    answer = intruder.get(second_factor_options(client, own))
    victims = password_login(client)
    event = refused_as_second_factor(answer_with(client, victims, answer), events, protocol.CHALLENGE_ELSEWHERE)
    assert event["reason"] == "challenge issued for another identity"


def test_another_identitys_passkey_on_this_challenges_options_is_refused(client, two_step, auth, events):
    """The challenge token's holder signs this challenge's options with a passkey registered to someone else."""
    intruder = SoftAuthenticator()
    assert register(client, auth.token("intruder@example.com"), intruder).status_code == 200
    challenge = password_login(client)
    answer = intruder.get(second_factor_options(client, challenge))
    event = refused_as_second_factor(answer_with(client, challenge, answer), events, passkeys.ANOTHER_ACCOUNT)
    assert event["reason"] == "credential of another identity" and event["passkey_id"].startswith("passkey_")


def test_an_unknown_passkey_is_refused(client, two_step, key, events):
    challenge = password_login(client)
    stranger = SoftAuthenticator(user_handle=key.user_handle)
    answer = stranger.get(second_factor_options(client, challenge))
    event = refused_as_second_factor(answer_with(client, challenge, answer), events, passkeys.NOT_REGISTERED)
    assert event["reason"] == "unknown credential"


def test_a_signature_by_another_key_is_refused_as_second_factor(client, two_step, key, events):
    challenge = password_login(client)
    forger = SoftAuthenticator(credential_id=key.credential_id, user_handle=key.user_handle)
    answer = forger.get(second_factor_options(client, challenge))
    event = refused_as_second_factor(answer_with(client, challenge, answer), events, protocol.DOES_NOT_VERIFY)
    assert "signature" in event["reason"]


def test_a_counter_that_went_backwards_is_refused_as_second_factor(app, client, two_step, key, events):
    challenge = password_login(client)
    assert (
        answer_with(client, challenge, key.get(second_factor_options(client, challenge), counter=7)).status_code == 200
    )
    events.clear()
    challenge = password_login(client)
    answer = key.get(second_factor_options(client, challenge), counter=3)
    assert (
        "cloned" in refused_as_second_factor(answer_with(client, challenge, answer), events, passkeys.CLONED)["reason"]
    )
    with app.app_context():
        assert db.session.execute(db.select(Passkey.sign_count)).scalar_one() == 7


def test_a_replayed_answer_is_refused_as_second_factor(client, two_step, key, events):
    first = password_login(client)
    answer = key.get(second_factor_options(client, first))
    assert answer_with(client, first, answer).status_code == 200
    events.clear()
    refused_as_second_factor(answer_with(client, password_login(client), answer), events, protocol.CHALLENGE_UNKNOWN)


def test_an_expired_challenge_takes_no_passkey(client, two_step, key, frozen_clock: FakeClock, events):
    challenge = password_login(client)
    answer = key.get(second_factor_options(client, challenge))
    frozen_clock.move(protocol.CHALLENGE_LIFETIME_SECONDS)
    response = answer_with(client, challenge, answer)
    assert response.status_code == 401 and response.get_json()["message"] == mfa_service.CHALLENGE_SPENT
    assert client.post(challenge_path(challenge, "options"), headers=bearer(challenge["token"])).status_code == 401


def test_wrong_answers_spend_the_challenge_like_wrong_codes(client, two_step, key, events):
    challenge = password_login(client)
    statuses = []
    for attempt in range(5):
        answer = key.get(second_factor_options(client, challenge), flags=UP)
        response = answer_with(client, challenge, answer, REMOTE_ADDR=f"192.0.2.{attempt}")
        statuses.append(response.get_json()["message"])
    assert statuses == [protocol.NOT_VERIFIED] * 4 + [mfa_service.CHALLENGE_SPENT]
    assert [e["attempts_left"] for e in security_events(events, "mfa_challenge_failed")] == [4, 3, 2, 1, 0]
    spent = client.post(challenge_path(challenge, "options"), headers=bearer(challenge["token"]))
    assert spent.status_code == 401 and spent.get_json()["message"] == mfa_service.CHALLENGE_SPENT


@pytest.mark.parametrize(
    "code",
    [None, 5, [], "", "not json", "[1, 2]", '{"id": "x"', "x" * (mfa_service.MAX_ASSERTION_LENGTH + 1)],
)
def test_an_answer_of_the_wrong_shape_is_a_400_and_no_attempt(client, two_step, key, events, code):
    challenge = password_login(client)
    response = answer_with(client, challenge, code)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"
    assert security_events(events, "mfa_challenge_failed") == []
    assert answer_with(client, challenge, key.get(second_factor_options(client, challenge))).status_code == 200


def test_an_oversized_answer_object_is_a_400(client, two_step, key):
    challenge = password_login(client)
    answer = key.get(second_factor_options(client, challenge))
    padded = {**answer, "clientExtensionResults": {"padding": "x" * mfa_service.MAX_ASSERTION_LENGTH}}
    assert answer_with(client, challenge, padded).status_code == 400


def test_mangled_answers_are_401s_never_500s_as_second_factor(client, two_step, key, events):
    for index, mangled in enumerate(mangled_answers(key.get(request_options(client)))):
        challenge = password_login(client)
        second_factor_options(client, challenge)
        response = answer_with(client, challenge, mangled, REMOTE_ADDR=f"192.0.2.{index}")
        assert response.status_code == 401, (mangled, response.get_json())


def test_the_options_route_answers_only_the_tokens_own_live_challenge(client, two_step, admin, auth):
    first, second = password_login(client), password_login(client)
    crossed = client.post(challenge_path(second, "options"), headers=bearer(first["token"]))
    assert crossed.status_code == 401 and crossed.get_json()["message"] == "Invalid auth token provided"
    assert client.post(challenge_path(first, "options")).status_code == 401  # no token
    access = auth.login()  # a token the password alone gives, before the challenge: not a challenge token
    assert client.post(challenge_path(first, "options"), headers=bearer(access)).status_code == 401
    turn_on_totp(client, auth.token("nopasskey@example.com"))
    without = password_login(client, "nopasskey@example.com")
    refused = client.post(challenge_path(without, "options"), headers=bearer(without["token"]))
    assert refused.status_code == 400 and refused.get_json() == {"type": "not_allowed", "message": passkeys.NO_PASSKEY}
    assert client.post("/auth/mfa/challenges/not%00an-id/options", headers=bearer(first["token"])).status_code == 404


def test_a_passkey_does_not_turn_a_factor_off(client, two_step, key):
    """Disabling needs a code: a passkey's answer has no challenge to sign there, so ``webauthn`` is no method."""
    challenge = password_login(client)
    token = answer_with(client, challenge, key.get(second_factor_options(client, challenge))).get_json()["token"]
    (factor,) = client.get("/auth/mfa/factors", headers=bearer(token)).get_json()["mfa_factors"]
    body = {"method": "webauthn", "code": key.get(request_options(client))}
    response = client.delete(f"/auth/mfa/factors/{factor['id']}", json=body, headers=bearer(token))
    assert response.status_code == 400
    assert response.get_json()["message"] == "method must be one of: totp, recovery_code"


# ---------------------------------------------------------------- the options are throttled per client address


def test_passkey_options_are_throttled_per_client_address(client, events):
    limit = throttle.PASSKEY_OPTIONS.amount
    for _ in range(limit):
        assert client.post("/auth/user/passkey/options", environ_base={"REMOTE_ADDR": "192.0.2.20"}).status_code == 200
    refused = client.post("/auth/user/passkey/options", environ_base={"REMOTE_ADDR": "192.0.2.20"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.get_json() == {"type": "too_many_requests", "message": throttle.TOO_MANY_ATTEMPTS}
    (event,) = security_events(events, "passkey_options_throttled")
    assert event["client"] == "192.0.2.20"
    assert client.post("/auth/user/passkey/options", environ_base={"REMOTE_ADDR": "192.0.2.21"}).status_code == 200
    # A password sign-in from that address is not held back: the options have a counter of their own.
    assert (
        client.post(
            "/auth/user/emailpass",
            json={"email": "nobody@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "192.0.2.20"},
        ).status_code
        == 401
    )


# ---------------------------------------------------------------- the sign-in page's second step, with a passkey

CODE_PAGE = "/app/login/code"
PAGE_OPTIONS = "/app/login/code/passkey-options"


def page_password_sign_in(client: FlaskClient, email: str = "admin@example.com") -> str:
    """The sign-in page's password step, for an identity with two-step sign-in on: the code page's CSRF token."""
    token = csrf_token(client, "/app/login?next=/app/")
    form = {"csrf_token": token, "email": email, "password": PASSWORD}
    response = client.post("/app/login?next=/app/", data=form)
    assert response.status_code == 302 and response.headers["Location"] == CODE_PAGE
    return csrf_token(client, CODE_PAGE)


def page_options(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.post(PAGE_OPTIONS, data={"csrf_token": token})
    assert response.status_code == 200, response.get_json()
    options: dict[str, Any] = response.get_json()
    return options


def test_the_code_page_offers_a_passkey_to_an_identity_with_one(client, two_step, auth):
    page_password_sign_in(client)
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert 'data-passkeys="second-factor"' in page and "Use a passkey" in page
    assert '<script src="/app/static/passkeys.js" defer></script>' in page
    assert 'name="code"' in page  # the code form works without the script
    browser = client.application.test_client()
    turn_on_totp(client, auth.token("nopasskey@example.com"))
    page_password_sign_in(browser, "nopasskey@example.com")
    assert "passkey" not in browser.get(CODE_PAGE).get_data(as_text=True)


def test_the_code_page_signs_in_with_the_passkey(client, two_step, key, events):
    token = page_password_sign_in(client)
    options = page_options(client, token)
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
    answer = json.dumps(key.get(options))
    response = client.post(CODE_PAGE, data={"csrf_token": token, "credential": answer})
    assert response.status_code == 302 and response.headers["Location"] == "/app/"
    assert "admin@example.com" in client.get("/app/").get_data(as_text=True)
    me = client.get("/admin/users/me")
    assert me.status_code == 200, me.get_json()  # the session passed its second factor
    (completed,) = security_events(events, "mfa_challenge_completed")
    assert completed["method"] == "webauthn"


def test_the_code_page_says_why_a_passkey_was_refused(client, two_step, key, events):
    token = page_password_sign_in(client)
    answer = json.dumps(key.get(page_options(client, token), flags=UP))
    refused = client.post(CODE_PAGE, data={"csrf_token": token, "credential": answer})
    assert refused.status_code == 401 and protocol.NOT_VERIFIED in refused.get_data(as_text=True)
    assert answer not in refused.get_data(as_text=True)  # the answer is not sent back into the page
    (event,) = security_events(events, REFUSED)
    assert event["ceremony"] == SECOND_FACTOR
    assert client.get("/admin/users/me").status_code == 401
    again = json.dumps(key.get(page_options(client, token)))  # the challenge has attempts left
    assert client.post(CODE_PAGE, data={"csrf_token": token, "credential": again}).status_code == 302


@pytest.mark.parametrize(
    ("credential", "status"),
    [("", 400), ("x" * (mfa_service.MAX_ASSERTION_LENGTH + 1), 400), ("not json", 400), ("[]", 400), ("{}", 401)],
)
def test_the_code_page_refuses_a_bad_answer_with_a_page(client, two_step, credential, status):
    token = page_password_sign_in(client)
    response = client.post(CODE_PAGE, data={"csrf_token": token, "credential": credential})
    assert response.status_code == status and response.mimetype == "text/html"
    assert 'role="alert"' in response.get_data(as_text=True)


def test_the_code_pages_options_need_its_challenge_and_a_csrf_token(client, two_step):
    nobody = client.post(PAGE_OPTIONS, data={"csrf_token": csrf_token(client, "/app/login")})
    assert nobody.status_code == 401 and nobody.get_json()["message"] == mfa_service.CHALLENGE_SPENT
    token = page_password_sign_in(client)
    assert client.post(PAGE_OPTIONS, data={}).status_code == 400
    assert (
        client.post(PAGE_OPTIONS, data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 400
    )
    assert client.post(PAGE_OPTIONS, data={"csrf_token": token}).status_code == 200
