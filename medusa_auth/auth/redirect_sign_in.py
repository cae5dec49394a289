"""Sign-in through a redirect provider (Google, GitHub, any OpenID Connect provider): SPEC §10.

``start`` sends the person to the provider with a fresh state kept server-side; ``finish`` takes that
state back once, exchanges the code and finds or creates the provider identity (``entity_id``: the
provider's ``sub``, GitHub's numeric id; ``user_metadata``: the profile) for any actor type that
AUTH_METHODS_PER_ACTOR allows it; ``provision_user`` gives a first-time identity its admin, linked only
on the provider's *verified* email (a customer is created by ``POST /store/customers``). Every refusal
is a 401 with a message that says what went wrong; a provider that cannot be reached is a 503.

An identity is found by (provider, entity_id) alone: a sign-in with one provider never lands in an
identity another provider (or emailpass) holds, whatever the emails say.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError

from ..actors import USER, actor_id_of, link
from ..database import db
from ..errors import ApiError, invalid_data, unauthorized
from ..extension import medusa_auth
from ..models import AuthIdentity, ProviderIdentity, User, normalize_email
from ..providers.oauth import Authorization, ProviderClient, ProviderUnavailable, SignInRefused, provider_error_text
from ..providers.state import PendingSignIn, StateStoreUnavailable
from ..request_data import is_email
from ..security_log import security_event
from .identity_service import current_identity

log = logging.getLogger(__name__)

MAX_CALLBACK_URL_LENGTH = 2048
MAX_QUERY_VALUE_LENGTH = 4096
STATE_MISSING = "The sign-in state is missing"
STATE_UNKNOWN = "The sign-in state is unknown, expired or already used"
STATE_ELSEWHERE = "The sign-in state belongs to another sign-in"
CODE_MISSING = "The authorization code is missing"
ANOTHER_ISSUER = "The answer comes from another issuer than the provider's"
ALREADY_A_USER = "Request already authenticated as a user."
NO_CREDENTIALS = "This provider signs people in itself: it has no registration or password here"


@dataclass(frozen=True)
class SignedIn:
    """The identity a finished sign-in found or created, and the profile its provider gave this time."""

    identity: AuthIdentity
    provider: str
    user_metadata: dict[str, Any]


def redirect_providers_for(actor_type: str) -> list[ProviderClient]:
    """The configured redirect providers ``actor_type`` may sign in with, in AUTH_PROVIDERS' order."""
    return [client for client in medusa_auth().redirect_providers.values() if _allowed(actor_type, client.id)]


def is_redirect_provider(provider_id: str) -> bool:
    return provider_id in medusa_auth().redirect_providers


def start(actor_type: str, provider_id: str, callback_url: str | None) -> str:
    """The provider's authorize URL for a new sign-in; the state it carries is kept server-side, 10 minutes."""
    client = _client(actor_type, provider_id)
    return begin(client, actor_type, allowed_callback_url(client, callback_url)).url


def begin(client: ProviderClient, actor_type: str, callback_url: str) -> Authorization:
    """A new sign-in to ``callback_url`` (already checked), its state saved; for this service's own pages too."""
    try:
        authorization = client.authorization(callback_url)
    except ProviderUnavailable as error:  # its endpoints cannot be found (discovery): before any state is kept
        raise _unavailable(f"{client.id}: {error}") from None
    pending = PendingSignIn(actor_type, client.id, callback_url, authorization.code_verifier, authorization.nonce)
    try:
        medusa_auth().sign_in_states.save(authorization.state, pending)
    except StateStoreUnavailable as error:
        raise _unavailable(f"sign-in states: {error}") from None
    security_event("redirect_sign_in_started", actor_type=actor_type, provider=client.id)
    return authorization


def allowed_callback_url(client: ProviderClient, asked: str | None) -> str:
    """The provider's default callback, or one AUTH_CALLBACK_URLS lists exactly (anything else is an open redirect)."""
    if asked is None:
        return client.settings.callback_url
    if not isinstance(asked, str) or len(asked) > MAX_CALLBACK_URL_LENGTH:
        raise invalid_data(f"callback_url must be a string of at most {MAX_CALLBACK_URL_LENGTH} characters")
    allowed = medusa_auth().settings.redirect_providers.callback_urls | {client.settings.callback_url}
    if asked not in allowed:
        security_event("redirect_sign_in_refused", reason="callback_url not allowed", provider=client.id)
        raise invalid_data("callback_url is not one of the allowed callback URLs (AUTH_CALLBACK_URLS)")
    return asked


def finish(actor_type: str, provider_id: str, query: Mapping[str, Any]) -> SignedIn:
    """The provider identity for a callback's ``code`` and ``state``; 401 for every refusal, 503 if unreachable."""
    client = _client(actor_type, provider_id)
    values = _query_values(query)
    state = values.get("state")
    if not state:
        _refuse(STATE_MISSING, provider_id)
    try:
        pending = medusa_auth().sign_in_states.take(state)
    except StateStoreUnavailable as error:
        raise _unavailable(f"sign-in states: {error}") from None
    if pending is None:
        _refuse(STATE_UNKNOWN, provider_id)
    if (pending.actor_type, pending.provider) != (actor_type, provider_id):
        _refuse(STATE_ELSEWHERE, provider_id)
    if values.get("error"):
        detail = provider_error_text(values["error"], values.get("error_description"))
        _refuse(f"{client.settings.display_name} did not sign you in: {detail}", provider_id)
    if "iss" in values and client.settings.issuer is not None and values["iss"] != client.settings.issuer:
        _refuse(ANOTHER_ISSUER, provider_id)  # RFC 9207: a mix-up between providers
    code = values.get("code")
    if not code:
        _refuse(CODE_MISSING, provider_id)
    try:
        profile = client.profile(code, pending)
    except SignInRefused as refused:
        _refuse(str(refused), provider_id)
    except ProviderUnavailable as error:
        raise _unavailable(f"{provider_id}: {error}") from None
    provider_identity = _provider_identity(provider_id, profile.entity_id, profile.user_metadata())
    identity = provider_identity.auth_identity
    security_event(
        "login_succeeded",
        auth_identity_id=identity.id,
        provider=provider_id,
        actor_type=actor_type,
        actor_id=actor_id_of(identity, actor_type) or "",
    )
    return SignedIn(identity, provider_id, profile.user_metadata())


