"""HTTP to a CRM for one delivery or poll: the shared rate limit before each request, and every
failure sorted by what it tells us: retry or not, when, and whether the CRM may have acted.

Connectors build requests and read answers; they never see httpx's exceptions.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.kit.clock import Clock
from app.kit.outbound import OutboundRefused
from app.mail import Mail
from crm_push.ratelimit import Rate, RateLimiter
from crm_push.redaction import excerpt
from crm_push.retry import parse_retry_after

SleepUntil = Callable[[datetime], Awaitable[None]]
# Sends one e-mail (app.mail.send_mail with the operator's settings); MailFailed when refused.
Mailer = Callable[[Mail], Awaitable[None]]

# Answers that will not change however often we ask: the user must fix something (and then
# retry the dead delivery from the API). 401/403 are not here: a token gets renewed, and
# amoCRM answers 403 for a while after too many requests.
PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 415, 422})
# A failure we describe ourselves (cannot connect, refused address) is kept up to this long.
OWN_MESSAGE_CHARS = 300
# Longest we wait for a rate-limit slot before deferring the delivery instead.
MAX_RATE_WAIT_S = 60.0


class CrmFailure(Exception):
    """A request that did not do its job.

    `created`: False when the CRM surely made nothing (refused, rate-limited, rejected, or a
    read); None when it may have (a timeout or 5xx after a write was sent).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        created: bool | None = False,
        retry_after_s: float | None = None,
        permanent: bool = False,
        gone: bool = False,
        refused: bool = False,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.created = created
        self.retry_after_s = retry_after_s
        self.permanent = permanent
        # The receiver asked us to stop (Standard Webhooks: 410 disables the endpoint).
        self.gone = gone
        # The outbound policy refused its address: nothing was sent.
        self.refused = refused
        # Give up after this many attempts, sooner than the policy would (None: the policy's).
        self.max_attempts = max_attempts
        # The answer that failed, for connectors whose platform explains itself in the body.
        self.reply: Reply | None = None


class RateDeferred(Exception):
    """No rate-limit slot soon enough: put the delivery back until `until`, not an attempt."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"rate limited until {until.isoformat()}")
        self.until = until


@dataclass(slots=True)
class Reply:
    status_code: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a CRM answering something else is a failure worth retrying."""
        if not self.body.strip():
            return None
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:
            raise CrmFailure(
                f"answer is not JSON (HTTP {self.status_code})",
                status_code=self.status_code,
                created=None,
            ) from exc


@dataclass(slots=True)
class Exchange:
    """The last request's status and redacted excerpt, for the attempt log."""

    status_code: int | None = None
    excerpt: str | None = None
    requests: int = 0


@dataclass(slots=True)
class CrmHttp:
    client: httpx.AsyncClient
    clock: Clock
    sleep_until: SleepUntil
    secrets: tuple[str, ...] = ()
    limiter: RateLimiter | None = None
    rate: Rate | None = None
    rate_key: str = ""
    # Past this moment the worker's lease on the delivery runs out: defer rather than wait.
    deadline: datetime | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(10.0, connect=5.0))
    # At most this many requests through this object (None: no cap); the next one fails
    # without going out. Bounds what one unauthenticated webhook can make us send.
    max_requests: int | None = None
    last: Exchange = field(default_factory=Exchange)
    # Alert channels: how e-mail goes out (None: e-mail is off), and the dashboard's address
    # their messages link to.
    mailer: Mailer | None = None
    public_url: str = ""

    async def request(
        self,
        method: str,
        url: str,
        *,
        write: bool,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Reply:
        """Send one request within the rate limit; a Reply for 2xx, CrmFailure otherwise.

        `write`: the request creates something, so a timeout leaves its outcome unknown.
        """
        if self.max_requests is not None and self.last.requests >= self.max_requests:
            raise CrmFailure(
                f"not sent: this exchange may make {self.max_requests} requests", created=False
            )
        await self._wait_for_slot()
        self.last.requests += 1
        started = time.perf_counter()
        try:
            response = await self.client.request(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                content=content,
                timeout=self.timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the CRM.
            if isinstance(exc.__cause__, OutboundRefused):
                # The address is not one we connect to: only a change of configuration helps.
                message = f"refused: {exc.__cause__.reason}"
                raise self._failure(message, created=False, refused=True) from exc
            raise self._failure(f"cannot connect: {_describe(exc)}", created=False) from exc
        except httpx.TimeoutException as exc:
            raise self._failure(
                f"no answer within {time.perf_counter() - started:.1f} s: {_describe(exc)}",
                created=None if write else False,
            ) from exc
        except httpx.HTTPError as exc:
            # The connection broke after the request went out.
            raise self._failure(
                f"connection failed: {_describe(exc)}", created=None if write else False
            ) from exc
        reply = Reply(response.status_code, response.headers, response.content)
        self.last.status_code = reply.status_code
        self.last.excerpt = self.excerpt(reply.body.decode("utf-8", errors="replace"))
        if 200 <= reply.status_code < 300:
            return reply
        failure = self.status_failure(reply, write=write)
        failure.reply = reply
        raise failure

    def status_failure(self, reply: Reply, *, write: bool, detail: str = "") -> CrmFailure:
        status = reply.status_code
        retry_after = parse_retry_after(reply.headers.get("retry-after"), now=self.clock())
        # A status line: the code, its reason, and the start of the (redacted) answer.
        line = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
        message = line + (f" {detail}" if detail else "") + f": {self.last.excerpt}"
        if status == 429:
            # Refused before doing anything: a rate limit.
            return CrmFailure(message, status_code=status, created=False, retry_after_s=retry_after)
        if status >= 500:
            return CrmFailure(
                message,
                status_code=status,
                created=None if write else False,
                retry_after_s=retry_after,
            )
        return CrmFailure(
            message,
            status_code=status,
            created=False,
            retry_after_s=retry_after,
            permanent=status in PERMANENT_STATUSES,
            gone=status == 410,
        )

    def excerpt(self, text: str) -> str:
        return excerpt(text, self.secrets)

    def _failure(self, message: str, *, created: bool | None, refused: bool = False) -> CrmFailure:
        # Our own words, not the CRM's answer: longer than an excerpt, still redacted.
        message = excerpt(message, self.secrets, limit=OWN_MESSAGE_CHARS)
        self.last.status_code = None
        self.last.excerpt = message
        return CrmFailure(message, created=created, permanent=refused, refused=refused)

    async def _wait_for_slot(self) -> None:
        if self.limiter is None or self.rate is None:
            return
        now = self.clock()
        max_wait = MAX_RATE_WAIT_S
        if self.deadline is not None:
            max_wait = min(max_wait, (self.deadline - now).total_seconds())
        wait = await self.limiter.reserve(
            self.rate_key, self.rate, now=now, max_wait_s=max(max_wait, 0.0)
        )
        if wait is None:
            raise RateDeferred(now + timedelta(seconds=max(max_wait, 1.0)))
        if wait > 0:
            await self.sleep_until(now + timedelta(seconds=wait))


def _describe(exc: Exception) -> str:
    # httpx's messages name the error, not the URL; the type says which failure it was.
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


def secrets_of(credentials: dict[str, Any]) -> tuple[str, ...]:
    """Every credential value that is a string, to be redacted wherever it shows up."""
    values: Iterable[Any] = credentials.values()
    return tuple(v for v in values if isinstance(v, str) and v)
