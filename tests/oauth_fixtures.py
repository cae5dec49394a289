"""Redirect providers for the tests: a real OpenID Connect provider, and a stand-in for GitHub's endpoints.

``oidc_provider`` runs panva's ``oidc-provider`` (npm, certified) under Node on 127.0.0.1
(``tests/interop/oidc_provider.mjs``) for the session; a test registers its own client through the
provider's dynamic registration endpoint and signs a person in through the provider's own login and
consent pages, over HTTP (``sign_in``) or in a browser. ``github`` is a small ``http.server`` playing
GitHub's three endpoints (authorize, token, and the ``/user`` API with ``/user/emails``): GitHub offers no
local server, and the issue allows a stand-in for it alone. Registered in conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import select
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from tests.live import stop_process

INTEROP = Path(__file__).resolve().parent / "interop"
NODE = shutil.which("node")
STARTUP_SECONDS = 30.0
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass
class OidcClient:
    """A client registered at the provider: what the service's ``X_CLIENT_ID``/``X_CLIENT_SECRET`` hold."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]


class OidcProvider:
    """The running provider: its issuer, client registration, accounts, and the test-only tampering switch."""

    def __init__(self, process: subprocess.Popen[bytes], issuer: str):
        self.process = process
        self.issuer = issuer

    def register_client(self, *redirect_uris: str) -> OidcClient:
        """RFC 7591 dynamic registration: a confidential web client with these exact redirect URIs."""
        response = requests.post(
            f"{self.issuer}/reg",
            json={"redirect_uris": list(redirect_uris), "token_endpoint_auth_method": "client_secret_basic"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return OidcClient(body["client_id"], body["client_secret"], list(redirect_uris))

    def set_account(self, login: str, **claims: Any) -> None:
        """The claims the provider gives the account whose login is ``login`` (its ``sub``)."""
        response = requests.post(f"{self.issuer}/__test/accounts/{login}", json=claims, timeout=10)
        assert response.status_code == 200, response.text

    def tamper_next_id_token(self, mode: str) -> None:
        """The next token response's id_token altered: see tests/interop/oidc_provider.mjs for the modes."""
        response = requests.post(f"{self.issuer}/__test/tamper", json={"mode": mode}, timeout=10)
        assert response.status_code == 200, response.text

    def settings(self, provider_id: str, client: OidcClient, callback_url: str | None = None) -> dict[str, str]:
        """The service's settings for this provider under ``provider_id`` (an OpenID Connect provider)."""
        prefix = provider_id.upper()
        return {
            f"{prefix}_ISSUER": self.issuer,
            f"{prefix}_CLIENT_ID": client.client_id,
            f"{prefix}_CLIENT_SECRET": client.client_secret,
            f"{prefix}_CALLBACK_URL": callback_url or client.redirect_uris[0],
        }

    def sign_in(self, authorize_url: str, login: str, *, abort: bool = False) -> str:
        """A person at the provider: sign in as ``login``, consent (or abort); the callback URL it sends them to."""
        browser = requests.Session()
        page = _follow(browser, browser.get(authorize_url, allow_redirects=False, timeout=10))
        assert isinstance(page, requests.Response), page
        if abort:
            return _follow_to_callback(browser, browser.get(urljoin(page.url, _abort_url(page)), allow_redirects=False))
        page = _follow(
            browser,
            browser.post(
                _action(page), data={"prompt": "login", "login": login, "password": "x"}, allow_redirects=False
            ),
        )
        if isinstance(page, str):
            return page  # the provider remembered consent
        return _follow_to_callback(
            browser, browser.post(_action(page), data={"prompt": "consent"}, allow_redirects=False)
        )


def _action(page: requests.Response) -> str:
    match = _FORM_ACTION.search(page.text)
    assert match, page.text[:500]
    return urljoin(page.url, match.group(1))


def _abort_url(page: requests.Response) -> str:
    match = re.search(r'href="([^"]*/abort)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _follow(browser: requests.Session, response: requests.Response) -> requests.Response | str:
    """Follow the provider's own redirects; a redirect off the provider is the callback, returned as its URL."""
    issuer = f"{urlsplit(response.url).scheme}://{urlsplit(response.url).netloc}"
    while response.is_redirect:
        target = urljoin(response.url, response.headers["Location"])
        if not target.startswith(issuer + "/"):
            return target
        response = browser.get(target, allow_redirects=False, timeout=10)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response


def _follow_to_callback(browser: requests.Session, response: requests.Response) -> str:
    landed = _follow(browser, response)
    assert isinstance(landed, str), landed.text[:500]
    return landed


def query_of(url: str) -> dict[str, str]:
    """The query of a callback URL, one value per name (what a storefront passes to sdk.auth.callback)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    if NODE is None or not (INTEROP / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the OpenID provider needs node and `npm ci --prefix tests/interop` (make node-deps)")
    process = subprocess.Popen(
        [NODE, "oidc_provider.mjs"],
        cwd=INTEROP,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
        line = process.stdout.readline() if ready else b""
        if not line:
            pytest.fail(f"oidc-provider did not start within {STARTUP_SECONDS} s (exit {process.poll()})")
        yield OidcProvider(process, json.loads(line)["issuer"])
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


# -- GitHub's stand-in ---------------------------------------------------------------------------


@dataclass
class GitHubUser:
    """An account at the stand-in: what ``GET /user`` and ``GET /user/emails`` answer."""

    id: int
    login: str
    name: str | None = None
    emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    user: GitHubUser


class GitHubStandIn:
    """GitHub's OAuth app endpoints as GitHub answers them (errors in a 200 body, form-encoded unless JSON is asked)."""

    def __init__(self) -> None:
        self.client_id = "Iv1." + secrets.token_hex(8)
        self.client_secret = secrets.token_hex(20)
        self.user = GitHubUser(id=583231, login="octocat")  # who approves at the next authorize
        self.grants: dict[str, _Grant] = {}
        self.tokens: dict[str, GitHubUser] = {}
        self.requests: list[tuple[str, str]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def settings(self, callback_url: str) -> dict[str, str]:
        return {
            "GITHUB_CLIENT_ID": self.client_id,
            "GITHUB_CLIENT_SECRET": self.client_secret,
            "GITHUB_CALLBACK_URL": callback_url,
            "GITHUB_AUTHORIZE_URL": f"{self.base_url}/login/oauth/authorize",
            "GITHUB_TOKEN_URL": f"{self.base_url}/login/oauth/access_token",
            "GITHUB_API_URL": f"{self.base_url}/api",
        }

    def sign_in(self, authorize_url: str, user: GitHubUser | None = None) -> str:
        """A person approves the app as ``user``: the callback URL GitHub sends them to."""
        if user is not None:
            self.user = user
        response = requests.get(authorize_url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- the endpoints ---------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != self.client_id or query.get("code_challenge_method") != "S256":
            return 400, {}, b"bad authorize request"
        code = secrets.token_hex(10)
        self.grants[code] = _Grant(query["client_id"], query["redirect_uri"], query["code_challenge"], self.user)
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return 302, {"Location": location}, b""

    def token(self, form: dict[str, str]) -> dict[str, str]:
        grant = self.grants.pop(form.get("code", ""), None)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or secret are wrong.",
            }
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.code_challenge:
            return {"error": "bad_verification_code", "error_description": "The code_verifier does not match."}
        access_token = "gho_" + secrets.token_hex(18)
        self.tokens[access_token] = grant.user
        return {"access_token": access_token, "token_type": "bearer", "scope": "read:user,user:email"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path, _, query = self.path.partition("?")
                stand_in.requests.append(("GET", path))
                if path == "/login/oauth/authorize":
                    self._send(*stand_in.authorize({k: v[0] for k, v in parse_qs(query).items()}))
                    return
                user = stand_in.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                if user is None:
                    self._json(401, {"message": "Bad credentials"})
                elif path == "/api/user":
                    self._json(200, {"id": user.id, "login": user.login, "name": user.name, "avatar_url": None})
                elif path == "/api/user/emails":
                    self._json(200, user.emails)
                else:
                    self._json(404, {"message": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802
                stand_in.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path != "/login/oauth/access_token":
                    self._json(404, {"message": "Not Found"})
                    return
                answer = stand_in.token(form)
                if "json" in self.headers.get("Accept", ""):
                    self._json(200, answer)
                else:  # GitHub's default answer is form-encoded
                    self._send(200, {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(answer).encode())

            def _json(self, status: int, body: Any) -> None:
                self._send(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    stand_in = GitHubStandIn()
    yield stand_in
    stand_in.stop()
