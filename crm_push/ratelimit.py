"""Per-connector request rates shared by every worker: a GCRA token bucket that hands out
reservations, in Redis when CALLSOURCE_REDIS_URL is set, else in process memory.

A reservation says when the request may go, so waiting workers queue in order instead of
polling the bucket; a slot further away than the caller will wait takes nothing, and the
caller defers its delivery instead of holding it past its lease.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.exceptions import RedisError

from app.kit.redis_connect import RedisClient, connect_redis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    burst: int = 1

    @property
    def interval_s(self) -> float:
        return 1.0 / self.per_s

    @property
    def tolerance_s(self) -> float:
        # GCRA's burst tolerance: how far ahead of the steady pace a request may go.
        return self.interval_s * (self.burst - 1)


class RateLimiter(Protocol):
    async def reserve(
        self, key: str, rate: Rate, *, now: datetime, max_wait_s: float
    ) -> float | None:
        """Take the next free slot of `key`: the seconds to wait for it (at most `max_wait_s`),
        or None when it is further away than that (and then nothing is taken)."""
        ...

    async def close(self) -> None: ...


def _gcra(tat: float, rate: Rate, now: float, max_wait_s: float) -> tuple[float, float] | None:
    """(wait, new theoretical arrival time), or None when the wait would exceed max_wait_s."""
    tat = max(tat, now)
    wait = max(tat - rate.tolerance_s - now, 0.0)
    if wait > max_wait_s:
        return None
    return wait, tat + rate.interval_s


class MemoryRateLimiter:
    """The embedded default: one process, so one bucket per key in a dict."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def reserve(
        self, key: str, rate: Rate, *, now: datetime, max_wait_s: float
    ) -> float | None:
        epoch = now.timestamp()
        taken = _gcra(self._tat.get(key, epoch), rate, epoch, max_wait_s)
        if taken is None:
            return None
        wait, self._tat[key] = taken
        return wait

    async def close(self) -> None:
        self._tat.clear()


# Microseconds as integers: Lua numbers are doubles and Redis truncates replies to integers.
_RESERVE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return -1 end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return wait
"""


class RedisRateLimiter:
    """One bucket per key for every worker process. When Redis is unreachable the process
    falls back to its own bucket: the limit then holds per process, not globally, which is
    better than stopping deliveries."""

    def __init__(self, redis: RedisClient, *, prefix: str = "cs:crm:rate:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_RESERVE)
        self._fallback = MemoryRateLimiter()

    async def reserve(
        self, key: str, rate: Rate, *, now: datetime, max_wait_s: float
    ) -> float | None:
        args = [
            math.floor(now.timestamp() * 1e6),
            math.ceil(rate.interval_s * 1e6),
            math.floor(rate.tolerance_s * 1e6),
            math.floor(max_wait_s * 1e6),
        ]
        try:
            wait_us = int(await self._script(keys=[self._prefix + key], args=args))
        except (RedisError, OSError) as exc:
            log.warning("CRM rate limit store unavailable, limiting in process: %s", exc)
            return await self._fallback.reserve(key, rate, now=now, max_wait_s=max_wait_s)
        return None if wait_us < 0 else wait_us / 1e6

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str) -> RateLimiter:
    if not redis_url:
        return MemoryRateLimiter()
    return RedisRateLimiter(connect_redis(redis_url, timeout_s=1.0))
