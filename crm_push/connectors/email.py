"""Alerts by e-mail through the operator's SMTP server (app.mail, CALLSOURCE_SMTP_URL).

A refused or unreachable server is retried with the outbox's backoff. A 5xx answer is the
server saying "never" (no such mailbox, relaying denied), but a relay being reconfigured says
it too: a few attempts, then dead with the server's words. E-mail turned off after the rule was
made is retried, so turning it back on delivers what waited.
"""

from __future__ import annotations

from typing import Any

from app.mail import Mail, MailFailed, MailNotConfigured
from crm_push.connectors.base import Created, Job
from crm_push.connectors.messages import message_for, outbox_events
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

# Attempts a 5xx (permanent) SMTP answer gets before the delivery is dead.
PERMANENT_REPLY_ATTEMPTS = 3


class EmailAlerts:
    kind = "email"
    rate: Rate | None = None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return outbox_events(list(config.get("events") or ()))

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # A mailbox cannot be asked whether the message arrived.
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        message = message_for(job, public_url=crm.public_url)
        mail = Mail(
            to=tuple(str(a) for a in job.connector.config["to"]),
            subject=message.subject,
            text=message.text(),
            html=message.html(),
        )
        if crm.mailer is None:
            raise _failure(crm, "e-mail is off: set CALLSOURCE_SMTP_URL and CALLSOURCE_MAIL_FROM")
        try:
            await crm.mailer(mail)
        except MailNotConfigured as exc:
            raise _failure(crm, str(exc)) from exc
        except MailFailed as exc:
            permanent = exc.code is not None and exc.code >= 500
            raise _failure(
                crm,
                str(exc),
                status_code=exc.code,
                max_attempts=PERMANENT_REPLY_ATTEMPTS if permanent else None,
            ) from exc
        crm.last.status_code = 250
        crm.last.excerpt = f"accepted for {', '.join(mail.to)}"
        return Created(external_id=None)


def _failure(
    crm: CrmHttp, message: str, *, status_code: int | None = None, max_attempts: int | None = None
) -> CrmFailure:
    text = crm.excerpt(message)
    crm.last.status_code = status_code
    crm.last.excerpt = text
    return CrmFailure(text, status_code=status_code, created=False, max_attempts=max_attempts)
