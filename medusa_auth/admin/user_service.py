"""Users for the admin API: read, list, update, delete, end their sessions; their sign-in methods and a reset token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, tuple_

from .. import sessions, sign_in_sessions
from ..actors import USER, actor_key, linked_identities
from ..auth import reset
from ..auth.identity_service import PROVIDER, end_earlier_access
from ..database import db
from ..errors import ApiError, invalid_data, not_found
from ..models import TableRowCount, User, assign, normalize_email
from ..security_log import security_event

# Medusa's ``order``: a field, "-" first for descending; only these (each one an indexed or small sort).
ORDER_FIELDS = ("created_at", "updated_at", "email", "first_name", "last_name")
DEFAULT_ORDER = "created_at"


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found(f"User with id: {user_id} was not found")
    return user


def list_users(
    offset: int,
    limit: int,
    email: str | None = None,
    after: str | None = None,
    q: str | None = None,
    order: str | None = None,
) -> tuple[list[User], int]:
    """A page of users (oldest first, or by ``order``), and how many match ``email`` and ``q`` (every user without).

    ``offset`` counts rows from the start, which PostgreSQL must walk past one by one; ``after`` (a user's
    id, the last of the previous page) starts right after that user by keyset, as cheap deep as on page one
    (in the default order only). ``q`` finds the text in the email or either name, case-insensitively.
    """
    matching = db.select(User)
    if email is not None:
        matching = matching.where(User.email == normalize_email(email))
    if q:
        needle = q.lower()
        matching = matching.where(
            or_(*(func.lower(column).contains(needle, autoescape=True) for column in _SEARCHED_COLUMNS))
        )
    if order is not None and after is not None and order != DEFAULT_ORDER:
        raise invalid_data("after pages the default order only: leave out order, or page with offset")
    page = matching
    if after is not None:
        anchor = db.session.execute(db.select(User.created_at, User.id).where(User.id == after)).first()
        if anchor is None:
            raise not_found(f"User with id: {after} was not found")
        page = page.where(tuple_(User.created_at, User.id) > tuple_(anchor.created_at, anchor.id))
    users = db.session.execute(page.order_by(*_ordering(order)).offset(offset).limit(limit)).scalars()
    return list(users), _count(matching, filtered=email is not None or bool(q))


_SEARCHED_COLUMNS = (User.email, User.first_name, User.last_name)


def _ordering(order: str | None) -> tuple[ColumnElement[Any], ...]:
    """Medusa's ``order`` (``email``, ``-created_at``, ...) as ORDER BY, the id last so that pages never overlap."""
    field = DEFAULT_ORDER if order is None else order
    descending = field.startswith("-")
    name = field.removeprefix("-")
    if name not in ORDER_FIELDS:
        raise invalid_data(f"order must be one of {', '.join(ORDER_FIELDS)}, with - first for descending")
    column = getattr(User, name)
    if descending:
        return column.desc(), User.id.desc()
    return column.asc(), User.id.asc()


def _count(matching: Select[tuple[User]], filtered: bool) -> int:
    """Every user: the count the database keeps (migration 0007); a filtered list: count its few rows."""
    if not filtered:
        kept = db.session.execute(
            db.select(TableRowCount.row_count).where(TableRowCount.table_name == User.__tablename__)
        ).scalar_one_or_none()
        if kept is not None:
            return int(kept)
    return int(db.session.execute(db.select(func.count()).select_from(matching.subquery())).scalar_one())


def revoke_sessions(user_id: str, revoked_by: str) -> int:
    """End every sign-in and browser session of the user (their bearer tokens everywhere); how many sign-ins ended."""
    get_user(user_id)
    ended = sessions.end_actor_access(USER, user_id, sign_in_sessions.REVOKED_BY_ADMIN)
    db.session.commit()
    security_event("user_sessions_revoked", user_id=user_id, revoked_by=revoked_by, ended=ended)
    return ended


def update_user(user_id: str, changes: dict[str, Any]) -> User:
    """Set the given fields (first_name, last_name, avatar_url, metadata) as they are; the rest stay."""
    user = get_user(user_id)
    assign(user, changes)
    db.session.commit()
    security_event("user_updated", user_id=user.id, fields=sorted(changes))
    return user


def delete_user(user_id: str, acting_user_id: str | None) -> None:
    """Delete a user and end all its access: its identities are unlinked, their tokens and sessions end.

    Never oneself, never the last user (nobody could sign in to the admin any more). Deletions lock the
    first user row first, so two admins deleting each other at once cannot both succeed.
    """
    if user_id == acting_user_id:
        raise ApiError(400, "not_allowed", "You cannot delete your own user")
    db.session.execute(db.select(User.id).order_by(User.id).limit(1).with_for_update())
    user = get_user(user_id)
    if db.session.execute(db.select(func.count()).select_from(User)).scalar_one() <= 1:
        db.session.rollback()
        raise ApiError(400, "not_allowed", "The last user cannot be deleted")
    # Its sign-ins end as "actor removed" (bearer tokens everywhere); then what the old credentials issued.
    ended = sessions.end_actor_access(USER, user_id, sign_in_sessions.ACTOR_REMOVED)
    for identity in linked_identities(USER, user_id):
        end_earlier_access(identity)
        identity.app_metadata = {k: v for k, v in identity.app_metadata.items() if k != actor_key(USER)}
    db.session.delete(user)
    db.session.commit()
    security_event("user_deleted", user_id=user_id, by=acting_user_id, sessions_ended=ended)


def auth_providers(user_id: str) -> list[str]:
    """The providers the user signs in with (``emailpass``, ``google``, ...), each once."""
    get_user(user_id)
    providers = {p.provider for identity in linked_identities(USER, user_id) for p in identity.provider_identities}
    return sorted(providers)


def reset_password_token(user_id: str, acting_user_id: str | None) -> str:
    """A single-use reset token for the user's password (Medusa 2.20), replacing any link mailed before."""
    get_user(user_id)
    providers = (p for identity in linked_identities(USER, user_id) for p in identity.provider_identities)
    provider = next((p for p in providers if p.provider == PROVIDER), None)
    if provider is None:
        raise invalid_data("This user has no password to reset (they sign in with another provider)")
    issued = reset.issue_reset_token(provider, USER)
    if issued is None:
        raise ApiError(409, "conflict", "Another reset for this user was issued at the same time; try again")
    security_event("reset_token_issued", user_id=user_id, by=acting_user_id)
    return issued.token
