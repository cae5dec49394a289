"""medusa_auth.mail: SMTP with text and HTML parts; the log only in development, never a link elsewhere."""

from __future__ import annotations

import time

import pytest

from medusa_auth import mail
from medusa_auth.settings import MailSettings, settings_from
from tests.live import free_port
from tests.web_fixtures import html_part, text_part

MESSAGE = mail.Mail(
    to="someone@example.com",
    subject="Hello",
    text="Open https://auth.example.com/app/x?token=SECRET",
    html='<p><a href="https://auth.example.com/app/x?token=SECRET">Open</a></p>',
)


def settings_for(mailbox=None, **overrides) -> MailSettings:
    config = {"APP_ENV": "production", **(mailbox.settings() if mailbox else {}), **overrides}
    return settings_from(config, instance_path="instance").mail


def test_a_message_arrives_with_a_text_and_an_html_part(mailbox):
    mail.deliver(settings_for(mailbox), MESSAGE)
    [received] = mailbox.wait_for(1)
    assert received["Subject"] == "Hello" and received["To"] == "someone@example.com"
    assert received["From"] == "auth@example.com"
    assert "token=SECRET" in text_part(received) and "<a href=" in html_part(received)


def test_an_unreachable_server_raises_mail_not_sent_without_the_message(caplog):
    settings = settings_for(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(free_port()))
    with pytest.raises(mail.MailNotSent) as raised:
        mail.deliver(settings, MESSAGE)
    assert "SECRET" not in str(raised.value) and "SECRET" not in caplog.text


def test_no_server_outside_development_is_an_error_not_a_log_line(caplog):
    with caplog.at_level("DEBUG"), pytest.raises(mail.MailNotSent):
        mail.deliver(settings_for(), MESSAGE)
    assert "SECRET" not in caplog.text


def test_no_server_in_development_writes_the_message_to_the_log(caplog):
    with caplog.at_level("INFO"):
        mail.deliver(settings_for(APP_ENV="development"), MESSAGE)
    assert "https://auth.example.com/app/x?token=SECRET" in caplog.text


def test_mail_use_tls_and_port_default(mailbox):
    assert settings_for(MAIL_SERVER="smtp.example.com", MAIL_USE_TLS="true").port == 587
    assert settings_for(MAIL_SERVER="smtp.example.com").port == 25


@pytest.mark.parametrize(
    ("app_env", "logged", "not_logged"),
    [
        ("test", "mail not sent", "reset-password/confirm"),
        ("production", "mail not sent", "reset-password/confirm"),
        ("development", "/app/reset-password/confirm?token=", None),
    ],
)
def test_a_reset_request_without_a_mail_server_logs_the_link_only_in_development(
    app_factory, auth, caplog, app_env, logged, not_logged
):
    auth.create_user()
    client = app_factory(APP_ENV=app_env).test_client()
    with caplog.at_level("DEBUG"):
        response = client.post("/auth/user/emailpass/reset-password", json={"identifier": "admin@example.com"})
        assert response.status_code == 201
        wait_for_log(caplog, logged)
    if not_logged:
        assert not_logged not in caplog.text and "token=" not in caplog.text


def wait_for_log(caplog, text: str, timeout: float = 5.0) -> None:
    """The reset mail goes from a background thread: wait (bounded) for its log line."""
    deadline = time.monotonic() + timeout
    while text not in caplog.text:
        assert time.monotonic() < deadline, f"{text!r} not logged"
        time.sleep(0.05)
