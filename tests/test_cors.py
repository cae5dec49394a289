"""CORS from ADMIN_CORS / AUTH_CORS: credentials for the listed origins only, none by default."""

from __future__ import annotations

import pytest

from medusa_auth import create_app
from medusa_auth.settings import ConfigError

ADMIN = "https://admin.example.com"
STORE = "https://store.example.com"


def preflight(client, path: str, origin: str, method: str = "POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cors_headers_by_default(client):
    response = preflight(client, "/admin/users/me", ADMIN, "GET")
    assert response.status_code == 200  # the guard lets Flask's own OPTIONS answer through
    assert "Access-Control-Allow-Origin" not in response.headers
    get = client.get("/health", headers={"Origin": ADMIN})
    assert "Access-Control-Allow-Origin" not in get.headers


@pytest.mark.settings(ADMIN_CORS=f"{ADMIN}, http://localhost:7001", AUTH_CORS=STORE)
def test_a_listed_origin_gets_credentials_on_its_area_only(client):
    response = preflight(client, "/admin/invites", ADMIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ADMIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in response.headers.get("Vary", "")
    assert (
        preflight(client, "/admin/users/me", "http://localhost:7001", "GET").headers["Access-Control-Allow-Origin"]
        == "http://localhost:7001"
    )
    # The storefront's origin may call /auth, not /admin; the dashboard's not /auth.
    assert "Access-Control-Allow-Origin" not in preflight(client, "/admin/invites", STORE).headers
    assert preflight(client, "/auth/session", STORE).headers["Access-Control-Allow-Origin"] == STORE
    assert "Access-Control-Allow-Origin" not in preflight(client, "/auth/session", ADMIN).headers


@pytest.mark.settings(ADMIN_CORS=ADMIN)
def test_an_unlisted_origin_gets_no_cors_headers(client):
    for origin in (
        "https://evil.example",
        "https://admin.example.com.evil.example",
        "null",
        "http://admin.example.com",
    ):
        response = preflight(client, "/admin/invites", origin)
        assert "Access-Control-Allow-Origin" not in response.headers, origin
        assert "Access-Control-Allow-Credentials" not in response.headers, origin


@pytest.mark.settings(ADMIN_CORS=ADMIN)
def test_actual_requests_carry_the_headers_and_still_need_a_token(auth, client):
    refused = client.get("/admin/users/me", headers={"Origin": ADMIN})
    assert refused.status_code == 401
    token = auth.token()
    allowed = client.get("/admin/users/me", headers={"Origin": ADMIN, **auth.bearer(token)})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ADMIN


def test_a_preflight_to_an_unknown_admin_path_is_still_refused(client):
    assert preflight(client, "/admin/nothing-here", ADMIN).status_code == 401


@pytest.mark.parametrize("value", ["*", "admin.example.com", "https://admin.example.com/path", "ftp://x.example"])
def test_a_wildcard_or_non_origin_stops_startup(settings, value):
    with pytest.raises(ConfigError, match="ADMIN_CORS"):
        create_app({**settings, "ADMIN_CORS": value})
