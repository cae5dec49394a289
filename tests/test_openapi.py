"""GET /openapi.json: the document matches the app's routes, and schemathesis finds nothing against the live app."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from medusa_auth.openapi import document
from medusa_auth.request_data import (
    EMAIL_PATTERN,
    EMAIL_REFUSED_PATTERNS,
    MAX_EMAIL_LENGTH,
    RESOURCE_ID_PATTERN,
    is_email,
)
from tests.input_corpus import BAD_EMAILS, GOOD_EMAILS
from tests.live import BIN, ROOT, free_port, live_server

# Flask adds HEAD and OPTIONS to every rule; the document describes what the views implement.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


# Static files (Flask's own route and any blueprint's) are not API operations.
def is_static(endpoint: str) -> bool:
    return endpoint == "static" or endpoint.endswith(".static")


# The web blueprint's /app pages are HTML forms for people, not API operations; schemathesis would only fuzz CSRF.
def is_web_page(endpoint: str) -> bool:
    return endpoint.startswith("web.")


# Operations outside /admin and /store/customers that take a bearer token: a token for a cookie session, a reset token.
BEARER_AUTH_OPERATIONS = {
    ("POST", "/auth/token/refresh"),
    ("POST", "/auth/session"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/{actor_type}/{provider}/update"),
    ("POST", "/auth/{provider}/user"),
    ("POST", "/auth/passkeys/options"),
    ("POST", "/auth/passkeys"),
    ("GET", "/auth/passkeys"),
    ("DELETE", "/auth/passkeys/{passkey_id}"),
}
GUARDED_PREFIXES = ("/admin", "/store/customers", "/auth/mfa", "/auth/verification")

SCHEMATHESIS_EXAMPLES = 100  # per operation and phase; the run below takes about half a minute
SCHEMATHESIS_SEED = 8725
SCHEMATHESIS_TIMEOUT = 480
# The run is bounded by SCHEMATHESIS_TIMEOUT; pytest-timeout's 300 s default would cut it first under load.
SCHEMATHESIS_TEST_TIMEOUT = SCHEMATHESIS_TIMEOUT + 120
EMAIL = "fuzz-admin@example.com"
CUSTOMER_EMAIL = "fuzz-shopper@example.com"
PASSWORD = "correct horse battery staple"


def app_operations(app: Flask) -> set[tuple[str, str]]:
    """(method, OpenAPI path) for every route the app serves, ``<user_id>`` written ``{user_id}``."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if is_static(rule.endpoint) or is_web_page(rule.endpoint):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        operations |= {(method, path) for method in (rule.methods or set()) - IMPLICIT_METHODS}
    return operations


def documented_operations(spec: dict) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m in methods}


def test_the_document_is_openapi_3_1():
    spec = json.loads(document())
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_every_route_is_documented_and_every_documented_operation_is_a_route(app: Flask):
    """Adding a route without documenting it (or the reverse) fails here: the two cannot drift."""
    served, documented = app_operations(app), documented_operations(json.loads(document()))
    assert served - documented == set(), "routes missing from medusa_auth/openapi.json"
    assert documented - served == set(), "operations in medusa_auth/openapi.json that the app does not serve"


def test_the_comparison_notices_a_new_route(app: Flask):
    app.add_url_rule("/admin/undocumented", "undocumented", lambda: {}, methods=["DELETE"])
    assert ("DELETE", "/admin/undocumented") in app_operations(app) - documented_operations(json.loads(document()))


