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
