"""The one module that binds Authlib: its OAuth 2.0 client and OpenID Connect discovery metadata.

Authlib builds the authorize URL (``state``, PKCE S256, ``nonce``), exchanges the code (client
authentication, its error answers) and signs the provider API calls with the access token, on a
requests session that talks to providers with the JWKS client's care: https except to loopback, a
timeout, a size cap, no redirects, nothing from the environment (proxies, .netrc). The id_token is
verified in ``id_token.py`` with joserfc and the project's JWKS client, never with ``authlib.jose``.

A ``ProviderClient`` per configured provider is built once at startup; its discovery document and
JWKS client are fetched when first needed and cached, and are safe to share between threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url

from ..keys.remote import PUBLIC_KEY_ALGORITHMS, JwksPolicy, RemoteJwks
from ..settings import LOOPBACK_HOSTS, RedirectProvider
from ..strict_json import reject_constant, reject_duplicate_members
from .id_token import IdTokenRefused, verify_id_token
from .state import PendingSignIn

log = logging.getLogger(__name__)

STATE_LENGTH = 43  # Authlib's generate_token alphabet (62 symbols): 256 bits
CODE_VERIFIER_LENGTH = 64  # RFC 7636 §4.1: 43 to 128 unreserved characters
NONCE_LENGTH = 32
DISCOVERY_FRESH_SECONDS = 3600.0
DISCOVERY_STALE_SECONDS = 86400.0  # a known document keeps serving this long while the provider's fails
DISCOVERY_RETRY_SECONDS = 30.0
GITHUB_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_MAX_PROFILE_FIELD = 2048
_MAX_ERROR_TEXT = 200


class SignInRefused(Exception):
    """The provider or what it sent refuses this sign-in (401); the message is for the person signing in."""


class ProviderUnavailable(Exception):
    """The provider cannot be reached or answers nonsense (503); the message is for the log."""


@dataclass(frozen=True)
class Authorization:
    """Where to send the person, and what the callback will need (kept server-side under ``state``)."""

    url: str
    state: str
    code_verifier: str
    nonce: str | None


@dataclass(frozen=True)
class Profile:
    """Who the provider says signed in: the provider identity's ``entity_id`` and the profile it keeps."""

    entity_id: str  # OpenID Connect's sub; GitHub's numeric user id
    email: str | None
    email_verified: bool  # only a verified email ever links to an existing account
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    picture: str | None = None

    def user_metadata(self) -> dict[str, Any]:
        """What the provider identity's ``user_metadata`` keeps (SPEC §10), without empty members."""
        fields = {
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "picture": self.picture,
        }
        return {name: value for name, value in fields.items() if value is not None}


class ProviderSession(OAuth2Session):
    """Authlib's OAuth 2.0 client session, with every request held to the JWKS client's bounds."""

    def __init__(self, policy: JwksPolicy, **kwargs: Any):
        super().__init__(**kwargs)
        self.policy = policy
        self.trust_env = False  # no proxy, .netrc or CA bundle from the environment
        self.max_redirects = 0
        self.headers["Accept-Encoding"] = "identity"  # the size cap counts what the provider sends
        self.headers["User-Agent"] = "medusa_auth"

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        check_provider_url(url)
        kwargs.update(timeout=self.policy.timeout, allow_redirects=False, stream=True)
        deadline = time.monotonic() + self.policy.timeout
        try:
            response = cast(requests.Response, super().request(method, url, *args, **kwargs))
            with response:
                if response.is_redirect:
                    raise ProviderUnavailable(f"{urlsplit(url).path} answered {response.status_code} (no redirects)")
                # requests keeps a read body in _content; reading it here bounds its size and time.
                response._content = _read_capped(response, self.policy.max_bytes, deadline)
        except requests.RequestException as error:
            raise ProviderUnavailable(f"{type(error).__name__} from {urlsplit(url).netloc}") from None
        return response


