"""SPEC §10's machinery: provider settings, the sign-in state store, and each provider's client.

The OpenID Connect provider is a real one (panva's oidc-provider under Node, tests/interop/); GitHub is
a stand-in for its three endpoints. Discovery's care is shown against the controllable endpoint of
jwks_fixtures. Nothing here goes through the routes (test_oauth_sign_in.py does).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask

from medusa_auth import clock, create_app
from medusa_auth.database import db
from medusa_auth.keys.remote import JwksPolicy
from medusa_auth.models import OAuthState
from medusa_auth.providers.oauth import (
    GitHubClient,
    OpenIdConnectClient,
    ProviderUnavailable,
    SignInRefused,
    build_client,
)
from medusa_auth.providers.state import (
    STATE_LIFETIME_SECONDS,
    DatabaseStateStore,
    PendingSignIn,
    RedisStateStore,
    StateStore,
)
from medusa_auth.settings import ConfigError, RedirectProvider, settings_from
from tests.jwks_fixtures import JwksServer
from tests.oauth_fixtures import GitHubStandIn, GitHubUser, OidcClient, OidcProvider, query_of

STOREFRONT_CALLBACK = "http://127.0.0.1:8000/auth/callback"


def providers(**values: Any) -> tuple[RedirectProvider, ...]:
    return settings_from(values, "/nonexistent").redirect_providers.providers


def one_provider(**values: Any) -> RedirectProvider:
    (provider,) = providers(**values)
    return provider


# ---------------------------------------------------------------- settings

GOOGLE = {
    "AUTH_PROVIDERS": "google",
    "GOOGLE_CLIENT_ID": "1234.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "google-secret",
    "GOOGLE_CALLBACK_URL": "https://shop.example.com/auth/google/callback",
}
GITHUB = {
    "AUTH_PROVIDERS": "github",
    "GITHUB_CLIENT_ID": "Iv1.abc",
    "GITHUB_CLIENT_SECRET": "github-secret",
    "GITHUB_CALLBACK_URL": "https://shop.example.com/auth/github/callback",
}
OKTA = {
    "AUTH_PROVIDERS": "okta",
    "OKTA_CLIENT_ID": "0oa1",
    "OKTA_CLIENT_SECRET": "okta-secret",
    "OKTA_CALLBACK_URL": "https://shop.example.com/auth/okta/callback",
    "OKTA_ISSUER": "https://dev-1.okta.com/oauth2/default",
}


def test_google_has_its_public_issuer_and_openid_scopes_built_in():
    google = one_provider(**GOOGLE)
    assert (google.id, google.identifier, google.display_name) == ("google", "google", "Google")
    assert google.issuer == "https://accounts.google.com" and google.openid
    assert google.scopes == ("openid", "email", "profile")
    assert google.authorize_url is None and google.token_url is None


def test_github_has_its_public_endpoints_built_in_and_no_issuer():
    github = one_provider(**GITHUB)
    assert (github.identifier, github.display_name, github.issuer) == ("github", "GitHub", None)
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.token_url == "https://github.com/login/oauth/access_token"
    assert github.api_url == "https://api.github.com"
    assert github.scopes == ("read:user", "user:email")


def test_any_other_id_is_an_openid_connect_provider_found_by_its_issuer():
    okta = one_provider(**OKTA, OKTA_DISPLAY_NAME="Okta", OKTA_SCOPES="openid email")
    assert (okta.id, okta.identifier, okta.display_name) == ("okta", "oidc", "Okta")
    assert okta.issuer == "https://dev-1.okta.com/oauth2/default" and okta.scopes == ("openid", "email")


def test_every_endpoint_can_be_overridden():
    google = one_provider(**GOOGLE, GOOGLE_ISSUER="http://127.0.0.1:5556")
    github = one_provider(
        **GITHUB,
        GITHUB_AUTHORIZE_URL="http://127.0.0.1:5557/authorize",
        GITHUB_TOKEN_URL="http://localhost:5557/token",
        GITHUB_API_URL="http://[::1]:5557/api",
    )
    assert google.issuer == "http://127.0.0.1:5556"
    assert (github.authorize_url, github.token_url, github.api_url) == (
        "http://127.0.0.1:5557/authorize",
        "http://localhost:5557/token",
        "http://[::1]:5557/api",
    )


def test_providers_keep_the_order_of_auth_providers_and_the_secret_out_of_reprs():
    listed = providers(**{**GOOGLE, **GITHUB, **OKTA, "AUTH_PROVIDERS": " okta, google ,github "})
    assert [provider.id for provider in listed] == ["okta", "google", "github"]
    assert "okta-secret" not in repr(listed)


def test_a_client_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "okta-secret"
    secret.write_text("from-a-file\n")
    values = {**OKTA, "OKTA_CLIENT_SECRET": None, "OKTA_CLIENT_SECRET_FILE": str(secret)}
    assert one_provider(**values).client_secret == "from-a-file"


def test_callback_urls_are_an_exact_allowlist():
    urls = settings_from(
        {"AUTH_CALLBACK_URLS": "https://shop.example.com/cb, http://localhost:8000/cb"}, "/x"
    ).redirect_providers.callback_urls
    assert urls == frozenset({"https://shop.example.com/cb", "http://localhost:8000/cb"})


def test_no_auth_providers_means_none():
    assert settings_from({}, "/x").redirect_providers.providers == ()


def test_provider_variables_come_from_the_environment_and_stay_out_of_flasks_config(monkeypatch, settings):
    for name, value in OKTA.items():
        monkeypatch.setenv(name, value)
    app = create_app({**settings, "OKTA_SCOPES": "openid email"})  # the test mapping still wins
    okta = app.extensions["medusa_auth"].settings.redirect_providers.get("okta")
    assert okta is not None and okta.client_id == "0oa1" and okta.scopes == ("openid", "email")
    assert "OKTA_CLIENT_SECRET" not in app.config and "OKTA_SCOPES" not in app.config
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"AUTH_PROVIDERS": "Okta!"}, "AUTH_PROVIDERS: 'Okta!' is not a provider id"),
        ({"AUTH_PROVIDERS": "emailpass"}, "AUTH_PROVIDERS: 'emailpass' is not a redirect provider id"),
        ({"AUTH_PROVIDERS": "token"}, "AUTH_PROVIDERS: 'token' is not a redirect provider id"),
        ({**OKTA, "AUTH_PROVIDERS": "okta,okta"}, "AUTH_PROVIDERS lists 'okta' twice"),
        ({**OKTA, "OKTA_CLIENT_ID": None}, "OKTA_CLIENT_ID is not set: provider okta (in AUTH_PROVIDERS) needs it"),
        ({**OKTA, "OKTA_CLIENT_SECRET": None}, "OKTA_CLIENT_SECRET is not set"),
        ({**OKTA, "OKTA_CALLBACK_URL": None}, "OKTA_CALLBACK_URL is not set"),
        ({**OKTA, "OKTA_ISSUER": None}, "OKTA_ISSUER is not set: okta is an OpenID Connect provider"),
        ({**OKTA, "OKTA_ISSUER": "http://okta.example.com"}, "OKTA_ISSUER='http://okta.example.com' must use https"),
        ({**OKTA, "OKTA_ISSUER": "okta.example.com"}, "OKTA_ISSUER='okta.example.com' is not an http(s) URL"),
        (
            {**OKTA, "OKTA_ISSUER": "https://okta.example.com?x=1"},
            "OKTA_ISSUER='https://okta.example.com?x=1' must not",
        ),
        ({**OKTA, "OKTA_SCOPES": "email profile"}, "OKTA_SCOPES='email profile' must include openid"),
        ({**OKTA, "OKTA_TOKEN_URL": "https://x.example.com/t"}, "OKTA_TOKEN_URL is set, but okta is an OpenID"),
        (
            {**OKTA, "OKTA_CALLBACK_URL": "http://shop.example.com/cb"},
            "OKTA_CALLBACK_URL: 'http://shop.example.com/cb' must use https",
        ),
        (
            {**OKTA, "OKTA_CALLBACK_URL": "https://shop.example.com/cb#x"},
            "OKTA_CALLBACK_URL: 'https://shop.example.com/cb#x' must not carry a fragment",
        ),
        ({**OKTA, "OKTA_DISPLAY_NAME": "x" * 65}, "OKTA_DISPLAY_NAME must be printable and at most 64 characters"),
        (
            {**GITHUB, "GITHUB_ISSUER": "https://github.com"},
            "GITHUB_ISSUER is set, but GitHub has no OpenID Connect issuer",
        ),
        (
            {**GITHUB, "GITHUB_API_URL": "http://api.example.com"},
            "GITHUB_API_URL='http://api.example.com' must use https",
        ),
        ({**GOOGLE, "GOOGLE_ISSUER": "ftp://accounts.google.com"}, "GOOGLE_ISSUER='ftp://accounts.google.com' is not"),
        (
            {"AUTH_CALLBACK_URLS": "javascript:alert(1)"},
            "AUTH_CALLBACK_URLS: 'javascript:alert(1)' is not an http(s) URL",
        ),
        (
            {"AUTH_CALLBACK_URLS": "http://shop.example.com/cb"},
            "AUTH_CALLBACK_URLS: 'http://shop.example.com/cb' must use https",
        ),
    ],
)
def test_a_bad_provider_setting_stops_startup_with_one_line_naming_the_variable(settings, values, line):
    with pytest.raises(ConfigError) as refused:
        create_app({**settings, **values})
    message = str(refused.value)
    assert message.startswith(line) and "\n" not in message, message


def test_a_client_secret_and_its_file_together_are_refused(settings, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("x")
    with pytest.raises(ConfigError, match="^OKTA_CLIENT_SECRET and OKTA_CLIENT_SECRET_FILE are both set"):
        create_app({**settings, **OKTA, "OKTA_CLIENT_SECRET_FILE": str(secret)})


# ---------------------------------------------------------------- the state store

PENDING = PendingSignIn("customer", "okta", STOREFRONT_CALLBACK, "v" * 64, "n" * 32)


class InAppContext:
    """The database store as a request thread uses it: each call inside the app's context."""

    def __init__(self, app: Flask):
        self.app, self.store = app, DatabaseStateStore()

    def save(self, state: str, pending: PendingSignIn) -> None:
        with self.app.app_context():
            self.store.save(state, pending)

    def take(self, state: str) -> PendingSignIn | None:
        with self.app.app_context():
            return self.store.take(state)


