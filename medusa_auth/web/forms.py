"""The pages' forms; Flask-WTF adds a CSRF token to each."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..auth.identity_service import MIN_PASSWORD_LENGTH
from ..request_data import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH

_NEW_PASSWORD = [
    DataRequired("Enter a password."),
    Length(MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, f"Use at least {MIN_PASSWORD_LENGTH} characters."),
]
_CONFIRM = [DataRequired("Enter the password again."), EqualTo("password", "The two passwords are not the same.")]
_NAME = [Optional(), Length(max=255, message="Use at most 255 characters.")]


class LoginForm(FlaskForm):
    email = EmailField("Email", [DataRequired("Enter your email address."), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)])


class EmailForm(FlaskForm):
    email = EmailField("Email", [DataRequired("Enter your email address."), Length(max=MAX_EMAIL_LENGTH)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", _NEW_PASSWORD)
    confirm = PasswordField("New password, again", _CONFIRM)


class InviteForm(FlaskForm):
    first_name = StringField("First name", _NAME)
    last_name = StringField("Last name", _NAME)
    password = PasswordField("Password", _NEW_PASSWORD)
    confirm = PasswordField("Password, again", _CONFIRM)


class SignOutForm(FlaskForm):
    """No fields: only the CSRF token."""
