"""Invites (Medusa's User Module flow): routes, errors that say why, mail, CLI."""

from __future__ import annotations

import pytest

from medusa_auth import clock
from medusa_auth.database import db
from medusa_auth.extension import medusa_auth
from medusa_auth.models import AuthIdentity, Invite, User
from medusa_auth.tokens import TokenKind
from tests.helpers import PASSWORD, FakeClock
from tests.live import free_port
from tests.web_fixtures import html_part, link_in, text_part, token_of

BACKEND = "https://auth.example.com"
INVITEE = "new.person@example.com"


@pytest.fixture
def settings(settings, mailbox):
    return {**settings, **mailbox.settings(), "MEDUSA_BACKEND_URL": BACKEND}


@pytest.fixture
def admin(auth) -> dict[str, str]:
    return auth.bearer(auth.token())


def create(client, admin, email: str = INVITEE, **body):
    return client.post("/admin/invites", json={"email": email, **body}, headers=admin)


def invite_token(client, admin, email: str = INVITEE) -> str:
    response = create(client, admin, email)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["invite"]["token"])


def register(client, email: str = INVITEE) -> dict[str, str]:
    response = client.post("/auth/user/emailpass/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def accept(client, token: str, registration: dict[str, str], **body):
    return client.post(f"/admin/invites/accept?token={token}", json=body or None, headers=registration)


def counts(app) -> tuple[int, int]:
    """(users, identities linked to a user): what an accept writes."""
    with app.app_context():
        users = len(db.session.execute(db.select(User)).all())
        linked = sum(1 for i in db.session.execute(db.select(AuthIdentity)).scalars() if i.user_id)
        return users, linked


# -- the happy path --------------------------------------------------------------------------------


def test_create_returns_the_invite_with_its_token_and_mails_the_link(client, admin, mailbox):
    response = create(client, admin, "New.Person@Example.com", metadata={"role": "support"})
    assert response.status_code == 200
    body = response.get_json()
    invite = body["invite"]
    assert invite["id"].startswith("invite_") and invite["email"] == INVITEE
    assert invite["accepted"] is False and invite["metadata"] == {"role": "support"}
    assert invite["created_by"].startswith("user_") and invite["expires_at"].endswith("Z")
    assert body["email"] == {"sent": True, "detail": None}
    [message] = mailbox.wait_for(1)
    assert message["To"] == INVITEE
    link = link_in(message)
    assert link == f"{BACKEND}/app/invite?token={invite['token']}"
    assert link in html_part(message) and INVITEE in text_part(message)


def test_the_invite_token_carries_medusas_claims_and_the_configured_lifetime(app, client, admin):
    token = invite_token(client, admin)
    with app.app_context():
        claims = medusa_auth().invite_tokens.verify(token, {TokenKind.INVITE})
    assert set(claims) >= {"id", "email", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == 86400


@pytest.mark.settings(INVITE_VALID_DURATION="3600")
def test_invite_valid_duration_sets_the_lifetime(app, client, admin):
    token = invite_token(client, admin)
    with app.app_context():
        claims = medusa_auth().invite_tokens.verify(token, {TokenKind.INVITE})
    assert claims["exp"] - claims["iat"] == 3600


def test_accept_creates_the_user_and_links_the_registration_identity(app, client, admin, auth):
    token = invite_token(client, admin)
    response = accept(client, token, register(client), first_name="Ada", last_name="Lovelace")
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["email"] == INVITEE and user["first_name"] == "Ada" and user["last_name"] == "Lovelace"
    access = auth.login(INVITEE)  # now an access token, for the new user
    me = client.get("/admin/users/me", headers=auth.bearer(access))
    assert me.get_json()["user"]["id"] == user["id"]
    invite = client.get("/admin/invites", headers=admin).get_json()["invites"][0]
    assert invite["accepted"] is True and invite["accepted_at"]


def test_accept_without_a_body_is_fine(client, admin):
    assert accept(client, invite_token(client, admin), register(client)).status_code == 200


# -- each refusal says why, and writes nothing -----------------------------------------------------


def assert_refused(app, response, status: int, type_: str, words: str) -> None:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["type"] == type_
    assert words in response.get_json()["message"]


@pytest.mark.settings(INVITE_VALID_DURATION="600")
def test_an_expired_invite_is_refused(app, client, admin, frozen_clock: FakeClock):
    token = invite_token(client, admin)
    registration = register(client)
    before = counts(app)
    frozen_clock.move(600 + clock.LEEWAY_SECONDS + 1)
    assert_refused(app, accept(client, token, registration), 400, "invalid_data", "expired")
    assert counts(app) == before


def test_a_resent_invite_refuses_its_older_token(app, client, admin, mailbox):
    older = invite_token(client, admin)
    invite_id = client.get("/admin/invites", headers=admin).get_json()["invites"][0]["id"]
    resent = client.post(f"/admin/invites/{invite_id}/resend", headers=admin)
    assert resent.status_code == 200 and resent.get_json()["invite"]["token"] != older
    assert token_of(link_in(mailbox.wait_for(2)[-1])) == resent.get_json()["invite"]["token"]
    registration = register(client)
    before = counts(app)
    assert_refused(app, accept(client, older, registration), 400, "invalid_data", "replaced")
    assert counts(app) == before
    assert accept(client, resent.get_json()["invite"]["token"], registration).status_code == 200


def test_a_deleted_invite_is_refused(app, client, admin):
    token = invite_token(client, admin)
    invite_id = client.get("/admin/invites", headers=admin).get_json()["invites"][0]["id"]
    deleted = client.delete(f"/admin/invites/{invite_id}", headers=admin)
    assert deleted.get_json() == {"id": invite_id, "object": "invite", "deleted": True}
    before = counts(app)
    assert_refused(app, accept(client, token, register(client)), 404, "not_found", "withdrawn")
    assert counts(app) == before


def test_an_accepted_invite_is_refused_the_second_time(app, client, admin):
    token = invite_token(client, admin)
    registration = register(client)
    assert accept(client, token, registration).status_code == 200
    before = counts(app)
    assert_refused(app, accept(client, token, registration), 400, "not_allowed", "already accepted")
    assert counts(app) == before


def test_a_registration_for_another_email_is_refused(app, client, admin):
    token = invite_token(client, admin)
    before = counts(app)
    assert_refused(
        app, accept(client, token, register(client, "someone.else@example.com")), 400, "not_allowed", "different email"
    )
    assert counts(app) == before


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 9000])
def test_a_malformed_invite_token_is_refused(app, client, token):
    before = counts(app)
    response = accept(client, token, register(client))
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"
    assert counts(app) == before