@pytest.fixture(params=["database", "redis"])
def state_store(request: pytest.FixtureRequest, app: Flask) -> Any:
    if request.param == "database":
        yield InAppContext(app)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield RedisStateStore(client, request.getfixturevalue("redis_prefix"))
    client.close()


def test_a_state_is_taken_once(state_store: StateStore):
    state_store.save("the-state", PENDING)
    assert state_store.take("the-state") == PENDING
    assert state_store.take("the-state") is None


def test_an_unknown_state_is_nothing(state_store: StateStore):
    state_store.save("the-state", PENDING)
    assert state_store.take("another-state") is None
    assert state_store.take("the-state") == PENDING


def test_a_state_lives_ten_minutes(state_store: StateStore, monkeypatch):
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    state_store.save("fresh", PENDING)
    state_store.save("stale", PENDING)
    monkeypatch.setattr(clock, "now", lambda: start + STATE_LIFETIME_SECONDS - 1)
    assert state_store.take("fresh") == PENDING
    monkeypatch.setattr(clock, "now", lambda: start + STATE_LIFETIME_SECONDS)
    assert state_store.take("stale") is None


def test_racing_takes_of_one_state_give_it_to_one_of_them(state_store: StateStore):
    state_store.save("raced", PENDING)
    barrier, results = threading.Barrier(8), []

    def take() -> None:
        barrier.wait()
        results.append(state_store.take("raced"))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results.count(PENDING) == 1 and results.count(None) == 7


