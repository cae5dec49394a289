"""SPEC §10 through the routes: start, callback, provisioning the admin, and every refusal (401, never 500).

The OpenID Connect provider is real (oidc-provider under Node, registered as ``okta``); GitHub is the
stand-in. The service talks to both over real HTTP on 127.0.0.1; the test plays the person at the
provider (``sign_in``) and the storefront that passes the callback's query on.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from medusa_auth.database import db
from medusa_auth.models import AuthIdentity, OAuthState, ProviderIdentity, User
from tests.helpers import PASSWORD, AuthActions, bearer, claims_of
from tests.oauth_fixtures import GitHubStandIn, GitHubUser, OidcClient, OidcProvider, query_of

CALLBACK = "http://127.0.0.1:8000/auth/okta/callback"
OTHER_CALLBACK = "https://shop.example.com/auth/callback"
PAGE_CALLBACK = "http://localhost:9000/app/login/okta/callback"  # MEDUSA_BACKEND_URL's default, then the page
GITHUB_CALLBACK = "http://127.0.0.1:8000/auth/github/callback"


@pytest.fixture(scope="module")
def okta_client(oidc_provider: OidcProvider) -> OidcClient:
    return oidc_provider.register_client(CALLBACK, OTHER_CALLBACK, PAGE_CALLBACK)


@pytest.fixture
def settings(settings: dict[str, Any], oidc_provider: OidcProvider, okta_client: OidcClient) -> dict[str, Any]:
    return {
        **settings,
        "AUTH_PROVIDERS": "okta",
        "AUTH_METHODS_PER_ACTOR": "user=emailpass,okta;customer=emailpass,okta",
        "OKTA_DISPLAY_NAME": "Okta",
        "AUTH_CALLBACK_URLS": OTHER_CALLBACK,
        **oidc_provider.settings("okta", okta_client, CALLBACK),
    }


def start(client: FlaskClient, provider: str = "okta", actor: str = "user", **body: Any) -> str:
    path = f"/auth/{actor}/{provider}"
    response = client.post(path, json=body) if body else client.post(path)
    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()) == {"location"}
    return str(response.get_json()["location"])


def callback(client: FlaskClient, query: dict[str, str], provider: str = "okta", actor: str = "user") -> Any:
    return client.get(f"/auth/{actor}/{provider}/callback", query_string=query)


def sign_in(client: FlaskClient, oidc_provider: OidcProvider, login: str, **claims: Any) -> str:
    """The whole round trip for ``login`` at the provider: the token the callback answers."""
    if claims:
        oidc_provider.set_account(login, **claims)
    answer = callback(client, query_of(oidc_provider.sign_in(start(client), login)))
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["token"])


def provision(client: FlaskClient, token: str, provider: str = "okta") -> Any:
    return client.post(f"/auth/{provider}/user", headers=AuthActions.bearer(token))


def refresh(client: FlaskClient, token: str) -> str:
    answer = client.post("/auth/token/refresh", headers=AuthActions.bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["token"])


def assert_refused(answer: Any, message: str) -> None:
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json() == {"type": "unauthorized", "message": message}


# ---------------------------------------------------------------- starting


def test_start_answers_the_providers_authorize_url(client, oidc_provider, okta_client):
    location = start(client)
    query = query_of(location)
    assert location.startswith(f"{oidc_provider.issuer}/auth?")
    assert query["client_id"] == okta_client.client_id and query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256" and query["state"] and query["nonce"]


def test_start_answers_get_too_and_keeps_the_state_server_side(client, app):
    answer = client.get("/auth/user/okta")
    assert answer.status_code == 200
    state = query_of(answer.get_json()["location"])["state"]
    with app.app_context():
        rows = db.session.execute(db.select(OAuthState)).scalars().all()
        assert [(row.actor_type, row.provider, row.callback_url) for row in rows] == [("user", "okta", CALLBACK)]
        assert state not in {row.state_hash for row in rows}


def test_an_allowed_callback_url_is_used(client):
    assert query_of(start(client, callback_url=OTHER_CALLBACK))["redirect_uri"] == OTHER_CALLBACK
    answer = client.get("/auth/user/okta", query_string={"callback_url": OTHER_CALLBACK})
    assert query_of(answer.get_json()["location"])["redirect_uri"] == OTHER_CALLBACK


@pytest.mark.parametrize(
    "callback_url",
    [
        "https://evil.example.com/steal",
        OTHER_CALLBACK + "/",
        OTHER_CALLBACK + "?next=https://evil.example.com",
        OTHER_CALLBACK.upper(),
        "//evil.example.com",
    ],
)
def test_a_callback_url_outside_the_allowlist_is_refused_at_the_start(client, app, callback_url):
    answer = client.post("/auth/user/okta", json={"callback_url": callback_url})
    assert answer.status_code == 400
    assert answer.get_json() == {
        "type": "invalid_data",
        "message": "callback_url is not one of the allowed callback URLs (AUTH_CALLBACK_URLS)",
    }
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(OAuthState)).scalar_one() == 0


@pytest.mark.parametrize("body", [{"callback_url": 7}, {"callback_url": ["x"]}, {"callback_url": "x" * 3000}])
def test_a_callback_url_that_is_not_a_short_string_is_refused(client, body):
    answer = client.post("/auth/user/okta", json=body)
    assert answer.status_code == 400 and answer.get_json()["type"] == "invalid_data"


def test_an_unknown_provider_is_refused_like_a_disallowed_one(client):
    for path in ("/auth/user/gitlab", "/auth/user/gitlab/callback?code=x&state=y"):
        assert_refused(client.post(path), "Invalid auth token provided")


def test_a_body_that_is_not_a_json_object_is_refused(client):
    answer = client.post("/auth/user/okta", data="[1]", content_type="application/json")
    assert answer.status_code == 400


# ---------------------------------------------------------------- the round trip


def test_a_first_sign_in_gives_a_registration_token_with_the_profile(client, app, oidc_provider):
    token = sign_in(client, oidc_provider, "first-timer", email="first@example.com", name="First Timer")
    claims = claims_of(token)
    assert claims["actor_id"] == "" and claims["actor_type"] == "user" and claims["app_metadata"] == {}
    assert claims["user_metadata"]["email"] == "first@example.com" and claims["user_metadata"]["email_verified"]
    with app.app_context():
        (provider,) = db.session.execute(db.select(ProviderIdentity).filter_by(provider="okta")).scalars()
        assert provider.entity_id == "first-timer" and provider.auth_identity_id == claims["auth_identity_id"]
        assert provider.user_metadata["name"] == "First Timer" and provider.password_hash is None


def test_the_admin_is_created_from_the_profile_and_refresh_gives_the_actor_token(client, app, oidc_provider):
    token = sign_in(client, oidc_provider, "grace", email="Grace@Example.com", given_name="Grace", family_name="Hopper")
    answer = provision(client, token)
    assert answer.status_code == 200, answer.get_json()
    user = answer.get_json()["user"]
    assert (user["email"], user["first_name"], user["last_name"]) == ("grace@example.com", "Grace", "Hopper")
    access = refresh(client, token)
    assert claims_of(access)["actor_id"] == user["id"] and claims_of(access)["app_metadata"] == {"user_id": user["id"]}
    me = client.get("/admin/users/me", headers=AuthActions.bearer(access))
    assert me.status_code == 200 and me.get_json()["user"]["id"] == user["id"]
    again = sign_in(client, oidc_provider, "grace")
    assert claims_of(again)["actor_id"] == user["id"]  # the next sign-in is the admin's at once


def test_an_existing_user_is_linked_on_the_providers_verified_email(client, app, auth, oidc_provider):
    user_id = auth.create_user("linked@example.com")
    token = sign_in(client, oidc_provider, "linked-at-okta", email="LINKED@example.com")
    answer = provision(client, token)
    assert answer.status_code == 200 and answer.get_json()["user"]["id"] == user_id
    assert claims_of(refresh(client, token))["actor_id"] == user_id
    auth.login("linked@example.com", PASSWORD)  # the password identity is untouched
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 1
        identities = db.session.execute(db.select(AuthIdentity)).scalars().all()
        assert len(identities) == 2 and {i.user_id for i in identities} == {user_id}


def test_nothing_is_linked_or_created_on_an_unverified_email(client, app, auth, oidc_provider):
    auth.create_user("unverified-mallory@example.test")
    token = sign_in(client, oidc_provider, "unverified-mallory")
    assert claims_of(token)["user_metadata"]["email_verified"] is False
    assert_refused(provision(client, token), "Okta has not verified an email address for this account")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 1
        identity = db.session.get(AuthIdentity, claims_of(token)["auth_identity_id"])
        assert identity is not None and identity.user_id is None


def test_provisioning_twice_is_refused_the_second_time(client, oidc_provider):
    token = sign_in(client, oidc_provider, "twice", email="twice@example.com")
    assert provision(client, token).status_code == 200
    again = provision(client, token)
    assert again.status_code == 400 and again.get_json()["message"] == "Request already authenticated as a user."


def test_provisioning_needs_a_registration_token_of_that_provider(client, auth, oidc_provider):
    assert_refused(provision(client, auth.token("access@example.com")), "Invalid auth token provided")
    registered = client.post("/auth/user/emailpass/register", json={"email": "r@example.com", "password": PASSWORD})
    assert_refused(provision(client, registered.get_json()["token"]), "Invalid auth token provided")
    assert_refused(client.post("/auth/okta/user"), "Invalid auth token provided")


def test_a_profile_change_at_the_provider_reaches_the_identity(client, app, oidc_provider):
    sign_in(client, oidc_provider, "changer", name="Before")
    token = sign_in(client, oidc_provider, "changer", name="After")
    assert claims_of(token)["user_metadata"]["name"] == "After"


# ---------------------------------------------------------------- one provider never takes over another's


def test_an_openid_sub_equal_to_an_emailpass_email_is_another_identity(client, app, auth, oidc_provider):
    auth.create_user("ada@example.com")
    token = sign_in(client, oidc_provider, "ada@example.com", email="someone-else@example.com")
    assert claims_of(token)["actor_id"] == ""
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AuthIdentity)).scalar_one() == 2


# ---------------------------------------------------------------- refusals at the callback


def fresh_callback(client: FlaskClient, oidc_provider: OidcProvider, login: str = "ada") -> dict[str, str]:
    return query_of(oidc_provider.sign_in(start(client), login))


def test_a_callback_without_state_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    del query["state"]
    assert_refused(callback(client, query), "The sign-in state is missing")


def test_a_made_up_state_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    assert_refused(
        callback(client, {**query, "state": "made-up"}), "The sign-in state is unknown, expired or already used"
    )


def test_a_replayed_state_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    assert callback(client, query).status_code == 200
    assert_refused(callback(client, query), "The sign-in state is unknown, expired or already used")


def test_an_expired_state_is_refused(client, oidc_provider, monkeypatch):
    from medusa_auth import clock

    query = fresh_callback(client, oidc_provider)
    later = clock.now() + 601
    monkeypatch.setattr(clock, "now", lambda: later)
    assert_refused(callback(client, query), "The sign-in state is unknown, expired or already used")


def test_a_state_of_another_provider_is_refused(client, app_factory, oidc_provider, github, settings):
    both = app_factory(
        **{
            **settings,
            **github.settings(GITHUB_CALLBACK),
            "AUTH_PROVIDERS": "okta,github",
            "AUTH_METHODS_PER_ACTOR": "user=okta,github",
        }
    )
    other = both.test_client()
    github_state = query_of(start(other, "github"))["state"]
    okta_query = query_of(oidc_provider.sign_in(start(other), "ada"))
    assert_refused(
        callback(other, {**okta_query, "state": github_state}), "The sign-in state belongs to another sign-in"
    )


def test_a_provider_error_is_refused_with_its_description(client, oidc_provider):
    query = query_of(oidc_provider.sign_in(start(client), "ada", abort=True))
    assert query["error"] == "access_denied"
    assert_refused(callback(client, query), "Okta did not sign you in: access_denied: End-User aborted interaction")


def test_a_bad_code_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    assert_refused(callback(client, {**query, "code": "not-the-code"}), "Okta refused the sign-in code (invalid_grant)")


def test_a_missing_code_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    del query["code"]
    assert_refused(callback(client, query), "The authorization code is missing")


def test_an_answer_from_another_issuer_is_refused(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    assert_refused(
        callback(client, {**query, "iss": "https://evil.example.com"}),
        "The answer comes from another issuer than the provider's",
    )


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("signature", "its signature does not verify with the provider's key"),
        ("issuer", "its issuer is not the provider's"),
        ("audience", "its audience is not this client"),
        ("nonce", "its nonce is not this sign-in's"),
        ("expired", "it has expired"),
        ("none", "it is not a signed JWT"),
        ("hs256", "its algorithm 'HS256' is not the provider key's RS256"),
    ],
)
def test_a_tampered_id_token_is_refused(client, app, oidc_provider, mode, reason):
    query = fresh_callback(client, oidc_provider, "tampered")
    oidc_provider.tamper_next_id_token(mode)
    assert_refused(callback(client, query), f"The id_token from Okta is refused: {reason}")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(ProviderIdentity)).scalar_one() == 0


def test_the_callback_answers_post_too(client, oidc_provider):
    query = fresh_callback(client, oidc_provider)
    answer = client.post("/auth/user/okta/callback", json=query)
    assert answer.status_code == 200 and "token" in answer.get_json()


@pytest.mark.parametrize("query", [{"state": ["a", "b"]}, {"code": "x" * 5000, "state": "s"}, {}])
def test_strange_callback_queries_are_refused_not_crashed(client, query):
    answer = client.get("/auth/user/okta/callback", query_string=query)
    assert answer.status_code == 401


# ---------------------------------------------------------------- GitHub


@pytest.fixture
def github_app(app_factory, settings, github: GitHubStandIn) -> Flask:
    return app_factory(
        **{
            **settings,
            **github.settings(GITHUB_CALLBACK),
            "AUTH_PROVIDERS": "github",
            "AUTH_METHODS_PER_ACTOR": "user=emailpass,github",
        }
    )


OCTOCAT = GitHubUser(
    id=583231,
    login="octocat",
    name="The Octocat",
    emails=[{"email": "octocat@example.com", "primary": True, "verified": True}],
)


def test_github_signs_in_by_its_numeric_id_and_links_on_its_primary_verified_email(github_app, github, auth):
    client = github_app.test_client()
    user_id = AuthActions(github_app, client).create_user("octocat@example.com")
    query = query_of(github.sign_in(start(client, "github"), OCTOCAT))
    answer = callback(client, query, "github")
    assert answer.status_code == 200, answer.get_json()
    token = answer.get_json()["token"]
    assert claims_of(token)["user_metadata"] == {
        "email": "octocat@example.com",
        "email_verified": True,
        "name": "The Octocat",
    }
    linked = provision(client, token, "github")
    assert linked.status_code == 200 and linked.get_json()["user"]["id"] == user_id
    with github_app.app_context():
        provider = db.session.execute(db.select(ProviderIdentity).filter_by(provider="github")).scalar_one()
        assert provider.entity_id == "583231"


def test_github_without_a_verified_primary_email_links_nothing(github_app, github):
    client = github_app.test_client()
    user = GitHubUser(id=9, login="nine", emails=[{"email": "nine@example.com", "primary": True, "verified": False}])
    token = callback(client, query_of(github.sign_in(start(client, "github"), user)), "github").get_json()["token"]
    assert_refused(provision(client, token, "github"), "GitHub has not verified an email address for this account")


def test_a_provider_that_cannot_be_reached_is_a_503(github_app, github):
    client = github_app.test_client()
    query = query_of(github.sign_in(start(client, "github"), OCTOCAT))
    github.stop()
    answer = callback(client, query, "github")
    assert answer.status_code == 503 and answer.get_json()["type"] == "unexpected_state"


def test_an_openid_provider_that_cannot_be_discovered_is_a_503_at_the_start(app_factory, settings):
    broken = app_factory(**{**settings, "OKTA_ISSUER": "http://127.0.0.1:9/nothing-here"})
    answer = broken.test_client().post("/auth/user/okta")
    assert answer.status_code == 503 and answer.headers["Retry-After"]


# ---------------------------------------------------------------- the sign-in page


def page_sign_in(client: FlaskClient, oidc_provider: OidcProvider, login: str, next_path: str = "/app/") -> str:
    """'Continue with Okta' in the test client's browser, the person at the provider: the page's callback URL."""
    started = client.get("/app/login/okta", query_string={"next": next_path})
    assert started.status_code == 303, started.get_data(as_text=True)
    assert query_of(started.headers["Location"])["redirect_uri"] == PAGE_CALLBACK
    return oidc_provider.sign_in(started.headers["Location"], login)


def test_the_sign_in_page_offers_each_provider(client):
    page = client.get("/app/login?next=/app/").get_data(as_text=True)
    assert "Continue with Okta" in page and 'href="/app/login/okta?next=/app/"' in page


def test_the_sign_in_page_offers_nothing_without_providers(app_factory, settings):
    without = app_factory(**{**settings, "AUTH_PROVIDERS": None, "AUTH_METHODS_PER_ACTOR": None})
    page = without.test_client().get("/app/login").get_data(as_text=True)
    assert "Continue with" not in page


def test_the_page_round_trip_signs_in_and_follows_next(client, oidc_provider):
    oidc_provider.set_account("page-user", email="page-user@example.com")
    landed = page_sign_in(client, oidc_provider, "page-user", "/app/?from=okta")
    assert landed.startswith(PAGE_CALLBACK + "?")
    answer = client.get(landed.removeprefix("http://localhost:9000"))
    assert answer.status_code == 302 and answer.headers["Location"] == "/app/?from=okta"
    assert "page-user@example.com" in client.get("/app/").get_data(as_text=True)


def test_a_callback_in_another_browser_signs_nobody_in(app, client, oidc_provider):
    landed = page_sign_in(client, oidc_provider, "victim-of-login-csrf")
    other_browser = app.test_client()
    answer = other_browser.get(landed.removeprefix("http://localhost:9000"))
    assert answer.status_code == 400 and "This sign-in did not start here" in answer.get_data(as_text=True)
    assert other_browser.get("/admin/users/me").status_code == 401
    assert client.get(landed.removeprefix("http://localhost:9000")).status_code == 302  # its own browser still can


def test_a_hostile_next_lands_on_a_local_page(client, oidc_provider):
    landed = page_sign_in(client, oidc_provider, "next-tester", "//evil.example.com")
    assert client.get(landed.removeprefix("http://localhost:9000")).headers["Location"] == "/app/"


def test_an_unknown_provider_page_is_a_404(client):
    assert client.get("/app/login/gitlab").status_code == 404


# ---------------------------------------------------------------- what the logs never hold


def test_no_secret_of_a_sign_in_reaches_a_log_line_or_an_answer(client, app, oidc_provider, okta_client, caplog):
    caplog.set_level("DEBUG", logger="medusa_auth")
    location = start(client)
    with app.app_context():
        verifier = db.session.execute(db.select(OAuthState.code_verifier)).scalar_one()
    query = query_of(oidc_provider.sign_in(location, "logged"))
    secrets = [okta_client.client_secret, verifier, query["code"], query["state"], query_of(location)["nonce"]]
    answers = [callback(client, query), callback(client, query), callback(client, {**query, "code": "x"})]
    token = answers[0].get_json()["token"]
    secrets += [token, *token.split(".")[1:]]
    oidc_provider.tamper_next_id_token("audience")
    answers.append(callback(client, query_of(oidc_provider.sign_in(start(client), "logged"))))
    answers.append(provision(client, token))
    text = "\n".join(record.getMessage() for record in caplog.records) + "".join(
        answer.get_data(as_text=True) for answer in answers[1:]
    )
    assert "redirect_sign_in_refused" in text and "login_succeeded" in text
    assert [secret[:12] for secret in secrets if secret in text] == []


# ---------------------------------------------------------------- any actor (SPEC §9)


def test_tokens_name_the_actor_type_and_the_provider(client, oidc_provider):
    claims = claims_of(sign_in(client, oidc_provider, "claims-reader"))
    assert (claims["actor_type"], claims["auth_provider"]) == ("user", "okta")


def test_a_customer_signs_in_creates_the_customer_and_refreshes(client, oidc_provider):
    oidc_provider.set_account("shopper", email="shopper@example.com", given_name="Shop")
    query = query_of(oidc_provider.sign_in(start(client, actor="customer"), "shopper"))
    answer = callback(client, query, actor="customer")
    assert answer.status_code == 200, answer.get_json()
    token = answer.get_json()["token"]
    assert claims_of(token)["actor_type"] == "customer" and claims_of(token)["actor_id"] == ""
    created = client.post("/store/customers", json={"email": "shopper@example.com"}, headers=bearer(token))
    assert created.status_code == 200, created.get_json()
    customer_id = created.get_json()["customer"]["id"]
    access = refresh(client, token)
    assert claims_of(access)["actor_id"] == customer_id and claims_of(access)["auth_provider"] == "okta"
    me = client.get("/store/customers/me", headers=bearer(access))
    assert me.status_code == 200 and me.get_json()["customer"]["id"] == customer_id
    assert client.get("/admin/users/me", headers=bearer(access)).status_code == 401


def test_one_person_at_the_provider_is_both_admin_and_shopper(app, client, oidc_provider):
    oidc_provider.set_account("both", email="both@example.com")
    user_token = sign_in(client, oidc_provider, "both")
    user_id = provision(client, user_token).get_json()["user"]["id"]
    query = query_of(oidc_provider.sign_in(start(client, actor="customer"), "both"))
    customer_token = callback(client, query, actor="customer").get_json()["token"]
    assert claims_of(customer_token)["auth_identity_id"] == claims_of(user_token)["auth_identity_id"]
    created = client.post("/store/customers", json={"email": "both@example.com"}, headers=bearer(customer_token))
    with app.app_context():
        identity = db.session.get(AuthIdentity, claims_of(user_token)["auth_identity_id"])
        assert identity is not None
        assert identity.app_metadata == {"user_id": user_id, "customer_id": created.get_json()["customer"]["id"]}


def test_a_state_of_another_actor_type_is_refused(client, oidc_provider):
    query = query_of(oidc_provider.sign_in(start(client, actor="customer"), "ada"))
    assert_refused(callback(client, query, actor="user"), "The sign-in state belongs to another sign-in")


def test_a_customers_registration_token_provisions_no_admin(client, oidc_provider):
    query = query_of(oidc_provider.sign_in(start(client, actor="customer"), "not-an-admin"))
    token = callback(client, query, actor="customer").get_json()["token"]
    assert_refused(provision(client, token), "Invalid auth token provided")


def test_the_providers_list_shows_a_redirect_provider(client):
    answer = client.get("/auth/customer/providers")
    assert {"id": "okta", "identifier": "oidc", "display_name": "Okta", "flow": "redirect"} in answer.get_json()[
        "providers"
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/customer/okta/register", {"email": "x@example.com", "password": PASSWORD}),
        ("/auth/customer/okta/reset-password", {"identifier": "x@example.com"}),
    ],
)
def test_a_redirect_provider_has_no_registration_or_password(client, path, body):
    assert_refused(
        client.post(path, json=body), "This provider signs people in itself: it has no registration or password here"
    )


def test_a_provider_allowed_for_customers_only_is_refused_for_users(app_factory, settings):
    shop_only = app_factory(**{**settings, "AUTH_METHODS_PER_ACTOR": "user=emailpass;customer=okta"})
    client = shop_only.test_client()
    assert_refused(client.post("/auth/user/okta"), "Invalid auth token provided")
    assert client.post("/auth/customer/okta").status_code == 200
    assert "Continue with" not in client.get("/app/login").get_data(as_text=True)
    assert client.get("/app/login/okta").status_code == 404


@pytest.mark.parametrize(
    ("methods", "line"),
    [
        ("user=emailpass,gitlab", "AUTH_METHODS_PER_ACTOR: user=emailpass,gitlab names an unknown provider 'gitlab'"),
        ("okta=emailpass", "AUTH_METHODS_PER_ACTOR: 'okta' is a provider id, not an actor type"),
    ],
)
def test_auth_methods_per_actor_must_name_configured_providers(app_factory, settings, methods, line):
    from medusa_auth.settings import ConfigError

    with pytest.raises(ConfigError) as refused:
        app_factory(**{**settings, "AUTH_METHODS_PER_ACTOR": methods})
    assert str(refused.value).startswith(line)


def test_a_customer_takes_only_the_providers_verified_email(client, oidc_provider):
    query = query_of(oidc_provider.sign_in(start(client, actor="customer"), "unverified-shopper"))
    token = callback(client, query, actor="customer").get_json()["token"]
    for email in ("unverified-shopper@example.test", "someone@example.com"):
        answer = client.post("/store/customers", json={"email": email}, headers=bearer(token))
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["message"] == "The email must be the one the identity signs in with"


def test_a_callback_for_an_identity_with_a_second_factor_answers_the_challenge(client, oidc_provider):
    """SPEC §11: the provider proved the first factor; the token comes after the second, with the profile kept."""
    token = sign_in(client, oidc_provider, "katherine", email="katherine@example.com", given_name="Katherine")
    assert provision(client, token).status_code == 200
    access = refresh(client, token)
    started = client.post("/auth/mfa/factors", json={"provider": "totp"}, headers=bearer(access)).get_json()
    totp = pyotp.TOTP(started["secret"])
    enabled = client.post(
        f"/auth/mfa/factors/{started['mfa_factor']['id']}/verify", json={"code": totp.now()}, headers=bearer(access)
    )
    assert enabled.status_code == 200, enabled.get_json()
    answer = callback(client, query_of(oidc_provider.sign_in(start(client), "katherine"))).get_json()
    assert answer["mfa_required"] is True and claims_of(answer["token"])["auth_provider"] == "okta"
    completed = client.post(
        f"/auth/mfa/challenges/{answer['mfa_challenge']['id']}/verify",
        json={"method": "totp", "code": totp.at(time.time() + 30)},
        headers=bearer(answer["token"]),
    )
    assert completed.status_code == 200, completed.get_json()
    claims = claims_of(completed.get_json()["token"])
    assert claims["auth_provider"] == "okta" and claims["user_metadata"]["given_name"] == "Katherine"
    assert claims["mfa_challenge_completed_at"] and claims["actor_id"].startswith("user_")
    assert client.get("/admin/users/me", headers=bearer(completed.get_json()["token"])).status_code == 200
