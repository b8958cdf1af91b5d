"""When to try a failed delivery again: exponential backoff with jitter, over about a day,
never sooner than the CRM's own Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # 15 s doubling up to an hour: 30 attempts span about 23 hours, so a CRM that is down
    # for an afternoon loses nothing, and a dead delivery means a problem worth a look.
    max_attempts: int = 30
    base_s: float = 15.0
    cap_s: float = 3600.0
    # +-25 %: deliveries that failed together (an outage) do not come back together.
    jitter: float = 0.25
    max_retry_after_s: float = 86400.0

    def delay_s(self, attempt: int, *, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds before attempt `attempt + 1`, after `attempt` attempts have failed."""
        if retry_after_s is not None:
            # The CRM said when: not sooner, and a little later so waiting workers spread out.
            wait = min(max(retry_after_s, 0.0), self.max_retry_after_s)
            return wait + rng.uniform(0.0, self.jitter) * max(wait, 1.0)
        backoff = min(self.cap_s, self.base_s * 2.0 ** max(attempt - 1, 0))
        return backoff * (1.0 + rng.uniform(-self.jitter, self.jitter))


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - now).total_seconds(), 0.0)
