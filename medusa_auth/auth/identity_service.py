"""Emailpass identities: register, log in and refresh as any actor type, and create users with a password."""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError

from .. import clock, pending_steps, sessions, sign_in_sessions
from ..actors import USER, actor_id_of, actor_key, find_actor, linked_actors
from ..database import db
from ..errors import MFA_REQUIRED_MESSAGE, ApiError, invalid_data, unauthorized
from ..extension import medusa_auth
from ..mfa import factors
from ..models import AuthIdentity, PasswordReset, ProviderIdentity, SignInSession, User, normalize_email
from ..request_data import is_email
from ..security_log import security_event
from ..tokens import TokenKind
from . import throttle

PROVIDER = "emailpass"
MIN_PASSWORD_LENGTH = 8  # OWASP's floor for a new password
INVALID_CREDENTIALS = "Invalid email or password"
WRONG_CURRENT_PASSWORD = "current_password is not the current password"
IDENTITY_EXISTS = "Identity with email already exists"  # Medusa's words; its dashboard matches on them


def find_provider_identity(email: str) -> ProviderIdentity | None:
    return db.session.execute(
        db.select(ProviderIdentity).filter_by(provider=PROVIDER, entity_id=normalize_email(email))
    ).scalar_one_or_none()


def sign_in(
    identity: AuthIdentity,
    actor_type: str = USER,
    auth_provider: str = PROVIDER,
    user_metadata: dict[str, Any] | None = None,
    mfa_completed_at: str | None = None,
) -> str:
    """A new sign-in of ``identity`` as ``actor_type``: its sign-in session, and that session's first token.

    ``mfa_completed_at``: when this sign-in passed its second factor (for an identity with one, the sign-in
    starts only then: the challenge before it is no session).
    """
    session = sign_in_sessions.start(identity.id, actor_type, auth_provider)
    return token_for(identity, session, user_metadata, mfa_completed_at)


def token_for(
    identity: AuthIdentity,
    session: SignInSession,
    user_metadata: dict[str, Any] | None = None,
    mfa_completed_at: str | None = None,
) -> str:
    """Medusa's token for an auth identity in one of its sign-in sessions (whose actor type and provider it
    names), read from what the database holds now; it carries the session's ``sid`` and ``auth_time``, and
    ``mfa_completed_at`` (the one place a token gets it) as ``mfa_challenge_completed_at``."""
    return medusa_auth().tokens.issue_auth_token(
        identity.id,
        actor_id_of(identity, session.actor_type),
        user_metadata or {},
        identity.tokens_valid_from or 0,
        actor_type=session.actor_type,
        auth_provider=session.auth_provider,
        sign_in=sign_in_sessions.token_claims(session),
        mfa_enabled=factors.has_enabled_factor(identity.id),
        mfa_challenge_completed_at=mfa_completed_at,
    )


def current_identity(claims: dict[str, Any]) -> AuthIdentity:
    """The token's auth identity, if it still exists and its credentials have not changed since; 401 otherwise."""
    identity = db.session.get(AuthIdentity, claims.get("auth_identity_id"))
    if identity is None:
        raise unauthorized()
    if issued_before_change(identity, claims):
        security_event("token_refused", reason="issued before the credentials changed", auth_identity_id=identity.id)
        raise unauthorized()
    return identity


def issued_before_change(identity: AuthIdentity, claims: dict[str, Any]) -> bool:
    """Whether a token predates the identity's last credentials change (a token without ``iat`` does, once any)."""
    if identity.tokens_valid_from is None:
        return False
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        return True
    return issued_at < identity.tokens_valid_from


def end_earlier_access(identity: AuthIdentity) -> int:
    """The identity's credentials changed: its sign-in sessions (bearer tokens everywhere), earlier tokens,
    browser sessions and reset link end; the caller commits.

    ``iat`` has whole seconds, so the marker is the next second: every token minted up to and including
    the second of the change is refused, and ``token_for`` stamps tokens minted later in that second
    with the marker's second so that they are not.
    """
    identity.tokens_valid_from = max(identity.tokens_valid_from or 0, clock.now() + 1)
    db.session.execute(db.delete(PasswordReset).where(PasswordReset.auth_identity_id == identity.id))
    sign_in_sessions.end_all(identity.id, sign_in_sessions.CREDENTIALS_CHANGED)
    return sessions.end_all_for(identity.id, linked_actors(identity))