def test_protected_operations_declare_bearer_auth_and_the_401(app: Flask):
    spec = json.loads(document())
    for method, path in documented_operations(spec):
        operation = spec["paths"][path][method.lower()]
        protected = path.startswith(GUARDED_PREFIXES) or (method, path) in BEARER_AUTH_OPERATIONS
        # A secret API key (HTTP Basic) opens every /admin operation but the invite acceptance.
        machines_too = path.startswith("/admin") and path != "/admin/invites/accept"
        expected = [{"bearerAuth": []}, {"basicAuth": []}] if machines_too else [{"bearerAuth": []}]
        assert (operation.get("security") == expected) == protected, (method, path)
        if protected:
            assert operation["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}


def email_schema() -> dict[str, Any]:
    return dict(json.loads(document())["components"]["schemas"]["Email"])


def test_the_email_schema_states_the_servers_rule():
    schema = email_schema()
    assert schema["pattern"] == EMAIL_PATTERN
    assert [refused["pattern"] for refused in schema["not"]["anyOf"]] == list(EMAIL_REFUSED_PATTERNS)
    assert schema["maxLength"] == MAX_EMAIL_LENGTH


def test_every_email_in_a_body_or_query_is_the_email_schema():
    spec = json.loads(document())
    schemas, ref = spec["components"]["schemas"], "#/components/schemas/Email"
    for schema, field in (("Credentials", "email"), ("NewCredentials", "email"), ("NewInvite", "email")):
        assert schemas[schema]["properties"][field]["$ref"] == ref, schema
    assert schemas["ResetRequest"]["properties"]["identifier"]["$ref"] == ref
    [email_param] = [p for p in spec["paths"]["/admin/invites"]["get"]["parameters"] if p["name"] == "email"]
    assert email_param["schema"]["$ref"] == ref


def path_parameters(spec: dict) -> list[dict]:
    """Every path parameter of every operation, ``$ref``s to components/parameters resolved."""
    parameters = [p for item in spec["paths"].values() for op in item.values() for p in op.get("parameters", [])]
    resolved = [spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in parameters]
    return [p for p in resolved if p["in"] == "path"]


def test_every_id_in_a_path_has_the_servers_id_pattern():
    spec = json.loads(document())
    patterns = [p["schema"]["pattern"] for p in path_parameters(spec) if p["name"].endswith("_id")]
    assert len(patterns) == 18 and set(patterns) == {RESOURCE_ID_PATTERN}


def test_actor_types_and_providers_in_paths_are_the_default_configuration():
    """Schemathesis fuzzes the pairs that exist by default; any other pair is the documented 401."""
    spec = json.loads(document())
    names = {p["name"]: p["schema"] for p in path_parameters(spec) if not p["name"].endswith("_id")}
    assert names == {
        "actor_type": {"type": "string", "enum": ["user", "customer"]},
        "provider": {"type": "string", "enum": ["emailpass"]},
    }


# The validator schemathesis itself judges with (jsonschema-rs, ECMA-262 regular expressions): what it calls
# a valid email, the server takes, and the reverse, so positive and negative fuzzing both mean something.
EMAIL_VALIDATOR = jsonschema_rs.Draft202012Validator(email_schema())


@pytest.mark.parametrize("email", [e for _, e in BAD_EMAILS] + GOOD_EMAILS)
def test_the_email_schema_and_the_server_agree_on_the_corpus(email: str):
    assert EMAIL_VALIDATOR.is_valid(email) == is_email(email)


@hypothesis_settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.from_regex(EMAIL_PATTERN, fullmatch=True), st.text(), st.text(alphabet="ab@.-=?\n")))
def test_the_email_schema_and_the_server_agree_on_generated_strings(email: str):
    assert EMAIL_VALIDATOR.is_valid(email) == is_email(email)


def test_openapi_json_is_served_with_an_etag(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == document()
    assert "max-age=300" in response.headers["Cache-Control"]
    again = client.get("/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def run_schemathesis(server, token: str, cwd: Path, *selection: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Every check schemathesis has, every phase, with ``token`` as bearer; the result and how many cases it made."""
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(ROOT / "tests" / "schemathesis.toml"),
            "run",
            f"{server.base_url}/openapi.json",
            *selection,
            "--checks",
            "all",
            "--max-examples",
            str(SCHEMATHESIS_EXAMPLES),
            "--seed",
            str(SCHEMATHESIS_SEED),
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
        ],
        cwd=cwd,  # schemathesis keeps a crash cache in its working directory
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated is not None, result.stdout[-2000:]
    print(f"schemathesis: {generated.group(1)} test cases generated, {generated.group(2)} passed")
    return result, int(generated.group(1))


@pytest.mark.slow
@pytest.mark.timeout(SCHEMATHESIS_TEST_TIMEOUT)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path):
    """Every operation, against gunicorn with a user's bearer token (the admin routes open, the store's refuse it)."""
    port = free_port()  # passkeys need a domain (localhost) for their relying party
    passkeys = {"MEDUSA_BACKEND_URL": f"http://localhost:{port}", "AUTH_METHODS_PER_ACTOR": "user=emailpass,passkey"}
    with live_server(tmp_path / "live", user=(EMAIL, PASSWORD), extra_env=passkeys, port=port) as server:
        _, generated = run_schemathesis(server, server.login(EMAIL, PASSWORD), tmp_path)
        server_log = server.stderr()
    assert generated >= 500
    assert "Traceback" not in server_log


@pytest.mark.slow
@pytest.mark.timeout(SCHEMATHESIS_TEST_TIMEOUT)
def test_schemathesis_on_the_store_routes_with_a_customers_token(tmp_path: Path):
    """The store operations again, with a customer's token, so that they open and their bodies are fuzzed."""
    create = ("customers", "create", "--email", CUSTOMER_EMAIL, "--password", PASSWORD)
    with live_server(tmp_path / "live", commands=[create]) as server:
        login = server.post("/auth/customer/emailpass", json_body={"email": CUSTOMER_EMAIL, "password": PASSWORD})
        assert login.status == 200, login.body
        _, generated = run_schemathesis(server, login.json()["token"], tmp_path, "--include-tag", "store")
        server_log = server.stderr()
    assert generated >= 100
    assert "Traceback" not in server_log