def test_the_database_keeps_a_hash_of_the_state_and_the_purge_command_deletes_expired_rows(app: Flask, monkeypatch):
    store = DatabaseStateStore()
    start = clock.now()
    with app.app_context():
        monkeypatch.setattr(clock, "now", lambda: start)
        store.save("old-state", PENDING)
        monkeypatch.setattr(clock, "now", lambda: start + STATE_LIFETIME_SECONDS - 5)
        store.save("new-state", PENDING)
        rows = db.session.execute(db.select(OAuthState)).scalars().all()
        assert len(rows) == 2 and all("state" not in row.state_hash and len(row.state_hash) == 64 for row in rows)
        monkeypatch.setattr(clock, "now", lambda: start + STATE_LIFETIME_SECONDS)
        result = app.test_cli_runner().invoke(args=["purge"])
        assert result.exit_code == 0 and "sign-in states: 1 deleted" in result.output, result.output
        assert store.take("new-state") == PENDING


def test_starting_a_sign_in_sweeps_expired_rows(app: Flask, monkeypatch):
    store = DatabaseStateStore()
    start = clock.now()
    with app.app_context():
        monkeypatch.setattr(clock, "now", lambda: start)
        store.save("old-state", PENDING)
        monkeypatch.setattr(clock, "now", lambda: start + STATE_LIFETIME_SECONDS + 1)
        store.save("new-state", PENDING)
        assert db.session.execute(db.select(db.func.count()).select_from(OAuthState)).scalar_one() == 1


