"""The pages: sign in, account, sign out, password reset, invite."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from .. import pending_steps, sessions
from ..actors import USER
from ..admin import invite_service
from ..auth import identity_service, mfa_service, passkeys, redirect_sign_in, reset
from ..database import db
from ..errors import ApiError
from ..extension import medusa_auth
from ..mfa import factors
from ..models import AuthIdentity, digest
from ..providers.passkey import PROVIDER as PASSKEY
from ..request_data import path_id
from ..security_log import security_event
from . import two_step
from .forms import (
    ChangePasswordForm,
    CodeForm,
    EmailForm,
    EnrolForm,
    InviteForm,
    LoginForm,
    NewPasswordForm,
    PasskeyAnswerForm,
    SignOutForm,
)
from .navigation import HOME, safe_next

bp = Blueprint("web", __name__, url_prefix="/app", static_folder="static", static_url_path="/static")

_PENDING_SIGN_IN = "redirect_sign_in"  # in Flask's cookie session: the started sign-in's state hash and next page


@bp.before_request
def check_csrf() -> None:
    """Every state-changing request to a page needs the form's CSRF token (fails closed).

    Flask-WTF's HTTPS Referer check is not used: our pages send no Referer (Referrer-Policy:
    no-referrer keeps tokens in URLs private), so Fetch Metadata stands in for it. Only the pages
    pay for this check; the JSON API takes bearer tokens or same-origin cookies (guard.py).
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        raise CSRFError("The form was sent from another site.")
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as error:
        raise CSRFError(error.args[0]) from None


@bp.errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> tuple[str, int]:
    """A missing or stale CSRF token: a page that says what to do, not a JSON body."""
    return _message(
        "Please try again",
        "The form had expired or did not come from this site, so nothing was changed. Reload the page and try again.",
        link=(request.full_path.rstrip("?"), "Reload the page"),
        status=400,
    )


@bp.get("/")
def account() -> Any:
    """Who you are, your passkeys, and a button to sign out."""
    user = sessions.signed_in_user()
    if user is None:
        return redirect(url_for("web.login", next=HOME))
    row = sessions.current()
    assert row is not None  # signed_in_user found it
    enabled = factors.has_enabled_factor(row.auth_identity_id)
    keys = passkeys.list_for(_session_account().identity) if medusa_auth().passkeys.enabled else None
    return render_template(
        "web/account.html",
        user=user,
        form=SignOutForm(),
        two_step_enabled=enabled,
        two_step_form=CodeForm(),
        passkeys=keys,
    )


@bp.post("/passkeys/<passkey_id>/delete")
def delete_passkey(passkey_id: str) -> Any:
    """Remove one of your passkeys (a form: no JavaScript needed); a stale sign-in is told to sign in again."""
    if sessions.signed_in_user() is None:
        return redirect(url_for("web.login", next=HOME))
    try:
        passkeys.delete(_session_account(), path_id(passkey_id, "Passkey"))
    except ApiError as refused:
        flash(f"The passkey was not removed: {refused.message}.")
    else:
        flash("The passkey was removed.")
    return redirect(url_for("web.account"))


