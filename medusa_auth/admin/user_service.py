"""Reading users for the admin API."""

from __future__ import annotations

from sqlalchemy import func

from ..database import db
from ..errors import not_found
from ..models import User


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found(f"User with id: {user_id} was not found")
    return user


def list_users(offset: int, limit: int) -> tuple[list[User], int]:
    users = db.session.execute(db.select(User).order_by(User.created_at, User.id).offset(offset).limit(limit))
    count = db.session.execute(db.select(func.count()).select_from(User)).scalar_one()
    return list(users.scalars()), count
