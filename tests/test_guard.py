"""The before_request guard, through the Flask test client: who gets into /admin, and what the others see."""

from __future__ import annotations

import base64
import json
import logging
import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from flask import Flask, g
from flask.testing import FlaskClient

from medusa_auth import clock, guard
from medusa_auth.extension import medusa_auth
from medusa_auth.keys.material import generate_private_key
from medusa_auth.tokens import TokenKind
from tests.helpers import PASSWORD, FakeClock, b64, claims_of, start_session

REFUSED = {"type": "unauthorized", "message": "Invalid auth token provided"}
MALFORMED_HEADERS = ["", "Bearer", "Bearer ", "Basic xyz", "Bearer a b", "Basic", "Token abc.def.ghi", "Bearer\tabc"]


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)[:300]
    assert response.get_json() == REFUSED
    assert response.headers.get("WWW-Authenticate") == "Bearer"


def admin_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (method, concrete path) the app serves under /admin, placeholders filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        # Invite accept is SPEC §4's one exception: it takes a registration token (tests/test_invites.py).
        if rule.rule == "/admin/invites/accept":
            continue
        if rule.rule == "/admin" or rule.rule.startswith("/admin/"):
            path = "/".join("user_x" if s.startswith("<") else s for s in rule.rule.split("/"))
            routes += [(method, path) for method in sorted(rule.methods or ()) if method not in ("HEAD", "OPTIONS")]
    return routes