def check_provider_url(url: str) -> None:
    """A provider endpoint must be https, or plain http to loopback (as the JWKS client's)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderUnavailable(f"{url!r} is not an http(s) URL")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ProviderUnavailable(f"{url!r} must use https (plain http only to loopback)")


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ProviderUnavailable(f"an answer of {declared} bytes is over the {max_bytes}-byte cap")
    body = bytearray()
    for chunk in response.iter_content(16384):
        body += chunk
        if len(body) > max_bytes:
            raise ProviderUnavailable(f"an answer is over the {max_bytes}-byte cap")
        if time.monotonic() > deadline:
            raise ProviderUnavailable("an answer took longer than the timeout")
    return bytes(body)


def json_object(response: requests.Response, what: str) -> dict[str, Any]:
    """The strict JSON object of a 200 answer; ``ProviderUnavailable`` for anything else."""
    if response.status_code != 200:
        raise ProviderUnavailable(f"{what} answered {response.status_code}")
    try:
        value = response.json(object_pairs_hook=reject_duplicate_members, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise ProviderUnavailable(f"{what} is not strict JSON") from None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"{what} is not a JSON object")
    return value


class ProviderClient:
    """One redirect provider: its authorize URL and, from a callback's code, the person's profile."""

    token_endpoint_auth_method = "client_secret_basic"

    def __init__(self, settings: RedirectProvider, policy: JwksPolicy | None = None):
        self.settings = settings
        self.policy = policy or JwksPolicy()

    @property
    def id(self) -> str:
        return self.settings.id

    def authorization(self, callback_url: str) -> Authorization:
        """The authorize URL for a new sign-in, with a fresh state, PKCE S256 challenge and (OpenID) nonce."""
        state, verifier = generate_token(STATE_LENGTH), generate_token(CODE_VERIFIER_LENGTH)
        nonce = generate_token(NONCE_LENGTH) if self.settings.openid else None
        extra = {"nonce": nonce} if nonce else {}
        with self.session(callback_url) as session:
            url, _ = session.create_authorization_url(
                self.authorize_endpoint(), state=state, code_verifier=verifier, **extra
            )
        return Authorization(url, state, verifier, nonce)

    def profile(self, code: str, pending: PendingSignIn) -> Profile:
        """Exchange the code (with the verifier) and read who signed in; ``SignInRefused``/``ProviderUnavailable``."""
        with self.session(pending.callback_url) as session:
            token = self.exchange(session, code, pending.code_verifier)
            return self.read_profile(session, token, pending)

    def session(self, callback_url: str) -> ProviderSession:
        return ProviderSession(
            self.policy,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=list(self.settings.scopes),
            redirect_uri=callback_url,
            code_challenge_method="S256",
        )

    def exchange(self, session: ProviderSession, code: str, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer to the code; a refusal (``invalid_grant``, ...) is the client's 401."""
        try:
            token = session.fetch_token(
                self.token_endpoint(), grant_type="authorization_code", code=code, code_verifier=code_verifier
            )
        except AuthlibBaseError as error:
            raise SignInRefused(f"{self.settings.display_name} refused the sign-in code ({error.error})") from None
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status >= 500:
                raise ProviderUnavailable(f"the token endpoint answered {status}") from None
            raise SignInRefused(f"{self.settings.display_name} refused the sign-in code (HTTP {status})") from None
        except ValueError:
            raise ProviderUnavailable("the token endpoint's answer is not a JSON object") from None
        if str(token.get("token_type", "")).lower() != "bearer" or not isinstance(token.get("access_token"), str):
            raise ProviderUnavailable("the token endpoint did not answer with a bearer access token")
        return dict(token)

    def get_json(self, session: ProviderSession, url: str, what: str, headers: Mapping[str, str] = {}) -> Any:
        """A provider API call with the access token (Authlib signs it)."""
        try:
            response = session.get(url, headers=dict(headers))
        except AuthlibBaseError as error:
            raise ProviderUnavailable(f"{what}: {error.error}") from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"{what} answered {response.status_code}")
        try:
            return response.json(object_pairs_hook=reject_duplicate_members, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise ProviderUnavailable(f"{what} is not strict JSON") from None

    # -- what each kind of provider answers differently ------------------------------------------

    def authorize_endpoint(self) -> str:
        raise NotImplementedError

    def token_endpoint(self) -> str:
        raise NotImplementedError

    def read_profile(self, session: ProviderSession, token: dict[str, Any], pending: PendingSignIn) -> Profile:
        raise NotImplementedError


class OpenIdConnectClient(ProviderClient):
    """Google, Okta, Auth0, Keycloak, ...: endpoints from discovery, identity from the verified id_token."""

    def __init__(
        self, settings: RedirectProvider, policy: JwksPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__(settings, policy)
        assert settings.issuer is not None
        self.issuer = settings.issuer
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = float("-inf")
        self._retry_at = float("-inf")
        self._jwks: RemoteJwks | None = None

    def authorize_endpoint(self) -> str:
        return str(self.metadata()["authorization_endpoint"])

    def token_endpoint(self) -> str:
        return str(self.metadata()["token_endpoint"])

    def session(self, callback_url: str) -> ProviderSession:
        methods = self.metadata().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        # OpenID Connect's default is client_secret_basic; a provider may list only client_secret_post.
        self_method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        session = super().session(callback_url)
        session.token_endpoint_auth_method = self_method
        return session

    def read_profile(self, session: ProviderSession, token: dict[str, Any], pending: PendingSignIn) -> Profile:
        """The verified id_token's claims, completed from the userinfo endpoint for the same ``sub``."""
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused(f"{self.settings.display_name} sent no id_token")
        assert pending.nonce is not None
        try:
            claims = verify_id_token(
                id_token, self.jwks(), issuer=self.issuer, client_id=self.settings.client_id, nonce=pending.nonce
            )
        except IdTokenRefused as reason:
            raise SignInRefused(f"The id_token from {self.settings.display_name} is refused: {reason}") from None
        userinfo_endpoint = self.metadata().get("userinfo_endpoint")
        if isinstance(userinfo_endpoint, str) and userinfo_endpoint:
            info = self.get_json(session, userinfo_endpoint, "the userinfo endpoint")
            if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
                # OpenID Connect Core §5.3.4: a userinfo answer for another subject must not be used.
                raise SignInRefused(f"{self.settings.display_name}'s userinfo is about another subject")
            claims = {**info, **claims}
        return Profile(
            entity_id=claims["sub"],
            email=_text(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            name=_text(claims.get("name")),
            given_name=_text(claims.get("given_name")),
            family_name=_text(claims.get("family_name")),
            picture=_text(claims.get("picture")),
        )

    def metadata(self) -> dict[str, Any]:
        """The discovery document: fetched when first needed, refreshed hourly, kept a day while the provider fails."""
        now = self.clock()
        metadata = self._metadata
        if metadata is not None and now < self._fetched_at + DISCOVERY_FRESH_SECONDS:
            return metadata
        with self._lock:
            now = self.clock()
            if self._metadata is not None and now < self._fetched_at + DISCOVERY_FRESH_SECONDS:
                return self._metadata
            if now >= self._retry_at:
                try:
                    self._metadata, self._fetched_at = self.discover(), now
                except ProviderUnavailable as error:
                    self._retry_at = now + DISCOVERY_RETRY_SECONDS
                    log.warning("OpenID discovery for %s failed: %s", self.id, error)
            if self._metadata is None or now > self._fetched_at + DISCOVERY_STALE_SECONDS:
                raise ProviderUnavailable(f"no usable discovery document for {self.id}")
            return self._metadata

    def discover(self) -> dict[str, Any]:
        """``{issuer}/.well-known/openid-configuration``, validated, for exactly this issuer."""
        url = get_well_known_url(self.issuer, external=True)
        with ProviderSession(self.policy) as session:
            document = json_object(session.get(url, withhold_token=True), "the discovery document")
        try:
            OpenIDProviderMetadata(document).validate()
        except (ValueError, TypeError) as error:
            raise ProviderUnavailable(f"the discovery document is invalid: {error}") from None
        if document["issuer"] != self.issuer:
            # OpenID Connect Discovery §4.3: the document must be the issuer's own.
            raise ProviderUnavailable(f"the discovery document is for issuer {document['issuer']!r}")
        challenge_methods = document.get("code_challenge_methods_supported")
        if isinstance(challenge_methods, list) and "S256" not in challenge_methods:
            raise ProviderUnavailable("the provider does not support PKCE with S256")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            if document.get(name) is not None:
                check_provider_url(str(document[name]))
        return document

    def jwks(self) -> RemoteJwks:
        """The project's JWKS client on the provider's ``jwks_uri``, pinned to the id_token algorithms it signs with."""
        metadata = self.metadata()
        jwks = self._jwks
        if jwks is not None and jwks.url == metadata["jwks_uri"]:
            return jwks
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = PUBLIC_KEY_ALGORITHMS & set(advertised)
        if not algorithms:
            raise ProviderUnavailable(
                f"no id_token algorithm of {advertised} is a public-key one this service verifies"
            )
        try:
            jwks = RemoteJwks(str(metadata["jwks_uri"]), algorithms=algorithms, policy=self.policy)
        except ValueError as error:
            raise ProviderUnavailable(f"jwks_uri: {error}") from None
        self._jwks = jwks
        return jwks


class GitHubClient(ProviderClient):
    """GitHub's OAuth apps: no OpenID Connect; the identity is its API's numeric user id and primary verified email."""

    token_endpoint_auth_method = "client_secret_post"

    def authorize_endpoint(self) -> str:
        return str(self.settings.authorize_url)

    def token_endpoint(self) -> str:
        return str(self.settings.token_url)

    def read_profile(self, session: ProviderSession, token: dict[str, Any], pending: PendingSignIn) -> Profile:
        api = str(self.settings.api_url).rstrip("/")
        user = self.get_json(session, f"{api}/user", "GitHub's /user", GITHUB_API_HEADERS)
        emails = self.get_json(session, f"{api}/user/emails", "GitHub's /user/emails", GITHUB_API_HEADERS)
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise ProviderUnavailable("GitHub's /user has no numeric id")
        if not isinstance(emails, list):
            raise ProviderUnavailable("GitHub's /user/emails is not a list")
        primary = next(
            (e for e in emails if isinstance(e, dict) and e.get("primary") is True and isinstance(e.get("email"), str)),
            None,
        )
        verified = primary is not None and primary.get("verified") is True
        email = _text(primary["email"]) if primary is not None else _text(user.get("email"))
        return Profile(
            entity_id=str(user_id),
            email=email,
            email_verified=verified,
            name=_text(user.get("name")) or _text(user.get("login")),
            picture=_text(user.get("avatar_url")),
        )


def build_client(settings: RedirectProvider) -> ProviderClient:
    """The client for one configured provider: OpenID Connect when it has an issuer, else GitHub's API."""
    return OpenIdConnectClient(settings) if settings.openid else GitHubClient(settings)


def provider_error_text(error: str, description: str | None) -> str:
    """A provider's ``error`` (and description) as one short printable line for a 401's message."""
    text = error if not description else f"{error}: {description}"
    return "".join(char for char in text if char.isprintable())[:_MAX_ERROR_TEXT]


def _text(value: Any) -> str | None:
    """A profile field: a non-empty string of bounded length, else nothing."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:_MAX_PROFILE_FIELD]
