"""Session cookies behave as Flask's default does, with the serializer cached and no-cookie requests short-cut."""

from __future__ import annotations

from flask import Flask, session

from medusa_auth.sessions import CachedSerializerSessionInterface


def add_session_routes(app: Flask) -> None:
    @app.post("/test-session/<value>")
    def remember(value: str) -> dict[str, str]:
        session["value"] = value
        return {"stored": value}

    @app.get("/test-session")
    def recall() -> dict[str, str | None]:
        return {"value": session.get("value")}


def test_a_session_set_in_one_request_is_read_in_the_next(app: Flask):
    add_session_routes(app)
    client = app.test_client()
    assert isinstance(app.session_interface, CachedSerializerSessionInterface)
    client.post("/test-session/blue")
    assert client.get("/test-session").get_json()["value"] == "blue"


def test_no_cookie_and_a_forged_cookie_both_give_an_empty_session(app: Flask):
    add_session_routes(app)
    client = app.test_client()
    assert client.get("/test-session").get_json()["value"] is None
    client.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), "eyJ2YWx1ZSI6InJlZCJ9.forged.signature")
    assert client.get("/test-session").get_json()["value"] is None


def test_a_new_secret_key_builds_a_new_serializer(app: Flask):
    """Cookies signed with the old secret stop verifying once the secret changes (no stale serializer)."""
    add_session_routes(app)
    client = app.test_client()
    client.post("/test-session/green")
    app.secret_key = "another-secret-" + "y" * 32
    assert client.get("/test-session").get_json()["value"] is None