def replace_password(provider: ProviderIdentity, password_hash: str) -> int:
    """Set new credentials and end everything issued under the old ones (the caller commits); sessions ended."""
    provider.password_hash = password_hash
    return end_earlier_access(provider.auth_identity)


def check_credentials(email: str, password: str, actor_type: str = USER) -> ProviderIdentity:
    """The emailpass identity for the right email and password; one generic 401 for anything else, in equal time.

    An identity not (yet) linked to an actor of ``actor_type`` signs in all the same: its token is a
    registration token, with which it can create one (how an admin becomes a shopper with the same email).
    """
    throttle.check(email)  # charges the attempt; 429 before any password work once too many have failed
    passwords = medusa_auth().passwords
    provider = find_provider_identity(email)
    if provider is None or provider.password_hash is None:
        passwords.burn(password)
        _login_failed("unknown_identity")
    if not passwords.verify(provider.password_hash, password):
        _login_failed("wrong_password", auth_identity_id=provider.auth_identity_id)
    throttle.record_success(email)
    if passwords.needs_rehash(provider.password_hash):
        provider.password_hash = passwords.hash(password)
        db.session.commit()
    identity = provider.auth_identity
    security_event(
        "login_succeeded",
        auth_identity_id=identity.id,
        actor_type=actor_type,
        actor_id=actor_id_of(identity, actor_type) or "",
        client=throttle.client_address(),
    )
    return provider


def _login_failed(reason: str, **ids: str) -> NoReturn:
    """The attempt stays charged to the throttle's counters (throttle.check charged it)."""
    security_event("login_failed", reason=reason, client=throttle.client_address(), **ids)
    raise unauthorized(INVALID_CREDENTIALS)


