"""A real SMTP server for the tests (aiosmtpd on a free port) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.cli_processes import free_port


@dataclass
class Received:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage


@dataclass
class SmtpInbox:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    messages: list[Received] = field(default_factory=list)
    # Addresses the server refuses with a permanent 550 (no such mailbox).
    refused: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        auth = f"{self.username}:{self.password}@" if self.username else ""
        return f"smtp://{auth}{self.host}:{self.port}"

    async def wait_for(self, count: int = 1, *, within_s: float = 10.0) -> list[Received]:
        """The first `count` messages, waiting for them to arrive (the server runs in a thread,
        so this polls rather than waits on an event of another loop)."""
        async with asyncio.timeout(within_s):
            while len(self.messages) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return self.messages[:count]


class _Handler:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.inbox.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.inbox.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _start(inbox: SmtpInbox) -> Controller:
    """The server runs on its own loop in a thread; `_stop` closes that loop too."""

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == inbox.username
            and data.password.decode() == inbox.password
        )
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {}
    if inbox.username:
        options = {
            "authenticator": authenticate,
            # Offered and checked, not required: aiosmtpd warns against requiring it without TLS.
            "auth_require_tls": False,
        }
    controller = Controller(
        _Handler(inbox),
        hostname=inbox.host,
        port=inbox.port,
        loop=asyncio.new_event_loop(),
        **options,
    )
    controller.start()
    return controller


def _stop(controller: Controller) -> None:
    controller.stop()
    controller.loop.close()


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    """An SMTP server that takes mail without a login."""
    inbox = SmtpInbox(host="127.0.0.1", port=free_port())
    controller = _start(inbox)
    try:
        yield inbox
    finally:
        _stop(controller)


@pytest.fixture
def smtp_inbox_with_login() -> Iterator[SmtpInbox]:
    """An SMTP server that refuses a wrong login."""
    inbox = SmtpInbox(host="127.0.0.1", port=free_port(), username="mailer", password="p@ss w0rd")
    controller = _start(inbox)
    try:
        yield inbox
    finally:
        _stop(controller)