def test_redis_keeps_a_hash_of_the_state_under_the_prefix_with_an_expiry(redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    RedisStateStore(client, redis_prefix).save("the-state", PENDING)
    (key,) = client.keys(f"{redis_prefix}:oauth_state:*")
    assert b"the-state" not in key and 0 < client.ttl(key) <= STATE_LIFETIME_SECONDS
    client.close()


def test_the_app_keeps_states_in_redis_when_redis_url_is_set(app_factory, redis_url, redis_prefix):
    built = app_factory(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=redis_prefix)
    assert isinstance(built.extensions["medusa_auth"].sign_in_states, RedisStateStore)


# ---------------------------------------------------------------- OpenID Connect, against oidc-provider


@pytest.fixture(scope="module")
def oidc_client(oidc_provider: OidcProvider) -> OidcClient:
    return oidc_provider.register_client(STOREFRONT_CALLBACK)


@pytest.fixture
def okta(oidc_provider: OidcProvider, oidc_client: OidcClient) -> OpenIdConnectClient:
    values = {"AUTH_PROVIDERS": "okta", "OKTA_DISPLAY_NAME": "Okta", **oidc_provider.settings("okta", oidc_client)}
    client = build_client(one_provider(**values))
    assert isinstance(client, OpenIdConnectClient)
    return client


def start(client: Any, callback_url: str = STOREFRONT_CALLBACK) -> tuple[str, PendingSignIn]:
    authorization = client.authorization(callback_url)
    pending = PendingSignIn("customer", client.id, callback_url, authorization.code_verifier, authorization.nonce)
    return authorization.url, pending


def test_the_authorize_url_carries_state_pkce_s256_and_a_nonce(okta: OpenIdConnectClient, oidc_client):
    authorization = okta.authorization(STOREFRONT_CALLBACK)
    query = query_of(authorization.url)
    assert authorization.url.startswith(okta.metadata()["authorization_endpoint"] + "?")
    assert query["response_type"] == "code" and query["client_id"] == oidc_client.client_id
    assert query["redirect_uri"] == STOREFRONT_CALLBACK and query["scope"] == "openid email profile"
    assert query["state"] == authorization.state and len(authorization.state) >= 43
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] != authorization.code_verifier
    assert query["nonce"] == authorization.nonce and len(authorization.nonce or "") >= 32
    again = okta.authorization(STOREFRONT_CALLBACK)
    assert {again.state, again.code_verifier, again.nonce}.isdisjoint(
        {authorization.state, authorization.code_verifier, authorization.nonce}
    )


def test_a_sign_in_at_the_provider_gives_the_verified_profile(okta, oidc_provider):
    oidc_provider.set_account("ada", email="Ada@Example.com", name="Ada Lovelace", given_name="Ada")
    url, pending = start(okta)
    callback = query_of(oidc_provider.sign_in(url, "ada"))
    assert callback["iss"] == oidc_provider.issuer and callback["state"] == query_of(url)["state"]
    profile = okta.profile(callback["code"], pending)
    assert profile.entity_id == "ada" and profile.email == "Ada@Example.com" and profile.email_verified
    assert profile.user_metadata() == {
        "email": "Ada@Example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "ada",
        "picture": "https://pictures.example.test/ada.png",
    }


def test_an_unverified_email_is_reported_unverified(okta, oidc_provider):
    url, pending = start(okta)
    profile = okta.profile(query_of(oidc_provider.sign_in(url, "unverified-eve"))["code"], pending)
    assert profile.email == "unverified-eve@example.test" and profile.email_verified is False


def test_a_code_works_once(okta, oidc_provider):
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    okta.profile(code, pending)
    with pytest.raises(SignInRefused, match=r"^Okta refused the sign-in code \(invalid_grant\)$"):
        okta.profile(code, pending)


def test_a_made_up_code_is_refused(okta):
    _, pending = start(okta)
    with pytest.raises(SignInRefused, match=r"invalid_grant"):
        okta.profile("made-up", pending)