def test_an_access_token_is_not_an_invite_token_nor_an_accept_bearer(app, client, admin, auth):
    access = admin["Authorization"].removeprefix("Bearer ")
    assert_refused(app, accept(client, access, register(client)), 400, "invalid_data", "not valid")
    token = invite_token(client, admin, "other@example.com")
    response = accept(client, token, admin)  # an access token as the bearer
    assert response.status_code == 401 and response.get_json()["type"] == "unauthorized"


def test_an_invite_token_is_never_a_bearer_token(client, admin):
    token = invite_token(client, admin)
    for path in ("/admin/users/me", "/admin/invites"):
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/auth/token/refresh", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_accept_refuses_a_missing_bearer_and_a_cookie_session(client, admin):
    token = invite_token(client, admin)
    assert client.post(f"/admin/invites/accept?token={token}").status_code == 401


# -- admin routes ---------------------------------------------------------------------------------


def test_inviting_an_existing_user_or_invitee_is_a_400(client, admin):
    assert create(client, admin, "admin@example.com").status_code == 400
    invite_token(client, admin)
    again = create(client, admin, INVITEE.upper())
    assert again.status_code == 400 and "already exists" in again.get_json()["message"]


@pytest.mark.parametrize(
    "body", [None, {}, {"email": "not-an-email"}, {"email": 5}, {"email": "a@example.com", "metadata": [1]}]
)
def test_bad_create_bodies_are_400(client, admin, body):
    response = client.post("/admin/invites", json=body, headers=admin)
    assert response.status_code == 400 and response.get_json()["type"] == "invalid_data"


