"""Medusa's API keys for the admin API and the CLI: create (the token shown once), list, get, rename, revoke, delete.

A request opened by a secret key (actor type ``api-key``) may read keys and manage publishable ones,
but never create, rename, revoke or delete a secret key: a leaked machine key cannot mint its own
successor or lock the admins' keys out. Only an admin's session or token can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func

from .. import api_keys
from ..api_keys import PUBLISHABLE, SECRET
from ..clock import now_datetime
from ..database import db
from ..errors import ApiError, invalid_data, not_found
from ..extension import medusa_auth
from ..models import ApiKey
from ..security_log import security_event

PEOPLE_ONLY = "An API key cannot do this: an admin's session or token must"


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    token: str  # shown once: for a secret key, never again

    def to_dict(self) -> dict[str, Any]:
        return {"api_key": self.api_key.to_dict(token=self.token)}


def refuse_api_key_actor(auth_context: dict[str, Any]) -> None:
    """403 for a request opened by a secret key, where an admin's session or token must act."""
    if auth_context.get("actor_type") == api_keys.ACTOR_TYPE:
        security_event("api_key_refused", reason="an API key may not do this", api_key_id=auth_context.get("actor_id"))
        raise ApiError(403, "not_allowed", PEOPLE_ONLY)


def create_key(title: str, kind: str, auth_context: dict[str, Any] | None = None) -> CreatedKey:
    """A new key of ``kind``; the answer carries its token, which for a secret key is never shown again.

    ``auth_context``: the admin API's actor (a secret key may not make one); None from the CLI.
    """
    if kind not in api_keys.TYPES:
        raise invalid_data(f"type must be one of {', '.join(api_keys.TYPES)}")
    if kind == SECRET and auth_context is not None:
        refuse_api_key_actor(auth_context)
    created_by = auth_context["actor_id"] if auth_context is not None else None
    live = medusa_auth().api_keys
    token = api_keys.new_token(kind)
    key = ApiKey(
        token_hash=live.token_hash(token),
        token=token if kind == PUBLISHABLE else None,
        redacted=api_keys.redact(token),
        title=title,
        type=kind,
        created_by=created_by,
    )
    db.session.add(key)
    db.session.commit()
    live.forget()
    security_event("api_key_created", api_key_id=key.id, type=kind, created_by=created_by)
    return CreatedKey(key, token)


def get_key(key_id: str) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise not_found(f"API Key with id: {key_id} was not found")
    return key


def list_keys(offset: int, limit: int, kind: str | None = None, q: str | None = None) -> tuple[list[ApiKey], int]:
    """A page of keys, oldest first, of one ``kind`` or titled like ``q``, and how many match."""
    matching = db.select(ApiKey)
    if kind is not None:
        if kind not in api_keys.TYPES:
            raise invalid_data(f"type must be one of {', '.join(api_keys.TYPES)}")
        matching = matching.where(ApiKey.type == kind)
    if q:
        matching = matching.where(func.lower(ApiKey.title).contains(q.lower(), autoescape=True))
    page = matching.order_by(ApiKey.created_at, ApiKey.id).offset(offset).limit(limit)
    count = db.session.execute(db.select(func.count()).select_from(matching.subquery())).scalar_one()
    return list(db.session.execute(page).scalars()), int(count)


def rename_key(key_id: str, title: str, auth_context: dict[str, Any]) -> ApiKey:
    key = _key_it_may_change(key_id, auth_context)
    key.title = title
    db.session.commit()
    return key


def revoke_key(key_id: str, revoked_by: str | None, auth_context: dict[str, Any] | None = None) -> ApiKey:
    """Revoke now: this worker stops taking the key at once, every other within REVOCATION_REFRESH_SECONDS."""
    key = _key_it_may_change(key_id, auth_context)
    revoked = db.session.execute(
        db.update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now_datetime(), revoked_by=revoked_by)
    )
    if getattr(revoked, "rowcount", 0) != 1:  # the UPDATE is the check: two revocations race, one wins
        db.session.rollback()
        raise invalid_data(f"The {key.type} key {key.id} is already revoked.")
    db.session.commit()
    db.session.refresh(key)
    medusa_auth().api_keys.forget()
    security_event("api_key_revoked", api_key_id=key.id, type=key.type, revoked_by=revoked_by)
    return key


def delete_key(key_id: str, auth_context: dict[str, Any] | None = None) -> None:
    """Delete a revoked key (Medusa's rule: revoke first, so deleting never ends access by surprise)."""
    key = _key_it_may_change(key_id, auth_context)
    if key.revoked_at is None:
        raise ApiError(400, "not_allowed", f"Cannot delete api keys that are not revoked - {key.id}")
    db.session.delete(key)
    db.session.commit()
    security_event("api_key_deleted", api_key_id=key.id, type=key.type)


def _key_it_may_change(key_id: str, auth_context: dict[str, Any] | None) -> ApiKey:
    """The key, if the actor may change it: a secret key only by a person (None: the CLI, an operator)."""
    key = get_key(key_id)
    if key.type == SECRET and auth_context is not None:
        refuse_api_key_actor(auth_context)
    return key
