"""The pages' forms; Flask-WTF adds a CSRF token to each."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, StopValidation

from ..auth.identity_service import MIN_PASSWORD_LENGTH
from ..auth.mfa_service import MAX_ASSERTION_LENGTH
from ..request_data import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, is_email

ONE_EMAIL_ADDRESS = "Enter one email address, like name@example.com."


def one_email_address(form: Any, field: Field) -> None:
    """The API's rule (``request_data.is_email``), so a page accepts no address the API would refuse."""
    if not field.errors and not is_email(field.data):  # one message, not Length's and this one
        raise StopValidation(ONE_EMAIL_ADDRESS)


_NEW_PASSWORD = [
    DataRequired("Enter a password."),
    Length(MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, f"Use at least {MIN_PASSWORD_LENGTH} characters."),
]
_CONFIRM = [DataRequired("Enter the password again."), EqualTo("password", "The two passwords are not the same.")]
_NAME = [Optional(), Length(max=255, message="Use at most 255 characters.")]
_EMAIL = [
    DataRequired("Enter your email address."),
    Length(max=MAX_EMAIL_LENGTH, message=ONE_EMAIL_ADDRESS),  # also renders maxlength on the input
    one_email_address,
]


class LoginForm(FlaskForm):
    email = EmailField("Email", _EMAIL)
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)])


class EmailForm(FlaskForm):
    email = EmailField("Email", _EMAIL)


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", _NEW_PASSWORD)
    confirm = PasswordField("New password, again", _CONFIRM)


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", [DataRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)]
    )
    password = PasswordField("New password", _NEW_PASSWORD)
    confirm = PasswordField("New password, again", _CONFIRM)


class InviteForm(FlaskForm):
    first_name = StringField("First name", _NAME)
    last_name = StringField("Last name", _NAME)
    password = PasswordField("Password", _NEW_PASSWORD)
    confirm = PasswordField("Password, again", _CONFIRM)


class SignOutForm(FlaskForm):
    """No fields: only the CSRF token."""


_CODE = [DataRequired("Enter the code."), Length(max=64, message="Enter the 6-digit code or a recovery code.")]


class CodeForm(FlaskForm):
    """The second step of signing in, and turning two-step sign-in off: a code from the app or a recovery code."""

    code = StringField("Code from your authenticator app, or a recovery code", _CODE)


class PasskeyAnswerForm(FlaskForm):
    """The second step of signing in answered with a passkey: the page's script puts the browser's answer here."""

    credential = HiddenField(
        validators=[
            DataRequired("The passkey's answer is missing: try again."),
            Length(max=MAX_ASSERTION_LENGTH, message="The passkey's answer is too long."),
        ]
    )


class EnrolForm(FlaskForm):
    factor_id = HiddenField(validators=[DataRequired(), Length(max=64)])
    code = StringField("Code from your authenticator app", _CODE)
