"""Outgoing mail over SMTP (the ``MAIL_*`` settings), or to the log in development.

Messages carry a text and an HTML part. Without ``MAIL_SERVER``, development writes the message,
link included, to the log so a developer can click it; every other environment logs only that a
message could not be sent, never the link (it carries a token).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from flask import render_template

from .extension import medusa_auth
from .request_data import is_email
from .settings import MailSettings

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10


class MailNotSent(Exception):
    """The message did not leave: no server configured, or the server refused or was unreachable."""


@dataclass(frozen=True)
class Mail:
    """One message to one person: ``to`` is one address (``request_data.is_email``), never a list."""

    to: str
    subject: str
    text: str
    html: str


def from_templates(to: str, subject: str, template: str, **context: Any) -> Mail:
    """A message whose parts are ``templates/mail/<template>.txt`` and ``.html``."""
    return Mail(
        to=to,
        subject=subject,
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )


def link(path: str, token: str) -> str:
    """A link to one of our pages carrying ``token``: built from MEDUSA_BACKEND_URL, never the Host header."""
    return f"{medusa_auth().backend_url}{path}?{urlencode({'token': token})}"


def send(mail: Mail) -> None:
    """Send now; ``MailNotSent`` says why it did not go (the caller decides what the user hears)."""
    deliver(medusa_auth().settings.mail, mail)


def send_in_background(mail: Mail) -> None:
    """Send without making the request wait, so the answer's timing does not reveal that mail went out."""
    settings = medusa_auth().settings.mail
    threading.Thread(target=_deliver_logged, args=(settings, mail), name="mail", daemon=True).start()


def deliver(settings: MailSettings, mail: Mail) -> None:
    """Hand ``mail`` to the SMTP server in ``settings`` (or, in development without one, to the log)."""
    recipient = _recipient(mail.to)
    if settings.server is None:
        if settings.development:
            log.warning("MAIL_SERVER is not set; development mail to %s:\n%s\n%s", mail.to, mail.subject, mail.text)
            return
        raise MailNotSent("MAIL_SERVER is not set")
    message = _compose(settings.sender, recipient, mail)
    try:
        with smtplib.SMTP(settings.server, settings.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if settings.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
            # The envelope names the one recipient; nothing is read back out of the headers.
            smtp.send_message(message, to_addrs=[recipient.addr_spec])
    except (OSError, smtplib.SMTPException) as error:
        # The reason only: the message body holds a link with a token.
        raise MailNotSent(f"the mail server did not take the message ({type(error).__name__})") from None
    log.info("mail sent: subject=%r", mail.subject)


def _deliver_logged(settings: MailSettings, mail: Mail) -> None:
    try:
        deliver(settings, mail)
    except MailNotSent as error:
        log.error("mail not sent: subject=%r: %s", mail.subject, error)


def _recipient(to: str) -> Address:
    """``to`` as exactly one address; a list, a display name or an encoded word is refused, not parsed."""
    if not is_email(to):
        raise MailNotSent("the recipient is not one email address")
    try:
        return Address(addr_spec=to)
    except (ValueError, IndexError):  # the header parser disagrees with is_email: refuse rather than guess
        raise MailNotSent("the recipient is not one email address") from None


def _compose(sender: str, recipient: Address, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message
