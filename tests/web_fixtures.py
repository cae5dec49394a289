"""Fixtures for mail, sessions and pages: a real SMTP server (aiosmtpd) in the test process."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.live import free_port

MAIL_WAIT_SECONDS = 10.0
_LINK = re.compile(r"https?://\S+")


@dataclass
class Mailbox:
    """What the SMTP server received, as parsed messages."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def settings(self) -> dict[str, str]:
        """The MAIL_* settings that point the app at this server."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": str(self.port), "MAIL_FROM": "auth@example.com"}

    def wait_for(self, count: int = 1, timeout: float = MAIL_WAIT_SECONDS) -> list[EmailMessage]:
        """Block until ``count`` messages have arrived (bounded); fail the test otherwise."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{len(self.messages)} of {count} messages arrived within {timeout} s")
                self.arrived.wait(remaining)
            return list(self.messages)

    def last_link(self) -> str:
        return link_in(self.wait_for(len(self.messages) or 1)[-1])


def text_part(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None, "the message has no text part"
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "the message has no HTML part"
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    links = _LINK.findall(text_part(message))
    assert len(links) == 1, links
    return str(links[0])


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


@contextlib.contextmanager
def running_mailbox(box: Mailbox | None = None) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 until the block ends, serving ``box`` (a plain one by default)."""
    box = box or Mailbox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1, for this test only."""
    with running_mailbox() as box:
        yield box
