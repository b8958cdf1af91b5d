"""Outgoing e-mail: invites, password resets and alerts, through the operator's SMTP server.

Configured by CALLSOURCE_SMTP_URL (`smtp://user:pass@host:port`, STARTTLS when the server offers
it; `smtps://` for TLS from the first byte) and CALLSOURCE_MAIL_FROM. Without them nothing is
sent and callers show the link or the alert in the dashboard instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.config import Settings

SMTP_TIMEOUT_S = 15.0


class MailNotConfigured(Exception):
    """CALLSOURCE_SMTP_URL or CALLSOURCE_MAIL_FROM is empty."""


class MailFailed(Exception):
    """The SMTP server refused the message or could not be reached; the text says which.
    `code`: the server's reply code when it answered (5xx: a permanent refusal)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("CALLSOURCE_SMTP_URL must look like smtp://user:pass@host:587")
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 587),
            implicit_tls=implicit_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def mail_configured(settings: Settings) -> bool:
    return settings.smtp_url is not None and bool(settings.mail_from.strip())


def build_message(mail: Mail, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender if "<" in sender else formataddr(("Callsource", sender))
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


async def send_mail(settings: Settings, mail: Mail) -> None:
    """Sends one message; MailNotConfigured without SMTP settings, MailFailed when the server
    refuses it or cannot be reached (retrying is the caller's business)."""
    if settings.smtp_url is None or not settings.mail_from.strip():
        raise MailNotConfigured("e-mail is off: set CALLSOURCE_SMTP_URL and CALLSOURCE_MAIL_FROM")
    server = SmtpServer.parse(settings.smtp_url.get_secret_value())
    message = build_message(mail, sender=settings.mail_from.strip())
    try:
        await aiosmtplib.send(
            message,
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            # None: STARTTLS when the server offers it, plain otherwise (a local relay).
            start_tls=None if not server.implicit_tls else False,
            timeout=SMTP_TIMEOUT_S,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise MailFailed(
            f"the SMTP server answered {exc.code}: {exc.message}", code=exc.code
        ) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0] if exc.recipients else None
        code = first.code if first is not None else None
        reason = f"{first.code}: {first.message}" if first is not None else "every recipient"
        raise MailFailed(f"the SMTP server refused the recipients ({reason})", code=code) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailFailed(f"the SMTP server {server.host}:{server.port} failed: {exc}") from exc
