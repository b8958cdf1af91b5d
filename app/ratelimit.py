"""Fixed-window rate limits for the public endpoints, in Redis (shared by every process) or in
process memory (the embedded default). A limiter that cannot reach Redis lets requests through:
losing the limit for a moment is better than losing the tracking."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from redis.exceptions import RedisError

from app.kit.redis_connect import RedisClient, connect_redis, is_cluster
from numberpool.rules import DrainLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    requests: int
    window_s: int


@dataclass(frozen=True, slots=True)
class PublicLimits:
    """The limits of the public tracker endpoints, per client address and per site."""

    # Generous for people (a page view is one call, a ping a minute), tight for scripts.
    per_address: Limit = Limit("tracker-ip", requests=120, window_s=60)
    # Caps what a distributed flood can do to one site's pool.
    per_site: Limit = Limit("tracker-site", requests=30_000, window_s=60)
    # What one client may take from a pool (numberpool.rules.DrainLimits).
    drain: DrainLimits = field(default_factory=DrainLimits)


# One request checked against several limits in order; a refusal stops there, so requests an
# address was refused for do not use up the site's budget (one flooding address must not shut
# out everyone else).
Checks = Sequence[tuple[Limit, str]]


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: Limit
    retry_after_s: int


class RateLimiter(Protocol):
    async def hit(self, limit: Limit, key: str, *, now: datetime) -> int | None:
        """Count one request; None when allowed, else the seconds until the window ends."""
        ...

    async def hit_all(self, checks: Checks, *, now: datetime) -> Refusal | None:
        """Count one request against each limit in turn (one round trip); the first refusal."""
        ...

    async def close(self) -> None: ...


def _window(limit: Limit, now: datetime) -> tuple[int, int]:
    """The window's index and the seconds left in it."""
    epoch = now.timestamp()
    index = int(epoch // limit.window_s)
    left = math.ceil((index + 1) * limit.window_s - epoch)
    return index, max(left, 1)


class MemoryRateLimiter:
    def __init__(self, *, max_keys: int = 100_000) -> None:
        # (limit, key, window index) -> (count, when the window ends, in epoch seconds)
        self._counts: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._max_keys = max_keys

    async def hit(self, limit: Limit, key: str, *, now: datetime) -> int | None:
        index, left = _window(limit, now)
        slot = (limit.name, key, index)
        if slot not in self._counts and len(self._counts) >= self._max_keys:
            self._forget_ended_windows(now.timestamp())
        count = self._counts.get(slot, (0, 0.0))[0] + 1
        self._counts[slot] = (count, (index + 1) * limit.window_s)
        return None if count <= limit.requests else left

    async def hit_all(self, checks: Checks, *, now: datetime) -> Refusal | None:
        for limit, key in checks:
            retry_after = await self.hit(limit, key, now=now)
            if retry_after is not None:
                return Refusal(limit, retry_after)
        return None

    def _forget_ended_windows(self, epoch: float) -> None:
        self._counts = {slot: v for slot, v in self._counts.items() if v[1] > epoch}
        if len(self._counts) >= self._max_keys:
            # Every window is live: a flood of distinct keys. Start over rather than grow.
            self._counts.clear()

    async def close(self) -> None:
        self._counts.clear()


# KEYS: the window counters in order; ARGV: each one's limit, then each one's expiry. Returns
# 0 when every counter is within its limit, else the 1-based index of the first one over it.
_HIT_ALL = """
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 then redis.call('EXPIRE', key, ARGV[#KEYS + i]) end
    if count > tonumber(ARGV[i]) then return i end
end
return 0
"""


class RedisRateLimiter:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._hit_all = redis.register_script(_HIT_ALL)
        # A cluster keeps each counter on the slot of its own key and runs a script only on
        # keys of one slot: there each limit is its own step, in the same order, stopping at
        # the first refusal as the one-step script does.
        self._one_key_per_step = is_cluster(redis)

    async def hit(self, limit: Limit, key: str, *, now: datetime) -> int | None:
        refusal = await self.hit_all([(limit, key)], now=now)
        return None if refusal is None else refusal.retry_after_s

    async def hit_all(self, checks: Checks, *, now: datetime) -> Refusal | None:
        windows = [_window(limit, now) for limit, _key in checks]
        names = [
            f"cs:rl:{limit.name}:{key}:{index}"
            for (limit, key), (index, _left) in zip(checks, windows, strict=True)
        ]
        limits = [limit.requests for limit, _key in checks]
        expiries = [limit.window_s + 1 for limit, _key in checks]
        try:
            if self._one_key_per_step:
                over = 0
                for position, step in enumerate(zip(names, limits, expiries, strict=True), 1):
                    name, requests, expiry = step
                    if int(await self._hit_all(keys=[name], args=[requests, expiry])):
                        over = position
                        break
            else:
                over = int(await self._hit_all(keys=names, args=[*limits, *expiries]))
        except (RedisError, OSError) as exc:
            log.warning("rate limit store unavailable, allowing the request: %s", exc)
            return None
        if over == 0:
            return None
        return Refusal(checks[over - 1][0], windows[over - 1][1])

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str) -> RateLimiter:
    if not redis_url:
        return MemoryRateLimiter()
    return RedisRateLimiter(connect_redis(redis_url, timeout_s=0.2))