def test_a_code_needs_its_own_verifier(okta, oidc_provider):
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    other = PendingSignIn(pending.actor_type, pending.provider, pending.callback_url, "w" * 64, pending.nonce)
    with pytest.raises(SignInRefused, match=r"invalid_grant"):
        okta.profile(code, other)


def test_a_code_needs_its_own_callback_url(okta, oidc_provider):
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    moved = PendingSignIn(
        pending.actor_type, pending.provider, "http://127.0.0.1:8000/elsewhere", pending.code_verifier, pending.nonce
    )
    with pytest.raises(SignInRefused, match=r"invalid_grant"):
        okta.profile(code, moved)


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
def test_a_tampered_id_token_is_refused(okta, oidc_provider, mode, reason):
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    oidc_provider.tamper_next_id_token(mode)
    with pytest.raises(SignInRefused) as refused:
        okta.profile(code, pending)
    assert str(refused.value) == f"The id_token from Okta is refused: {reason}"


def test_a_re_signed_unaltered_id_token_is_accepted(okta, oidc_provider):
    """The control: the tampering harness itself does not break tokens, so each refusal above is its check's."""
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    oidc_provider.tamper_next_id_token("resign")
    assert okta.profile(code, pending).entity_id == "ada"


def test_another_sign_ins_nonce_is_refused(okta, oidc_provider):
    url, pending = start(okta)
    code = query_of(oidc_provider.sign_in(url, "ada"))["code"]
    other = PendingSignIn(pending.actor_type, pending.provider, pending.callback_url, pending.code_verifier, "x" * 32)
    with pytest.raises(SignInRefused, match="its nonce is not this sign-in's"):
        okta.profile(code, other)


def test_discovery_and_the_jwks_are_fetched_once_and_shared(okta, oidc_provider):
    first = okta.metadata()
    assert okta.metadata() is first and okta.jwks() is okta.jwks()
    assert first["issuer"] == oidc_provider.issuer


# ---------------------------------------------------------------- discovery's care


def discovery_server(jwks_server: JwksServer, **document: Any) -> dict[str, Any]:
    """The controllable endpoint serving a discovery document for its own base URL."""
    jwks_server.path = "/.well-known/openid-configuration"  # type: ignore[misc]
    base = jwks_server.base_url
    jwks_server.document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        **document,
    }
    return jwks_server.document


def client_for(issuer: str, policy: JwksPolicy | None = None) -> OpenIdConnectClient:
    values = {**OKTA, "OKTA_ISSUER": issuer}
    return OpenIdConnectClient(one_provider(**values), policy)


def test_discovery_reads_the_issuers_document(jwks_server):
    document = discovery_server(jwks_server)
    assert client_for(jwks_server.base_url).metadata() == document


def test_a_document_for_another_issuer_is_refused(jwks_server):
    discovery_server(jwks_server, issuer="https://evil.example.com")
    with pytest.raises(ProviderUnavailable, match="no usable discovery document"):
        client_for(jwks_server.base_url).metadata()


def test_a_redirect_is_not_followed(jwks_server):
    discovery_server(jwks_server)
    jwks_server.answer.status = 302
    jwks_server.answer.headers = {"Location": f"{jwks_server.base_url}/elsewhere"}
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()
    assert jwks_server.fetches("/elsewhere") == 0


def test_an_oversized_document_is_refused(jwks_server):
    discovery_server(jwks_server, padding="x" * (70 * 1024))
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()


def test_an_oversized_document_without_content_length_is_refused(jwks_server):
    discovery_server(jwks_server, padding="x" * (70 * 1024))
    jwks_server.answer.declare_length = False
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()


def test_a_slow_provider_is_given_up_on(jwks_server):
    discovery_server(jwks_server)
    jwks_server.answer.delay = 3.0
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url, JwksPolicy(timeout=0.5)).metadata()


def test_a_trickling_provider_is_given_up_on(jwks_server):
    discovery_server(jwks_server)
    jwks_server.answer.trickle = 0.2
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url, JwksPolicy(timeout=1.0)).metadata()


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"])
def test_an_endpoint_over_plain_http_to_another_host_is_refused(jwks_server, endpoint):
    discovery_server(jwks_server, **{endpoint: "http://provider.example.com/x"})
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()


def test_a_provider_without_pkce_s256_is_refused(jwks_server):
    discovery_server(jwks_server, code_challenge_methods_supported=["plain"])
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()


