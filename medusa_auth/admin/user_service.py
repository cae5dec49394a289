"""Reading users for the admin API, and ending a user's sessions."""

from __future__ import annotations

from sqlalchemy import Select, func, tuple_

from .. import sessions, sign_in_sessions
from ..actors import USER
from ..database import db
from ..errors import not_found
from ..models import TableRowCount, User, normalize_email
from ..security_log import security_event


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found(f"User with id: {user_id} was not found")
    return user


def list_users(offset: int, limit: int, email: str | None = None, after: str | None = None) -> tuple[list[User], int]:
    """A page of users, oldest first, and how many match ``email`` (every user without it).

    ``offset`` counts rows from the start, which PostgreSQL must walk past one by one; ``after`` (a user's
    id, the last of the previous page) starts right after that user by keyset, as cheap deep as on page one.
    """
    matching = db.select(User)
    if email is not None:
        matching = matching.where(User.email == normalize_email(email))
    page = matching
    if after is not None:
        anchor = db.session.execute(db.select(User.created_at, User.id).where(User.id == after)).first()
        if anchor is None:
            raise not_found(f"User with id: {after} was not found")
        page = page.where(tuple_(User.created_at, User.id) > tuple_(anchor.created_at, anchor.id))
    users = db.session.execute(page.order_by(User.created_at, User.id).offset(offset).limit(limit)).scalars()
    return list(users), _count(matching, filtered=email is not None)


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
