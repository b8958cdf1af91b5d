"""What every ad platform module shares: the spend rows it returns, the errors it raises and
the HTTP it goes through (the outbound-guarded client, waits on an injected sleep)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import httpx

from app.exceptions import AppError

Sleep = Callable[[float], Awaitable[None]]
CENT = Decimal("0.01")
# How much of a platform's error answer goes into the account's status.
_EXCERPT = 300


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Spend:
    """One day's spend of a campaign (and keyword, "" when none) as the platform names them."""

    day: date
    campaign: str
    term: str
    cost: Decimal
    currency: str | None  # None: the platform does not say; the account's or site's applies


@dataclass(frozen=True, slots=True)
class AccountData:
    id: uuid.UUID
    kind: str
    config: dict[str, Any]
    credentials: dict[str, Any]

    @property
    def api_base(self) -> str | None:
        base = self.config.get("api_base")
        return str(base).rstrip("/") if base else None


@dataclass(slots=True)
class Fetched:
    spend: list[Spend]
    # Credentials to store back (a token the platform issued for reuse), if any.
    credentials: dict[str, Any] | None = None


class ImportFailed(AppError):
    """The platform did not give the spend: the message says why, fit to show the user."""

    status_code = 502


class PlatformRefused(ImportFailed):
    """The credentials or settings are wrong (bad token, no access, unknown customer):
    nothing changes until the user fixes them."""


class PlatformBusy(ImportFailed):
    """Rate limited, a report still being built past our patience, or a server error: the
    same import works later."""

    status_code = 503

    def __init__(self, detail: str, *, retry_after_s: int = 60) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.headers["Retry-After"] = str(retry_after_s)


def excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")


def retry_after(response: httpx.Response, default: int = 60) -> int:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else default


@dataclass(slots=True)
class PlatformHttp:
    """The client to a platform. `wait` sleeps as the platform asks (a report being built)
    but never more than `max_wait_s` in all: past that the import is PlatformBusy."""

    client: httpx.AsyncClient
    sleep: Sleep
    max_wait_s: float = 120.0
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(60.0, connect=10.0))
    waited_s: float = 0.0

    async def request(self, platform: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, url, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            raise PlatformBusy(f"{platform} could not be reached: {reason}") from exc

    async def wait(self, platform: str, seconds: float) -> None:
        if self.waited_s + seconds > self.max_wait_s:
            raise PlatformBusy(
                f"{platform} is still building the report; the import tries again later",
                retry_after_s=max(int(seconds), 1),
            )
        self.waited_s += seconds
        await self.sleep(seconds)


class Platform(Protocol):
    """One module per ad platform (app.costs.accounts.platforms.*) provides these."""

    KIND: str
    SOURCE: str
    MEDIUM: str

    async def fetch(
        self,
        http: PlatformHttp,
        account: AccountData,
        *,
        first_day: date,
        last_day: date,
        now: datetime,
    ) -> Fetched: ...