def provision_user(provider_id: str, claims: Mapping[str, Any]) -> User:
    """The admin for a first sign-in's token (``POST /auth/{provider}/user``); 400 if it has one already."""
    if not _allowed(USER, provider_id):
        raise unauthorized()
    identity = current_identity(dict(claims))
    if identity.user_id is not None:
        raise invalid_data(ALREADY_A_USER)
    return user_for(identity, provider_id)


def user_for(identity: AuthIdentity, provider_id: str) -> User:
    """The identity's admin: its own, else the user with the provider's verified email, else a new one from the profile.

    Nothing is linked or created on an email the provider has not verified (401).
    """
    if identity.user_id is not None:
        user = db.session.get(User, identity.user_id)
        if user is not None:
            return user
    client = medusa_auth().redirect_providers[provider_id]
    provider_identity = next((p for p in identity.provider_identities if p.provider == provider_id), None)
    if provider_identity is None:
        security_event("token_refused", reason="identity has no such provider", auth_identity_id=identity.id)
        raise unauthorized()
    profile = provider_identity.user_metadata or {}
    email = profile.get("email")
    if not isinstance(email, str) or not is_email(email) or profile.get("email_verified") is not True:
        security_event("user_refused", reason="no verified email", auth_identity_id=identity.id, provider=provider_id)
        raise unauthorized(f"{client.settings.display_name} has not verified an email address for this account")
    try:
        return _link_user(identity, normalize_email(email), profile)
    except IntegrityError:  # the same email's user created concurrently: link to it instead
        db.session.rollback()
        return _link_user(db.session.get(AuthIdentity, identity.id) or identity, normalize_email(email), profile)


def _link_user(identity: AuthIdentity, email: str, profile: Mapping[str, Any]) -> User:
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    created = user is None
    if user is None:
        user = User(
            email=email,
            first_name=_short(profile.get("given_name")),
            last_name=_short(profile.get("family_name")),
            avatar_url=_short(profile.get("picture"), 2048),
        )
        db.session.add(user)
        db.session.flush()
    link(identity, USER, user.id)
    db.session.commit()
    security_event("user_created" if created else "user_linked", user_id=user.id, auth_identity_id=identity.id)
    return user


def _provider_identity(provider_id: str, entity_id: str, user_metadata: dict[str, Any]) -> ProviderIdentity:
    """The (provider, entity_id) identity with the profile just given; a new auth identity the first time."""
    found = _find(provider_id, entity_id)
    if found is None:
        identity = AuthIdentity(app_metadata={})
        identity.provider_identities.append(
            ProviderIdentity(provider=provider_id, entity_id=entity_id, user_metadata=user_metadata)
        )
        db.session.add(identity)
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent first sign-in of the same person created it
            db.session.rollback()
        else:
            security_event("identity_registered", auth_identity_id=identity.id, provider=provider_id)
            return identity.provider_identities[0]
        found = _find(provider_id, entity_id)
        assert found is not None
    found.user_metadata = user_metadata
    db.session.commit()
    return found


def _find(provider_id: str, entity_id: str) -> ProviderIdentity | None:
    return db.session.execute(
        db.select(ProviderIdentity).filter_by(provider=provider_id, entity_id=entity_id)
    ).scalar_one_or_none()


def _client(actor_type: str, provider_id: str) -> ProviderClient:
    client = medusa_auth().redirect_providers.get(provider_id)
    if client is None or not _allowed(actor_type, provider_id):
        raise unauthorized()
    return client


def _allowed(actor_type: str, provider_id: str) -> bool:
    """Whether ``actor_type`` may sign in with this redirect provider (AUTH_PROVIDERS and AUTH_METHODS_PER_ACTOR)."""
    extension = medusa_auth()
    return provider_id in extension.redirect_providers and extension.actors.allows(actor_type, provider_id)


def _query_values(query: Mapping[str, Any]) -> dict[str, str]:
    """The callback's parameters as bounded strings (anything else is as good as missing)."""
    return {
        name: value for name, value in query.items() if isinstance(value, str) and len(value) <= MAX_QUERY_VALUE_LENGTH
    }


def _refuse(message: str, provider_id: str) -> NoReturn:
    security_event("redirect_sign_in_refused", reason=message, provider=provider_id)
    raise unauthorized(message)


def _unavailable(detail: str) -> ApiError:
    log.warning("redirect sign-in unavailable: %s", detail)
    return ApiError(
        503, "unexpected_state", "The sign-in provider cannot be reached. Try again shortly.", {"Retry-After": "5"}
    )


def _short(value: Any, length: int = 255) -> str | None:
    return value[:length] if isinstance(value, str) and value else None