def test_listing_pages_filters_and_never_shows_tokens(client, admin):
    for number in range(3):
        invite_token(client, admin, f"person{number}@example.com")
    page = client.get("/admin/invites?limit=2&offset=1", headers=admin).get_json()
    assert page["count"] == 3 and page["limit"] == 2 and page["offset"] == 1 and len(page["invites"]) == 2
    assert all("token" not in invite for invite in page["invites"])
    filtered = client.get("/admin/invites?email=PERSON2@example.com", headers=admin).get_json()
    assert filtered["count"] == 1 and filtered["invites"][0]["email"] == "person2@example.com"
    one = client.get(f"/admin/invites/{filtered['invites'][0]['id']}", headers=admin).get_json()["invite"]
    assert "token" not in one and one["email"] == "person2@example.com"
    assert client.get("/admin/invites?limit=0", headers=admin).status_code == 400


def test_unknown_ids_are_404(client, admin):
    for method, path in (
        ("GET", "/admin/invites/invite_x"),
        ("DELETE", "/admin/invites/invite_x"),
        ("POST", "/admin/invites/invite_x/resend"),
    ):
        response = client.open(path, method=method, headers=admin)
        assert response.status_code == 404 and response.get_json()["type"] == "not_found"


def test_resending_an_accepted_invite_is_refused(client, admin):
    token = invite_token(client, admin)
    assert accept(client, token, register(client)).status_code == 200
    invite_id = client.get("/admin/invites", headers=admin).get_json()["invites"][0]["id"]
    assert client.post(f"/admin/invites/{invite_id}/resend", headers=admin).status_code == 400


def test_the_database_keeps_only_a_hash_of_the_jti(app, client, admin):
    token = invite_token(client, admin)
    with app.app_context():
        stored = db.session.execute(db.select(Invite.jti_hash)).scalar_one()
    assert len(stored) == 64 and stored not in token


def test_a_failed_send_keeps_the_invite_says_so_and_resend_works(app_factory, auth, mailbox, settings):
    broken = app_factory(MAIL_PORT=str(free_port())).test_client()  # nothing listens there
    admin = auth.bearer(auth.token())
    response = broken.post("/admin/invites", json={"email": INVITEE}, headers=admin)
    assert response.status_code == 200
    assert response.get_json()["email"]["sent"] is False and "resend" in response.get_json()["email"]["detail"]
    invite_id = response.get_json()["invite"]["id"]
    working = app_factory().test_client()
    resent = working.post(f"/admin/invites/{invite_id}/resend", headers=admin)
    assert resent.get_json()["email"] == {"sent": True, "detail": None}
    assert token_of(link_in(mailbox.wait_for(1)[0])) == resent.get_json()["invite"]["token"]


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_create_prints_the_accept_link_and_list_shows_the_invite(app, runner, client):
    result = runner.invoke(args=["invites", "create", "--email", INVITEE])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{BACKEND}/app/invite?token=")
    assert accept(client, token_of(link), register(client)).status_code == 200
    listing = runner.invoke(args=["invites", "list"])
    assert listing.exit_code == 0 and INVITEE in listing.output and "accepted" in listing.output
    assert token_of(link) not in listing.output


def test_cli_create_refuses_a_duplicate_with_one_line(runner):
    assert runner.invoke(args=["invites", "create", "--email", INVITEE]).exit_code == 0
    again = runner.invoke(args=["invites", "create", "--email", INVITEE])
    assert again.exit_code != 0 and "already exists" in again.output


def test_cli_create_can_mail_the_link(runner, mailbox):
    result = runner.invoke(args=["invites", "create", "--email", INVITEE, "--send-email"])
    assert result.exit_code == 0, result.output
    assert link_in(mailbox.wait_for(1)[0]) == result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("kind", ["garbage", "access", "invite", "reset"])
def test_accept_takes_only_a_registration_token_as_bearer(app, client, admin, kind):
    token = invite_token(client, admin)
    with app.app_context():
        bearers = {
            "garbage": "a.b.c",
            "access": admin["Authorization"].removeprefix("Bearer "),
            "invite": token,
            "reset": medusa_auth().tokens.sign(
                TokenKind.RESET, {"entity_id": INVITEE, "actor_type": "user", "purpose": "reset"}, 900
            ),
        }
    before = counts(app)
    response = accept(client, token, {"Authorization": f"Bearer {bearers[kind]}"})
    assert response.status_code == 401 and response.get_json()["type"] == "unauthorized"
    assert counts(app) == before
