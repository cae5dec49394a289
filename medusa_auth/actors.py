"""Actor types, the providers each may use, and how an auth identity links to its actors.

Medusa's model: one auth identity (who can authenticate) may stand for several actors, one of each
type: ``app_metadata["user_id"]`` links it to an admin, ``app_metadata["customer_id"]`` to a shopper,
``app_metadata["{actor_type}_id"]`` to any further type an operator names in ``AUTH_METHODS_PER_ACTOR``.
A token is always for one actor type; its ``actor_id`` is that type's link, or ``""`` until one exists.

Which actor types exist and which providers each may use is decided once at startup (``Actors``);
a pair that is not allowed is refused the same way as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from .database import db
from .models import AuthIdentity, Customer, User
from .settings import ConfigError, RedirectProvider, WebAuthnSettings

USER = "user"
CUSTOMER = "customer"
# Medusa's own two; an operator may name more, but these always exist (their routes do).
BUILT_IN_ACTOR_TYPES = (USER, CUSTOMER)
# The tables behind the actor types this service creates; further types have none here.
ACTOR_MODELS: Mapping[str, type[User] | type[Customer]] = MappingProxyType({USER: User, CUSTOMER: Customer})


@dataclass(frozen=True)
class Provider:
    """One authentication provider as ``GET /auth/{actor_type}/providers`` lists it (Medusa's fields)."""

    id: str
    identifier: str
    display_name: str
    flow: Literal["credentials", "redirect"]

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "identifier": self.identifier, "display_name": self.display_name, "flow": self.flow}


EMAILPASS = Provider("emailpass", "emailpass", "Email/Password Authentication", "credentials")
PASSKEY = Provider("passkey", "passkey", "Passkey", "credentials")  # SPEC §14: beyond Medusa


@dataclass(frozen=True)
class Actors:
    """The actor types and the providers each may use, as configured (built once, read on every request)."""

    methods: Mapping[str, tuple[str, ...]]
    # Every provider this service has, by id: emailpass and the redirect providers of AUTH_PROVIDERS.
    providers: Mapping[str, Provider] = field(default_factory=lambda: MappingProxyType({EMAILPASS.id: EMAILPASS}))

    @classmethod
    def from_settings(
        cls,
        methods: Mapping[str, tuple[str, ...]],
        redirect_providers: Iterable[RedirectProvider] = (),
        webauthn: WebAuthnSettings | None = None,
    ) -> Actors:
        """From ``Settings.auth_methods_per_actor``; ``ConfigError`` for a provider this service does not have."""
        known = {EMAILPASS.id: EMAILPASS} | {
            provider.id: Provider(provider.id, provider.identifier, provider.display_name, "redirect")
            for provider in redirect_providers
        }
        if webauthn is not None and webauthn.rp_id is not None:
            known[PASSKEY.id] = PASSKEY
        for actor_type, providers in methods.items():
            if actor_type in known:
                raise ConfigError(f"AUTH_METHODS_PER_ACTOR: {actor_type!r} is a provider id, not an actor type")
            if PASSKEY.id in providers and PASSKEY.id not in known:
                raise ConfigError(
                    f"AUTH_METHODS_PER_ACTOR: {actor_type} may use passkey, but passkeys need a domain: "
                    "MEDUSA_BACKEND_URL's host is an IP address (set WEBAUTHN_RP_ID)"
                )
            unknown = [name for name in providers if name not in known]
            if unknown:
                raise ConfigError(
                    f"AUTH_METHODS_PER_ACTOR: {actor_type}={','.join(providers)} names an unknown provider "
                    f"{unknown[0]!r} (known: {', '.join(known)}; a redirect provider must be in AUTH_PROVIDERS)"
                )
        merged = {actor_type: () for actor_type in BUILT_IN_ACTOR_TYPES} | dict(methods)
        return cls(MappingProxyType(merged), MappingProxyType(known))

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self.methods)

    def exists(self, actor_type: str) -> bool:
        return actor_type in self.methods

    def allows(self, actor_type: str, provider: str) -> bool:
        """Whether ``actor_type`` may authenticate with ``provider`` (an unknown actor type may use none)."""
        return provider in self.methods.get(actor_type, ())

    def path_segments(self) -> frozenset[str]:
        """The actor types and providers as they appear in /auth paths (the access log may show these)."""
        return self.types | {provider for providers in self.methods.values() for provider in providers}

    def providers_for(self, actor_type: str) -> list[Provider]:
        return [self.providers[name] for name in self.methods.get(actor_type, ())]


def actor_key(actor_type: str) -> str:
    """The ``app_metadata`` member that links an identity to its actor of this type (Medusa's ``{actor}_id``)."""
    return f"{actor_type}_id"


def actor_id_of(identity: AuthIdentity, actor_type: str) -> str | None:
    """The id of the identity's actor of ``actor_type``, if one is linked."""
    value = (identity.app_metadata or {}).get(actor_key(actor_type))
    return value if isinstance(value, str) and value else None


def link(identity: AuthIdentity, actor_type: str, actor_id: str) -> None:
    """Link ``identity`` to its actor of ``actor_type``, keeping its other links; the caller commits.

    ``app_metadata`` is one JSON value, so the identity is re-read under a row lock (PostgreSQL; SQLite
    already holds the database's write lock after the flush) before it is rewritten: an invite accepted
    while the same person creates a customer cannot drop either link.
    """
    db.session.flush()  # pending changes reach the database first: the re-read must not drop them
    db.session.refresh(identity, with_for_update=True)
    identity.app_metadata = {**(identity.app_metadata or {}), actor_key(actor_type): actor_id}


def linked_actors(identity: AuthIdentity) -> dict[str, str]:
    """Actor type -> id for every actor the identity stands for."""
    metadata: dict[str, Any] = identity.app_metadata or {}
    return {
        key.removesuffix("_id"): value
        for key, value in metadata.items()
        if key.endswith("_id") and isinstance(value, str) and value
    }


def find_actor(actor_type: str, actor_id: str) -> User | Customer | None:
    """The actor row, or None (an actor type without a table here has no actors to find)."""
    model = ACTOR_MODELS.get(actor_type)
    if model is None or not actor_id:
        return None
    return cast(User | Customer | None, db.session.get(model, actor_id))


def identities_of(actor_type: str, actor_id: str) -> list[str]:
    """The ids of the auth identities linked to an actor (one, as a rule)."""
    return [identity.id for identity in linked_identities(actor_type, actor_id)]


def linked_identities(actor_type: str, actor_id: str) -> list[AuthIdentity]:
    """The auth identities linked to an actor.

    A scan of ``app_metadata`` (no index reaches into the JSON): for rare admin actions, never a request path.
    """
    linked = AuthIdentity.app_metadata[actor_key(actor_type)].as_string() == actor_id
    return list(db.session.execute(db.select(AuthIdentity).where(linked)).scalars())