def _session_account() -> passkeys.Account:
    """The signed-in browser's account; a live session outlived every credentials change, so no token check."""
    row = sessions.current()
    assert row is not None  # signed_in_user() found it
    identity = db.session.get(AuthIdentity, row.auth_identity_id)
    assert identity is not None  # its sessions go with it (ON DELETE CASCADE)
    return passkeys.Account(identity, row.actor_type, passkeys.signed_in_at(sessions.auth_context(row)))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Email and password in, a session cookie out; ``next`` only to local paths."""
    next_path = safe_next(request.args.get("next"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            provider = identity_service.check_credentials(form.email.data or "", form.password.data or "")
        except ApiError as refused:
            error = refused.message
        else:
            user_id = provider.auth_identity.user_id
            if user_id is None:
                error = "This account has no user yet: open your invite link to finish setting it up."
            else:
                return _signed_in(provider.auth_identity, user_id, identity_service.PROVIDER, next_path)
    status = 401 if error else 400 if form.errors else 200
    providers = [(client.id, client.settings.display_name) for client in redirect_sign_in.redirect_providers_for(USER)]
    with_passkey = medusa_auth().actors.allows(USER, PASSKEY)
    page = render_template(
        "web/login.html", form=form, error=error, next=next_path, providers=providers, passkeys=with_passkey
    )
    return page, status


@bp.get("/login/<provider>")
def provider_sign_in(provider: str) -> Any:
    """'Continue with …': off to the provider, this browser bound to the sign-in it starts."""
    next_path = safe_next(request.args.get("next"))
    client = next((c for c in redirect_sign_in.redirect_providers_for(USER) if c.id == provider), None)
    if client is None:
        return _message("Unknown sign-in provider", "This site does not sign in with that provider.", status=404)
    try:
        authorization = redirect_sign_in.begin(client, USER, _provider_callback_url(provider))
    except ApiError as refused:
        return _message("Sign-in is unavailable", refused.message, link=_back_to_sign_in(), status=refused.status)
    # Only the browser that started a sign-in may finish it: a link carrying someone else's code and
    # state must not sign this browser in as them (login CSRF).
    flask_session[_PENDING_SIGN_IN] = {"state": digest(authorization.state), "next": next_path}
    return redirect(authorization.url, 303)


@bp.get("/login/<provider>/callback")
def provider_callback(provider: str) -> Any:
    """Back from the provider: signed in (the admin linked or created on a first sign-in), or told why not."""
    started = flask_session.pop(_PENDING_SIGN_IN, None)
    state = request.args.get("state", "")
    if not isinstance(started, dict) or not hmac.compare_digest(str(started.get("state")), digest(state)):
        security_event("redirect_sign_in_refused", reason="not started in this browser", provider=provider)
        return _message(
            "This sign-in did not start here",
            "Start again from the sign-in page of this browser.",
            link=_back_to_sign_in(),
            status=400,
            alert=True,
        )
    try:
        signed_in = redirect_sign_in.finish(USER, provider, request.args)
        user = redirect_sign_in.user_for(signed_in.identity, provider)
    except ApiError as refused:
        return _message(
            "You are not signed in", f"{refused.message}.", link=_back_to_sign_in(), status=refused.status, alert=True
        )
    return _signed_in(signed_in.identity, user.id, provider, safe_next(started.get("next")))


def _signed_in(identity: AuthIdentity, user_id: str, provider: str, next_path: str) -> Any:
    """The first factor is proved: a session, or, for an identity with a second factor, the page that asks for it."""
    if not factors.has_enabled_factor(identity.id):
        sessions.start(USER, user_id, identity.id, provider)
        return redirect(next_path)
    challenge_id = mfa_service.start_page_challenge(identity, provider)
    pending_steps.remember_challenge(challenge_id, identity, provider, next_path)
    return redirect(url_for("web.sign_in_code"))


@bp.route("/login/code", methods=["GET", "POST"])
def sign_in_code() -> Any:
    """The second step of signing in: the code from the authenticator app, a recovery code, or a passkey (the
    page's script sends the browser's answer to the options below; without a script the code form works alone)."""
    pending = two_step.pending_challenge()
    if pending is None:
        return redirect(url_for("web.login"))
    form, passkey_form = CodeForm(), PasskeyAnswerForm()
    error, status = None, 200
    answer = _challenge_answer(form, passkey_form)
    if answer is not None:
        try:
            identity, completed_at = mfa_service.pass_challenge(pending.claims(), pending.step, *answer)
        except ApiError as refused:
            error, status = refused.message, refused.status
            if refused.message == mfa_service.CHALLENGE_SPENT:
                two_step.forget_challenge()
                return _message("Sign in again", f"{refused.message}.", link=_back_to_sign_in(), status=401)
        else:
            two_step.forget_challenge()
            user_id = identity.user_id or ""
            sessions.start(USER, user_id, identity.id, pending.auth_provider, mfa_completed_at=completed_at)
            return redirect(pending.next_path)
    if form.errors or passkey_form.errors:
        error, status = error or next(iter(passkey_form.credential.errors), None), 400
    with_passkey = mfa_service.WEBAUTHN in mfa_service.methods_for(pending.auth_identity_id)
    page = render_template("web/mfa_code.html", form=form, error=error, passkey=with_passkey, passkey_form=passkey_form)
    return page, status


def _challenge_answer(form: CodeForm, passkey_form: PasskeyAnswerForm) -> tuple[str, str] | None:
    """(method, code) from the page: a passkey's answer, or a code as typed; None before a valid one is sent."""
    if "credential" in request.form:
        return (mfa_service.WEBAUTHN, passkey_form.credential.data or "") if passkey_form.validate_on_submit() else None
    if not form.validate_on_submit():
        return None
    entered = (form.code.data or "").strip()
    return two_step.method_of(entered), entered


