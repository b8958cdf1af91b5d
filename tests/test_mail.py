"""Outgoing e-mail through a real SMTP server (aiosmtpd), with and without a login."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from pydantic import SecretStr

from app.config import Settings
from app.mail import Mail, MailFailed, MailNotConfigured, SmtpServer, mail_configured, send_mail
from tests.conftest import TEST_SECRET_KEY
from tests.smtp_server import SmtpInbox


def _settings(smtp_url: str | None, mail_from: str = "alerts@callsource.example") -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        secret_key=SecretStr(TEST_SECRET_KEY),
        smtp_url=SecretStr(smtp_url) if smtp_url else None,
        mail_from=mail_from,
    )


async def test_a_message_reaches_the_smtp_server_in_utf8(smtp_inbox: SmtpInbox) -> None:
    mail = Mail(
        to=("owner@shop.example",),
        subject="Пропущенный звонок с +7 495 123-45-67",
        text="Перезвоните: tel:+74951234567",
        html="<p>Перезвоните: <a href='tel:+74951234567'>+7 495 123-45-67</a></p>",
    )
    await send_mail(_settings(smtp_inbox.url), mail)

    [received] = await smtp_inbox.wait_for(1)
    assert received.envelope_to == ["owner@shop.example"]
    assert received.envelope_from == "alerts@callsource.example"
    assert received.message["Subject"] == "Пропущенный звонок с +7 495 123-45-67"
    assert received.message["To"] == "owner@shop.example"
    plain = received.message.get_body(("plain",))
    html = received.message.get_body(("html",))
    assert plain is not None
    assert "tel:+74951234567" in plain.get_content()
    assert html is not None
    assert "<a href='tel:+74951234567'>" in html.get_content()


async def test_the_login_in_the_url_is_used(smtp_inbox_with_login: SmtpInbox) -> None:
    inbox = smtp_inbox_with_login
    url = f"smtp://{inbox.username}:{quote(inbox.password or '')}@{inbox.host}:{inbox.port}"
    await send_mail(_settings(url), Mail(to=("a@shop.example",), subject="Hi", text="x"))
    assert len(await inbox.wait_for(1)) == 1


async def test_a_wrong_login_is_a_failure_naming_the_servers_answer(
    smtp_inbox_with_login: SmtpInbox,
) -> None:
    inbox = smtp_inbox_with_login
    url = f"smtp://{inbox.username}:wrong@{inbox.host}:{inbox.port}"
    with pytest.raises(MailFailed, match="535"):
        await send_mail(_settings(url), Mail(to=("a@shop.example",), subject="Hi", text="x"))
    assert inbox.messages == []


async def test_an_unreachable_server_is_a_failure_naming_it() -> None:
    from tests.cli_processes import free_port

    port = free_port()
    with pytest.raises(MailFailed, match=f"127.0.0.1:{port}"):
        await send_mail(
            _settings(f"smtp://127.0.0.1:{port}"), Mail(to=("a@b.example",), subject="s", text="t")
        )


async def test_without_settings_nothing_is_sent() -> None:
    settings = _settings(None)
    assert not mail_configured(settings)
    with pytest.raises(MailNotConfigured, match="CALLSOURCE_SMTP_URL"):
        await send_mail(settings, Mail(to=("a@b.example",), subject="s", text="t"))
    assert not mail_configured(_settings("smtp://127.0.0.1:25", mail_from=""))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpServer("mail.example", 587, False, None, None)),
        ("smtps://u:p%40x@mail.example", SmtpServer("mail.example", 465, True, "u", "p@x")),
        ("smtp://relay:2525", SmtpServer("relay", 2525, False, None, None)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_a_url_that_is_not_smtp_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="smtp://"):
        SmtpServer.parse(url)
