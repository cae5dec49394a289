"""/admin/users: me, list, one."""

from __future__ import annotations

import pytest


def test_me_returns_the_signed_in_user(auth, client):
    token = auth.token("me@example.com")
    response = client.get("/admin/users/me", headers=auth.bearer(token))
    assert response.status_code == 200
    user = response.get_json()["user"]
    assert user["email"] == "me@example.com"
    assert user["id"].startswith("user_")
    assert set(user) >= {"id", "email", "first_name", "last_name", "avatar_url", "metadata", "created_at"}
    assert response.headers["Cache-Control"] == "no-store"


def test_users_are_listed_in_pages(auth, client):
    token = auth.token("a@example.com")
    for name in "bcd":
        auth.create_user(f"{name}@example.com")
    first = client.get("/admin/users?limit=3", headers=auth.bearer(token)).get_json()
    second = client.get("/admin/users?limit=3&offset=3", headers=auth.bearer(token)).get_json()
    assert first["count"] == second["count"] == 4
    assert (first["offset"], first["limit"], second["offset"]) == (0, 3, 3)
    emails = [u["email"] for u in first["users"] + second["users"]]
    assert emails == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1", "limit=100000", "offset=1e3"])
def test_bad_paging_gets_invalid_data(auth, client, query):
    response = client.get(f"/admin/users?{query}", headers=auth.bearer(auth.token()))
    assert response.status_code == 400
    assert response.get_json()["type"] == "invalid_data"


def test_one_user_by_id(auth, client):
    token = auth.token()
    other_id = auth.create_user("other@example.com")
    response = client.get(f"/admin/users/{other_id}", headers=auth.bearer(token))
    assert response.get_json()["user"]["email"] == "other@example.com"


def test_an_unknown_user_is_not_found(auth, client):
    response = client.get("/admin/users/user_missing", headers=auth.bearer(auth.token()))
    assert response.status_code == 404
    assert response.get_json() == {"type": "not_found", "message": "User with id: user_missing was not found"}


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/me", "/admin/users/user_x", "/admin/nothing-here"])
def test_every_admin_path_needs_a_token(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json() == {"type": "unauthorized", "message": "Invalid auth token provided"}


def test_unknown_routes_and_methods_answer_in_json(auth, client):
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.get_json()["type"] == "not_found"
    wrong_method = client.delete("/auth/user/emailpass")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["type"] == "not_allowed"
    assert "POST" in wrong_method.headers["Allow"]


def test_users_filtered_by_email_case_insensitively(auth, client):
    token = auth.token("a@example.com")
    auth.create_user("b@example.com")
    found = client.get("/admin/users?email=B@Example.com", headers=auth.bearer(token)).get_json()
    assert [u["email"] for u in found["users"]] == ["b@example.com"] and found["count"] == 1
    none = client.get("/admin/users?email=nobody@example.com", headers=auth.bearer(token)).get_json()
    assert none["users"] == [] and none["count"] == 0


def test_after_pages_by_keyset_like_offset_does(auth, client):
    token = auth.token("a@example.com")
    for name in "bcde":
        auth.create_user(f"{name}@example.com")
    by_offset = client.get("/admin/users?limit=2&offset=2", headers=auth.bearer(token)).get_json()
    second = client.get("/admin/users?limit=2", headers=auth.bearer(token)).get_json()["users"][-1]["id"]
    by_keyset = client.get(f"/admin/users?limit=2&after={second}", headers=auth.bearer(token)).get_json()
    assert (
        [u["email"] for u in by_keyset["users"]]
        == [u["email"] for u in by_offset["users"]]
        == [
            "c@example.com",
            "d@example.com",
        ]
    )
    assert by_keyset["count"] == 5  # the total, as with offset (Medusa's meaning of count)
    last = client.get(f"/admin/users?after={by_keyset['users'][-1]['id']}", headers=auth.bearer(token)).get_json()
    assert [u["email"] for u in last["users"]] == ["e@example.com"]


@pytest.mark.parametrize("query", ["after=user_missing", "after=" + "x" * 65, "email=" + "x" * 321, "after="])
def test_a_bad_after_or_email_is_refused(auth, client, query):
    response = client.get(f"/admin/users?{query}", headers=auth.bearer(auth.token()))
    assert response.status_code in (400, 404)
    expected = 404 if query == "after=user_missing" else 400
    assert response.status_code == expected, response.get_json()


def test_the_total_comes_from_the_count_the_database_keeps(app, auth, client):
    """Triggers (migration 0007) keep table_row_count exact on insert and delete; the list reads it, not count(*)."""
    from sqlalchemy import event, func

    from medusa_auth.database import db
    from medusa_auth.models import TableRowCount, User

    def kept() -> int:
        return db.session.execute(db.select(TableRowCount.row_count).filter_by(table_name="user")).scalar_one()

    with app.app_context():  # a test before this one may have emptied the table (the suite's cleanup)
        db.session.merge(TableRowCount(table_name="user", row_count=db.session.query(func.count(User.id)).scalar()))
        db.session.commit()
    token = auth.token("a@example.com")
    doomed = auth.create_user("b@example.com")
    auth.create_user("c@example.com")
    with app.app_context():
        assert kept() == 3
        db.session.execute(db.delete(User).where(User.id == doomed))
        db.session.commit()
        assert kept() == 2
        engine = db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        body = client.get("/admin/users", headers=auth.bearer(token)).get_json()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert body["count"] == 2 and len(body["users"]) == 2
    assert not [s for s in statements if "count(" in s], statements
