"""Time is injected: logic takes `now`; only the edges (requests, jobs) read the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, as the contract writes timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