@bp.post("/login/code/passkey-options")
def sign_in_code_passkey_options() -> dict[str, Any]:
    """The second step's WebAuthn options (JSON, for the page's script): the browser's challenge, from Flask's signed
    cookie, answered with one of the identity's own passkeys, as the API's ``/auth/mfa/challenges/{id}/options``."""
    pending = two_step.pending_challenge()
    if pending is None:
        raise ApiError(401, "unauthorized", mfa_service.CHALLENGE_SPENT)
    return mfa_service.passkey_options(pending.claims(), pending.step)


@bp.post("/two-step")
def two_step_start() -> Any:
    """Turn on two-step sign-in: a new secret as a QR code (drawn here, no outside service) and a code field."""
    claims = _signed_in_claims()
    if claims is None:
        return redirect(url_for("web.login", next=url_for("web.account")))
    started = mfa_service.start_factor(claims, {"provider": factors.TOTP})
    form = EnrolForm(factor_id=started["mfa_factor"]["id"])
    return _enrol_page(form, started["secret"], started["otpauth_url"])


@bp.post("/two-step/verify")
def two_step_verify() -> Any:
    """The first code turns it on: every other session ends, this one starts afresh, recovery codes shown once."""
    claims = _signed_in_claims()
    if claims is None:
        return redirect(url_for("web.login", next=url_for("web.account")))
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = mfa_service.enable_from_page(claims, form.factor_id.data or "", form.code.data)
        except ApiError as refused:
            return _account_message("Two-step sign-in is not on", f"{refused.message}. Start again.", refused)
        return render_template("web/recovery_codes.html", codes=codes)
    return redirect(url_for("web.account"))


@bp.post("/two-step/disable")
def two_step_disable() -> Any:
    """Turn two-step sign-in off with a current code or a recovery code; every session ends, this one starts afresh."""
    claims = _signed_in_claims()
    if claims is None:
        return redirect(url_for("web.login", next=url_for("web.account")))
    form = CodeForm()
    if form.validate_on_submit():
        entered = (form.code.data or "").strip()
        body = {"method": two_step.method_of(entered), "code": entered}
        try:
            for factor in mfa_service.list_factors(claims):
                if factor["status"] == factors.ENABLED:
                    mfa_service.disable_factor(claims, factor["id"], body, by_cookie=True)
        except ApiError as refused:
            return _account_message("Two-step sign-in is still on", f"{refused.message}.", refused)
        flash("Two-step sign-in is off.")
    return redirect(url_for("web.account"))


def _account_message(heading: str, message: str, refused: ApiError) -> tuple[str, int]:
    return _message(
        heading, message, link=(url_for("web.account"), "Back to your account"), status=refused.status, alert=True
    )


def _signed_in_claims() -> dict[str, Any] | None:
    row = sessions.current()
    if row is None or row.actor_type != USER or not row.actor_id:
        return None
    return sessions.auth_context(row)


def _enrol_page(form: EnrolForm, secret: str, otpauth_url: str) -> tuple[str, int]:
    return render_template(
        "web/mfa_enrol.html", form=form, secret=secret, otpauth_url=otpauth_url, qr_svg=two_step.qr_svg(otpauth_url)
    ), 200


def _provider_callback_url(provider: str) -> str:
    """Where the provider sends the page's sign-ins back: on MEDUSA_BACKEND_URL, never the request's Host."""
    return medusa_auth().backend_url + url_for("web.provider_callback", provider=provider)


def _back_to_sign_in() -> tuple[str, str]:  # noqa: N802 (reads as the constant it would be outside a request)
    return url_for("web.login"), "Back to sign in"


@bp.post("/logout")
def logout() -> Any:
    """End the session everywhere and go back to the sign-in page."""
    sessions.end()
    flash("You are signed out.")
    return redirect(url_for("web.login"))


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_request() -> Any:
    """Ask for a reset link; the answer is the same whether or not the email has an account."""
    form = EmailForm()
    if form.validate_on_submit():
        try:
            reset.request_reset(form.email.data or "")
        except ApiError as refused:  # the throttle's store does not answer (503: fail closed)
            page, _ = _reset_request_page(form, sent=False, error=refused.message)
            return page, refused.status, refused.headers
        return _reset_request_page(form, sent=True)
    return _reset_request_page(form, sent=False)