def register(email: str, password: str, actor_type: str = USER) -> str:
    """A new emailpass identity and its registration token as ``actor_type`` (no actor yet, as in Medusa).

    An email that already has an identity is refused, whatever actors it has: its owner signs in as
    the other actor type instead (``authenticate``), which proves the password. Registering signs in:
    the registration token has a sign-in session like any other, so it can be signed out and refreshed.
    """
    throttle.check_registration()
    identity = create_identity(email, password)
    security_event("identity_registered", auth_identity_id=identity.id, actor_type=actor_type)
    return sign_in(identity, actor_type)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid_data(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def new_identity(email: str, password: str, actors: dict[str, str] | None = None) -> AuthIdentity:
    """An emailpass identity linked to ``actors`` (type -> id), added to the session, not yet committed."""
    if not is_email(email):
        raise invalid_data("email must be a valid email address")
    check_new_password(password)
    if find_provider_identity(email) is not None:
        raise unauthorized(IDENTITY_EXISTS)
    return add_identity(email, medusa_auth().passwords.hash(password), actors)


def add_identity(email: str, password_hash: str, actors: dict[str, str] | None = None) -> AuthIdentity:
    """An emailpass identity with a hashed password, added to the session (checks are the caller's)."""
    identity = AuthIdentity(app_metadata={actor_key(t): actor_id for t, actor_id in (actors or {}).items()})
    identity.provider_identities.append(
        ProviderIdentity(provider=PROVIDER, entity_id=normalize_email(email), password_hash=password_hash)
    )
    db.session.add(identity)
    return identity


def create_identity(email: str, password: str, actors: dict[str, str] | None = None) -> AuthIdentity:
    identity = new_identity(email, password, actors)
    try:
        db.session.commit()
    except IntegrityError:  # the same email registered concurrently
        db.session.rollback()
        raise unauthorized(IDENTITY_EXISTS) from None
    return identity


def change_password(auth_context: dict[str, Any], current_password: str, password: str) -> AuthIdentity:
    """A signed-in person's new password, given the current one; every earlier token and session of theirs ends.

    The current password is checked like a login (throttled, the attempt counted), so a stolen session
    cannot be turned into the account by guessing; a wrong one is 400, not 401, so no client takes it
    for a sign-out.
    """
    identity = current_identity(auth_context)
    provider = next((p for p in identity.provider_identities if p.provider == PROVIDER), None)
    if provider is None or provider.password_hash is None:
        raise invalid_data("This identity has no password (it signs in with another provider)")
    check_new_password(password)
    throttle.check(provider.entity_id)
    passwords = medusa_auth().passwords
    if not passwords.verify(provider.password_hash, current_password):
        security_event("password_change_refused", reason="wrong current password", auth_identity_id=identity.id)
        raise invalid_data(WRONG_CURRENT_PASSWORD)
    throttle.record_success(provider.entity_id)
    ended = replace_password(provider, passwords.hash(password))
    db.session.commit()
    security_event("password_changed", auth_identity_id=identity.id, sessions_ended=ended)
    return identity


def refresh(auth_context: dict[str, Any]) -> str:
    """A fresh token for the bearer's auth identity and actor type, re-read so a newly linked actor shows up.

    Only within the token's sign-in session while it is live: the new token keeps its ``sid`` and
    ``auth_time`` and expires by its absolute end, so no chain of refreshes outlives the sign-in.
    """
    identity = current_identity(auth_context)
    session = sign_in_sessions.live(auth_context)
    if not medusa_auth().actors.allows(session.actor_type, session.auth_provider):
        security_event("token_refused", reason="provider not allowed for the actor type", auth_identity_id=identity.id)
        raise unauthorized()
    completed_at = mfa_completed_at(auth_context)
    if completed_at is None and factors.has_enabled_factor(identity.id):
        # A token from before the factor was enabled is refused already (enabling ends them); this is the backstop.
        security_event("token_refused", reason="second factor not completed", auth_identity_id=identity.id)
        raise unauthorized(MFA_REQUIRED_MESSAGE)
    return token_for(identity, session, auth_context.get("user_metadata") or {}, completed_at)


def create_user(email: str, password: str, first_name: str | None = None, last_name: str | None = None) -> User:
    """A user with an emailpass identity linked to it (the CLI's `users create`)."""
    normalized = normalize_email(email)
    if db.session.execute(db.select(User).filter_by(email=normalized)).scalar_one_or_none() is not None:
        raise ApiError(422, "duplicate_error", f"User with email: {normalized}, already exists.")
    user = User(email=normalized, first_name=first_name, last_name=last_name)
    db.session.add(user)
    db.session.flush()
    try:
        create_identity(email, password, {USER: user.id})
    except ApiError:
        db.session.rollback()  # the flushed user holds a write lock (SQLite) until the transaction ends
        raise
    security_event("user_created", user_id=user.id)
    return user


def start_session_for(claims: dict[str, Any]) -> None:
    """A browser session for the actor a token names, if that actor still exists and is still the identity's,
    belonging to the token's live sign-in session (signing the browser out signs the token out too)."""
    identity = current_identity(claims)
    session = sign_in_sessions.live(claims)
    actor_type, actor_id = claims["actor_type"], claims["actor_id"]
    if actor_id and (actor_id_of(identity, actor_type) != actor_id or find_actor(actor_type, actor_id) is None):
        raise unauthorized()
    completed_at = mfa_completed_at(claims)
    sessions.start(actor_type, actor_id, identity.id, session.auth_provider, session, completed_at)


def await_step_in_browser(kind: TokenKind, claims: dict[str, Any]) -> None:
    """A sign-in waiting for a step (its challenge or verification token) is kept in this browser, whose earlier
    session ends, if the identity still exists and its credentials have not changed since."""
    identity = current_identity(claims)
    sessions.await_step()
    db.session.commit()
    pending_steps.remember_token(kind, claims)
    security_event("pending_step_kept", step=kind.value, auth_identity_id=identity.id)


def sign_in_again(
    identity: AuthIdentity, claims: dict[str, Any], by_cookie: bool, completed_at: str | None
) -> str | None:
    """The person changed their own credentials (a password, a second factor), which ended every sign-in of
    theirs, this one too; they keep going in a new one as the same actor: a browser gets a new session
    (None), a bearer the new sign-in's token. ``completed_at``: the second factor this request proved,
    or the one the ended sign-in had."""
    actor_type, provider = str(claims["actor_type"]), claims.get("auth_provider")
    provider = provider if isinstance(provider, str) else PROVIDER
    if by_cookie:
        sessions.start(actor_type, str(claims["actor_id"]), identity.id, provider, mfa_completed_at=completed_at)
        return None
    return sign_in(identity, actor_type, provider, claims.get("user_metadata") or {}, completed_at)


def mfa_completed_at(claims: dict[str, Any]) -> str | None:
    """When the credential's sign-in passed its second factor (``mfa_challenge_completed_at``), or None."""
    completed_at = claims.get("mfa_challenge_completed_at")
    return completed_at if isinstance(completed_at, str) else None