def request(client: FlaskClient, method: str, path: str, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.open(path, method=method, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)


def sign_with_foreign_key(app: Flask) -> str:
    """A well-formed RS256 access token naming the app's kid, signed by a key the app does not hold."""
    with app.app_context():
        signer = medusa_auth().keys.signer
    assert signer is not None
    kid = signer.kid
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    now = clock.now()
    claims = {
        "actor_id": "user_x",
        "actor_type": "user",
        "auth_identity_id": "authid_x",
        "app_metadata": {"user_id": "user_x"},
        "user_metadata": {},
        "iat": now,
        "exp": now + 3600,
    }
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    key = generate_private_key("RSA")
    assert isinstance(key, RSAPrivateKey)
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def issue(app: Flask, kind: TokenKind, claims: dict[str, Any], lifetime: int = 3600) -> str:
    with app.app_context():
        return medusa_auth().tokens.sign(kind, claims, lifetime)


def expired_token(app: Flask, frozen_clock: FakeClock) -> str:
    with app.app_context():
        token = medusa_auth().tokens.issue_auth_token("authid_x", "user_x", {})
    frozen_clock.move_to(claims_of(token)["exp"] + clock.LEEWAY_SECONDS + 1)
    return token


def with_header(token: str, **members: Any) -> str:
    """The token with header members added (its signature no longer matters: the header is refused first)."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return f"{b64(json.dumps({**decoded, **members}).encode())}.{payload}.{signature}"


# -- every /admin route refuses ------------------------------------------------------------------


def test_the_app_has_admin_routes_to_check(app: Flask):
    assert ("GET", "/admin/users/me") in admin_routes(app)
    assert ("GET", "/admin/users/user_x") in admin_routes(app)


@pytest.mark.parametrize("authorization", [None, *MALFORMED_HEADERS], ids=repr)
def test_every_admin_route_refuses_a_missing_or_malformed_header(app: Flask, client: FlaskClient, authorization):
    for method, path in admin_routes(app):
        assert_refused(request(client, method, path, authorization))


@pytest.mark.parametrize(
    "make_token",
    [
        lambda app: "not-a-token",
        lambda app: "a.b.c",
        sign_with_foreign_key,
        lambda app: issue(app, TokenKind.REGISTRATION, {"actor_id": "", "actor_type": "user", "auth_identity_id": "a"}),
        lambda app: issue(app, TokenKind.INVITE, {"id": "invite_x", "email": "a@example.com"}),
        lambda app: issue(
            app, TokenKind.RESET, {"entity_id": "a@example.com", "actor_type": "user", "purpose": "reset"}
        ),
    ],
    ids=["garbage", "three-segments", "foreign-key", "registration", "invite", "reset"],
)
def test_every_admin_route_refuses_an_invalid_token(app: Flask, client: FlaskClient, make_token: Callable):
    token = make_token(app)
    for method, path in admin_routes(app):
        assert_refused(request(client, method, path, f"Bearer {token}"))


def test_every_admin_route_refuses_an_expired_token(app, client, frozen_clock):
    token = expired_token(app, frozen_clock)
    for method, path in admin_routes(app):
        assert_refused(request(client, method, path, f"Bearer {token}"))


def test_every_refusal_looks_the_same(app: Flask, client: FlaskClient, auth, frozen_clock: FakeClock):
    """Status, body and headers are identical whichever check failed, so none of them leaks the reason."""
    valid = auth.token()
    registration = client.post("/auth/user/emailpass/register", json={"email": "r@example.com", "password": PASSWORD})
    authorizations = [
        None,
        *MALFORMED_HEADERS,
        "Bearer garbage",
        f"Bearer {valid[:-4]}AAAA",  # bad signature
        f"Bearer {with_header(valid, alg='none')}",
        f"Bearer {with_header(valid, kid='unknown')}",
        f"Bearer {with_header(valid, jku='https://evil.example.com/jwks.json')}",
        f"Bearer {sign_with_foreign_key(app)}",
        f"Bearer {registration.get_json()['token']}",
        f"Bearer {issue(app, TokenKind.INVITE, {'id': 'invite_x', 'email': 'a@example.com'})}",
        f"Bearer {valid}{'x' * 9000}",  # oversized
    ]
    responses = [client.get("/admin/users/me", headers={"Authorization": a} if a else {}) for a in authorizations]
    responses.append(client.get("/admin/users/me", headers=auth.bearer(expired_token(app, frozen_clock))))
    first = responses[0]
    assert_refused(first)
    for response in responses[1:]:
        assert (response.status_code, response.get_data(), dict(response.headers)) == (
            first.status_code,
            first.get_data(),
            dict(first.headers),
        )


# -- a valid access token ------------------------------------------------------------------------


def test_every_challenge_route_takes_the_challenge_token_alone(app: Flask, client: FlaskClient, auth):
    """/auth/mfa/challenges/{id}/options and .../verify: a sign-in waiting for its second factor, nothing else (its
    token, or the browser's pending challenge in session mode: never a browser's session)."""
    rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/auth/mfa/challenges/")]
    assert sorted(rules) == [
        "/auth/mfa/challenges/<challenge_id>/options",
        "/auth/mfa/challenges/<challenge_id>/verify",
    ]
    token = auth.token()
    start_session(client, token)
    for rule in rules:
        path = rule.replace("<challenge_id>", "mfachal_x")
        need, _ = guard.required(path, rule) or (None, None)
        assert need is not None and need.kinds == {TokenKind.MFA_CHALLENGE} and need.cookie, rule
        assert_refused(client.post(path, headers=auth.bearer(token)))
        assert_refused(client.post(path))  # the access session the browser holds
    assert client.get("/admin/users/me").status_code == 200  # control: the session is live


def test_valid_access_token_is_accepted(auth, client: FlaskClient):
    response = client.get("/admin/users/me", headers=auth.bearer(auth.token("me@example.com")))
    assert response.status_code == 200
    assert response.get_json()["user"]["email"] == "me@example.com"


def test_route_added_later_under_admin_is_guarded_and_sees_the_claims(app: Flask, client: FlaskClient, auth):
    app.add_url_rule("/admin/echo-context", "echo_context", lambda: dict(g.auth_context))
    assert_refused(client.get("/admin/echo-context"))
    assert_refused(client.get("/admin/echo-context", headers={"Authorization": "Bearer a.b.c"}))
    token = auth.token("echo@example.com")
    response = client.get("/admin/echo-context", headers=auth.bearer(token))
    assert response.status_code == 200
    assert response.get_json() == claims_of(token)
    assert response.get_json()["actor_id"].startswith("user_")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(auth, client: FlaskClient, scheme: str):
    response = client.get("/admin/users/me", headers={"Authorization": f"{scheme} {auth.token()}"})
    assert response.status_code == 200


# -- registration tokens -------------------------------------------------------------------------


def test_registration_token_is_refused_on_admin_but_refreshes(client: FlaskClient):
    registered = client.post("/auth/user/emailpass/register", json={"email": "new@example.com", "password": PASSWORD})
    assert registered.status_code == 200
    token = registered.get_json()["token"]
    assert claims_of(token)["actor_id"] == ""
    assert_refused(client.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"}))
    refreshed = client.post("/auth/token/refresh", headers={"Authorization": f"Bearer {token}"})
    assert refreshed.status_code == 200
    assert claims_of(refreshed.get_json()["token"])["auth_identity_id"] == claims_of(token)["auth_identity_id"]


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer a.b.c"], ids=repr)
def test_refresh_needs_a_token(client: FlaskClient, authorization):
    assert_refused(request(client, "POST", "/auth/token/refresh", authorization))


# -- paths that try to get around the prefix -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "//admin/users/me",
        "//admin/users",
        "///admin/users",
        "/admin//users",
        "/admin//users/me",
        "/admin/users//me",
        "/admin/../admin/users/me",
        "/admin/../admin/users",
        "/admin/./users/me",
        "/./admin/users",
        "/x/../admin/users",
        "/auth/../admin/users",
        "/auth/token/refresh/../../../admin/users",
        "/%61dmin/users",
        "/admin%2fusers",
        "/ADMIN/users",
        "/Admin/users",
        "/admin/users/",
        "/admin/users/me/",
        "/admin/users/.",
        "/admin;/users",
        "/admin/users;x",
        "/admin/users\x00",
    ],
)
def test_odd_paths_never_serve_admin_data_without_a_token(app: Flask, client: FlaskClient, auth, path: str):
    auth.create_user("secret-holder@example.com")
    response = client.get("/", environ_overrides={"PATH_INFO": path})
    assert response.status_code in (401, 404, 405, 308, 301), (response.status_code, path)
    assert response.status_code < 500
    assert b"secret-holder" not in response.get_data()
    assert response.is_json


def test_repeated_slashes_are_guarded_like_single_ones(client: FlaskClient):
    assert_refused(client.get("/", environ_overrides={"PATH_INFO": "//admin/users/me"}))
    assert_refused(client.get("/", environ_overrides={"PATH_INFO": "/admin//users"}))


# -- hostile headers and tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer " + "A" * 1_000_000,
        "Bearer " + "A.B." * 250_000,
        "Bearer " + "a " * 500_000,
        "B" * 1_000_000,
    ],
    ids=["one-segment", "many-segments", "many-spaces", "no-scheme"],
)
def test_a_1mb_authorization_header_gets_a_json_4xx(client: FlaskClient, authorization: str):
    response = client.get("/admin/users/me", headers={"Authorization": authorization})
    assert 400 <= response.status_code < 500
    body = response.get_json()
    assert set(body) == {"type", "message"}


def test_a_valid_token_padded_to_1mb_is_refused(auth, client: FlaskClient):
    response = client.get("/admin/users/me", headers=auth.bearer(auth.token() + "A" * 1_000_000))
    assert 400 <= response.status_code < 500
    assert set(response.get_json()) == {"type", "message"}


def test_a_signed_token_with_a_401_digit_exp_gets_401_not_500(app: Flask, client: FlaskClient, rsa_pem: str):
    """Only the key holder can sign it, but a number JSON allows must still be a refusal, not a crash."""
    with app.app_context():
        signer = medusa_auth().keys.signer
    assert signer is not None
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": signer.kid}).encode())
    claims = '{"actor_id":"user_x","actor_type":"user","auth_identity_id":"authid_x","app_metadata":{},"exp":1%s}'
    signing_input = f"{header}.{b64((claims % ('0' * 400)).encode())}"
    key = serialization.load_pem_private_key(rsa_pem.encode(), password=None)
    assert isinstance(key, RSAPrivateKey)
    token = f"{signing_input}.{b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"
    assert_refused(client.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"}))


def garbage_tokens(seed: int, count: int) -> list[str]:
    """Printable strings, base64url segments, and JSON headers of every shape, none of them a valid token."""
    rng = random.Random(seed)
    printable = string.ascii_letters + string.digits + string.punctuation + " \t" + "éü\xa0\xff"
    segment_chars = string.ascii_letters + string.digits + "-_"
    headers = [
        {"alg": "none"},
        {"alg": "HS256", "typ": "JWT"},
        {"alg": "RS256", "kid": ["x"]},
        {"alg": "RS256", "jku": "https://evil.example.com"},
        {"alg": "RS256", "crit": ["b64"], "b64": False},
        [],
        "JWT",
        None,
    ]
    tokens = []
    for n in range(count):
        kind = n % 4
        if kind == 0:
            tokens.append("".join(rng.choice(printable) for _ in range(rng.randrange(1, 300))))
        elif kind == 1:
            tokens.append(".".join("".join(rng.choices(segment_chars, k=rng.randrange(0, 200))) for _ in range(3)))
        elif kind == 2:
            header = b64(json.dumps(rng.choice(headers)).encode())
            tokens.append(f"{header}.{b64(rng.randbytes(rng.randrange(0, 200)))}.{b64(rng.randbytes(256))}")
        else:
            segments = ".".join(b64(rng.randbytes(rng.randrange(0, 60))) for _ in range(rng.randrange(1, 7)))
            tokens.append(segments)
    return tokens


def test_random_garbage_tokens_never_cause_a_500(client: FlaskClient):
    for token in garbage_tokens(seed=8725, count=200):
        response = client.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (token, response.status_code)
        assert response.get_json() == REFUSED


def test_random_changes_to_a_valid_token_never_cause_a_500(auth, client: FlaskClient):
    token = auth.token()
    rng = random.Random(7519)
    for _ in range(200):
        i = rng.randrange(len(token))
        changed = token[:i] + rng.choice(string.ascii_letters + string.digits + "-_.") + token[i + 1 :]
        response = client.get("/admin/users/me", headers={"Authorization": f"Bearer {changed}"})
        assert response.status_code in (200, 401), (changed, response.status_code)


# -- the security log ----------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["expired", "foreign-key", "jku-header", "registration"])
def test_refused_token_is_one_security_event_without_the_token(
    app: Flask, client: FlaskClient, auth, caplog: pytest.LogCaptureFixture, frozen_clock: FakeClock, refusal
):
    if refusal == "expired":
        token = auth.token()
        frozen_clock.move_to(claims_of(token)["exp"] + clock.LEEWAY_SECONDS + 1)
    elif refusal == "foreign-key":
        token = sign_with_foreign_key(app)
    elif refusal == "jku-header":
        token = with_header(auth.token(), jku="https://evil.example.com/jwks.json")
    else:
        body = {"email": "r@example.com", "password": PASSWORD}
        token = client.post("/auth/user/emailpass/register", json=body).get_json()["token"]
    caplog.clear()
    caplog.set_level(logging.INFO, logger="medusa_auth.security")

    assert_refused(client.get("/admin/users/me", headers={"Authorization": f"Bearer {token}"}))

    events = [r for r in caplog.records if r.name == "medusa_auth.security"]
    assert len(events) == 1
    message = events[0].getMessage()
    assert "\n" not in message
    event = json.loads(message)
    assert event["event"] == "token_refused"
    assert event["reason"]
    assert event["path"] == "/admin/users/me"
    for secret_part in (token, *token.split(".")[1:]):
        assert secret_part not in caplog.text