@bp.route("/reset-password/confirm", methods=["GET", "POST"])
def reset_confirm() -> Any:
    """Choose a new password with the mailed link (the new password twice)."""
    token = request.args.get("token", "")
    try:
        claims = reset.verify_reset_token(token)
    except ApiError as refused:
        return _message(
            "This link does not work",
            f"{refused.message}. Ask for a new one.",
            link=(url_for("web.reset_request"), "Ask for a new reset link"),
            status=400,
        )
    form = NewPasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            reset.update_password(claims, form.password.data or "")
        except ApiError as refused:
            error = refused.message
        else:
            sessions.end()
            return _message(
                "Password changed",
                "Your password has been changed, and every session signed in with the old one has ended.",
                link=(url_for("web.login"), "Sign in with your new password"),
            )
    return _new_password_page(
        form, error, heading="Choose a new password", submit="Change the password", action=request.full_path
    )


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> Any:
    """Change your own password (the current one first); every other session of yours ends, this one goes on."""
    row = sessions.current()
    user = sessions.signed_in_user()
    if row is None or user is None:
        return redirect(url_for("web.login", next=url_for("web.change_password")))
    form = ChangePasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            claims = sessions.auth_context(row)
            identity = identity_service.change_password(
                claims, form.current_password.data or "", form.password.data or ""
            )
        except ApiError as refused:
            wrong = refused.message == identity_service.WRONG_CURRENT_PASSWORD
            error = "That is not your current password." if wrong else refused.message
        else:
            identity_service.sign_in_again(identity, claims, True, identity_service.mfa_completed_at(claims))
            flash("Your password has been changed, and every other session signed in with the old one has ended.")
            return redirect(url_for("web.account"))
    return _new_password_page(
        form, error, heading="Change your password", submit="Change the password", action=request.full_path
    )


@bp.route("/invite", methods=["GET", "POST"])
def invite() -> Any:
    """Open an invite: choose a name and password, and land signed in."""
    token = request.args.get("token", "")
    try:
        pending = invite_service.pending_invite(token)
    except ApiError as refused:
        return _message("This invite link does not work", f"{refused.message}.", status=refused.status, alert=True)
    form = InviteForm()
    error = None
    if form.validate_on_submit():
        try:
            user = invite_service.accept_with_password(
                token, form.password.data or "", form.first_name.data or None, form.last_name.data or None
            )
        except invite_service.InviteUnusable as refused:  # e.g. the form sent twice: the first one accepted it
            return _message("This invite link does not work", f"{refused.message}.", status=refused.status, alert=True)
        except ApiError as refused:
            error = refused.message
        else:
            provider = identity_service.find_provider_identity(user.email)
            assert provider is not None  # created or reclaimed with the user, in the same transaction
            signed_in = _signed_in(provider.auth_identity, user.id, identity_service.PROVIDER, url_for("web.account"))
            if two_step.pending_challenge() is None:  # after the session starts: starting one clears Flask's
                flash("Welcome! Your account is ready and you are signed in.")
            return signed_in
    intro = f"You are invited as {pending.email}. Choose your name and a password."
    if invite_service.has_identity(pending):
        # The link proves the address is the invitee's, whoever registered it before.
        intro += (
            " An account already uses this address: the password you choose here replaces its password,"
            " and everyone signed in to it is signed out."
        )
    return _new_password_page(
        form, error, heading="Accept your invitation", intro=intro, submit="Create my account", action=request.full_path
    )


def _reset_request_page(form: EmailForm, sent: bool, error: str | None = None) -> tuple[str, int]:
    status = 400 if form.errors else 200
    return render_template(
        "web/reset_request.html", form=form, sent=sent, error=error, minutes=reset.RESET_LIFETIME_SECONDS // 60
    ), status


def _new_password_page(form: Any, error: str | None, **page: Any) -> tuple[str, int]:
    status = 400 if error or form.errors else 200
    return render_template("web/new_password.html", form=form, error=error, **page), status


def _message(
    heading: str, message: str, *, link: tuple[str, str] | None = None, status: int = 200, alert: bool = False
) -> tuple[str, int]:
    anchor = {"href": link[0], "text": link[1]} if link else None
    return render_template("web/message.html", heading=heading, message=message, link=anchor, alert=alert), status