def test_a_document_that_is_not_strict_json_is_refused(jwks_server):
    discovery_server(jwks_server)
    jwks_server.answer.body = b'{"issuer": "a", "issuer": "b"}'
    with pytest.raises(ProviderUnavailable):
        client_for(jwks_server.base_url).metadata()


def test_a_known_document_keeps_serving_while_the_provider_fails(jwks_server, fake_clock):
    document = discovery_server(jwks_server)
    client = OpenIdConnectClient(one_provider(**{**OKTA, "OKTA_ISSUER": jwks_server.base_url}), clock=fake_clock)
    assert client.metadata() == document
    jwks_server.answer.status = 500
    fake_clock.move(3601)
    assert client.metadata() == document  # stale but known
    assert jwks_server.fetches() == 2
    fake_clock.move(10)
    client.metadata()
    assert jwks_server.fetches() == 2  # no new attempt within the retry delay
    fake_clock.move(86400)
    with pytest.raises(ProviderUnavailable):
        client.metadata()


def test_a_provider_signing_only_with_hmac_is_refused(jwks_server):
    discovery_server(jwks_server, id_token_signing_alg_values_supported=["HS256", "RS256"])
    client = client_for(jwks_server.base_url)
    assert client.jwks().algorithms == frozenset({"RS256"})


# ---------------------------------------------------------------- GitHub, against the stand-in


def github_client(stand_in: GitHubStandIn) -> GitHubClient:
    client = build_client(one_provider(AUTH_PROVIDERS="github", **stand_in.settings(STOREFRONT_CALLBACK)))
    assert isinstance(client, GitHubClient)
    return client


OCTOCAT = GitHubUser(
    id=583231,
    login="octocat",
    name="The Octocat",
    emails=[
        {"email": "octo@old.example.com", "primary": False, "verified": True, "visibility": None},
        {"email": "octocat@example.com", "primary": True, "verified": True, "visibility": "public"},
    ],
)


def test_github_gives_the_numeric_id_and_the_primary_verified_email(github):
    client = github_client(github)
    url, pending = start(client)
    query = query_of(url)
    assert query["code_challenge_method"] == "S256" and query["scope"] == "read:user user:email"
    assert "nonce" not in query and pending.nonce is None
    callback = query_of(github.sign_in(url, OCTOCAT))
    assert callback["state"] == query["state"]
    profile = client.profile(callback["code"], pending)
    assert (profile.entity_id, profile.email, profile.email_verified) == ("583231", "octocat@example.com", True)
    assert profile.name == "The Octocat"
    assert ("POST", "/login/oauth/access_token") in github.requests


def test_github_with_an_unverified_primary_email_reports_it_unverified(github):
    client = github_client(github)
    url, pending = start(client)
    user = GitHubUser(id=7, login="newbie", emails=[{"email": "new@example.com", "primary": True, "verified": False}])
    profile = client.profile(query_of(github.sign_in(url, user))["code"], pending)
    assert (profile.entity_id, profile.email, profile.email_verified, profile.name) == (
        "7",
        "new@example.com",
        False,
        "newbie",
    )


def test_github_refuses_a_bad_code_in_a_200_answer(github):
    client = github_client(github)
    _, pending = start(client)
    with pytest.raises(SignInRefused, match=r"^GitHub refused the sign-in code \(bad_verification_code\)$"):
        client.profile("nope", pending)


def test_github_checks_the_verifier(github):
    client = github_client(github)
    url, pending = start(client)
    code = query_of(github.sign_in(url, OCTOCAT))["code"]
    other = PendingSignIn(pending.actor_type, pending.provider, pending.callback_url, "w" * 64, None)
    with pytest.raises(SignInRefused, match="bad_verification_code"):
        client.profile(code, other)


def test_an_unreachable_provider_is_unavailable_not_refused(github):
    client = github_client(github)
    _, pending = start(client)
    github.stop()
    with pytest.raises(ProviderUnavailable):
        client.profile("code", pending)


def test_the_authorize_url_keeps_a_query_the_endpoint_already_has():
    client = build_client(
        one_provider(
            **{**GITHUB, "GITHUB_AUTHORIZE_URL": "https://github.example.com/login/oauth/authorize"},
        )
    )
    url = client.authorization("https://shop.example.com/cb").url
    assert urlsplit(url).netloc == "github.example.com" and parse_qs(urlsplit(url).query)["client_id"] == ["Iv1.abc"]
    assert json.dumps(url)  # printable
