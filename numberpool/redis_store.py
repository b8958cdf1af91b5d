"""The Redis store: the pool engine as one server-side script, shared by any number of processes.

Each lease, ping, release and sweep is a single EVALSHA of numberpool.redis_script, so the steps
of all processes serialize on the server and no number can go to two sessions. All keys of a pool
share the hash tag `{pool:<id>}` and live in one Redis Cluster slot. Redis is a cache of the
assignment log: a pool that is missing or was restored on another server (flush, restart,
failover) answers NeedsRebuild and the service reloads it from the log.

Calls are bounded: short socket timeouts, no client retries, and a brief circuit breaker after
a failure, so an unreachable or hung Redis costs a request at most one timeout and then nothing
while it stays down: the service serves the fallback instead.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError

from app.kit.redis_connect import RedisClient, connect_redis, is_cluster
from numberpool.redis_script import POOL_LUA
from numberpool.rules import (
    ClientKey,
    DrainLimits,
    NumberRecord,
    PoolSettings,
    from_ms,
    restore_order,
    to_ms,
)
from numberpool.store import (
    Closed,
    Exhausted,
    Lease,
    LeaseOutcome,
    NeedsRebuild,
    NotHeld,
    PingOutcome,
    PoolStats,
    RefusalReason,
    Refused,
    StatsOutcome,
    StoreUnavailable,
    SweepOutcome,
    Swept,
)

log = logging.getLogger(__name__)

NO_VISITOR = bytes(16)
CLUSTER_DISCOVERY_S = 5.0
_KEY_NAMES = ("ready", "idle", "exp", "num", "sess", "vis", "lock", "addr", "net", "hold", "rate")
_LOCK = _KEY_NAMES.index("lock")
_REFUSALS: dict[bytes, RefusalReason] = {
    b"address_cap": "address_cap",
    b"network_cap": "network_cap",
    b"rate_cap": "rate_cap",
}
_STATE_CODES = {"free": b"F", "leased": b"L", "cooling": b"C"}


def pool_keys(pool_id: str) -> list[str]:
    """The pool's keys, in the script's KEYS order; one hash tag for all."""
    return [f"cs:{{pool:{pool_id}}}:{name}" for name in _KEY_NAMES]


def _id(value: str) -> bytes:
    """Ids travel as 16 raw bytes: a third of their text size in every hash the pool keeps."""
    return uuid.UUID(value).bytes


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.1,
        retry_after_s: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        # One server, a cluster (each pool's keys share one slot) or Sentinel's master.
        self._client = connect_redis(url, timeout_s=timeout_s, max_connections=max_connections)
        self._script = self._client.register_script(POOL_LUA)
        # One budget for the whole call, whatever the socket is doing (connect, handshake, read).
        self._timeout_s = timeout_s * 1.2
        self._retry_after_s = retry_after_s
        # The breaker, per place a pool can live: one for a single server; per slot on a
        # cluster, so that a shard that is down does not stop the pools of the others.
        self._per_slot = is_cluster(self._client)
        self._down_until: dict[int, float] = {}
        self._layout_known = not self._per_slot
        self._keys: dict[str, list[str]] = {}
        self._numbers: dict[bytes, str] = {}

    @property
    def kind(self) -> str:
        return "redis"

    @property
    def client(self) -> RedisClient:
        return self._client

    def _pool_keys(self, pool_id: str) -> list[str]:
        keys = self._keys.get(pool_id)
        if keys is None:
            keys = self._keys[pool_id] = pool_keys(pool_id)
        return keys

    def _number(self, raw: bytes) -> str:
        number = self._numbers.get(raw)
        if number is None:
            number = self._numbers[raw] = str(uuid.UUID(bytes=raw))
        return number

    def _breaker(self, keys: list[str]) -> int:
        return key_slot(keys[0].encode()) if self._per_slot else 0

    async def _learn_layout(self) -> None:
        """A cluster client first asks which node serves which slots: once, with a budget of its
        own, so the first visits after a start do not fall back for it."""
        assert isinstance(self._client, RedisCluster)
        try:
            async with asyncio.timeout(CLUSTER_DISCOVERY_S):
                await self._client.initialize()
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis cluster: {exc!r}") from exc
        self._layout_known = True

    async def _call(self, pool_id: str, args: Sequence[Any]) -> list[Any]:
        if not self._layout_known:
            await self._learn_layout()
        keys = self._pool_keys(pool_id)
        breaker = self._breaker(keys)
        if time.monotonic() < self._down_until.get(breaker, 0.0):
            raise StoreUnavailable("redis failed moments ago; not retrying yet")
        try:
            async with asyncio.timeout(self._timeout_s):
                reply: list[Any] = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until[breaker] = time.monotonic() + self._retry_after_s
            log.warning("pool store: redis call failed: %r", exc)
            raise StoreUnavailable(f"redis: {exc!r}") from exc
        return reply

    async def _step(
        self,
        op: bytes,
        pool_id: str,
        settings: PoolSettings,
        now: datetime,
        *extra: Any,
    ) -> list[Any]:
        args = (op, to_ms(now), settings.idle_ms, settings.cooldown_ms, settings.max_ms, *extra)
        return await self._call(pool_id, args)

    def _closed(self, reply: list[Any]) -> tuple[Closed, ...]:
        return tuple(
            Closed(self._number(reply[i]), int(reply[i + 1]), from_ms(int(reply[i + 2])))
            for i in range(6, len(reply), 3)
        )

    @staticmethod
    def _client_args(client: ClientKey | None, limits: DrainLimits | None) -> tuple[Any, ...]:
        who = (client.address, client.network) if client is not None else (b"", b"")
        if limits is None:
            return who
        return (
            *who,
            limits.per_address,
            limits.per_network,
            repr(limits.new_per_minute_share),
            limits.new_per_minute_min,
        )

    def _outcome(self, reply: list[Any]) -> PingOutcome | Swept:
        status = reply[0]
        if status == b"rebuild":
            return NeedsRebuild()
        closed = self._closed(reply)
        if status == b"lease":
            return Lease(
                number=self._number(reply[1]),
                generation=int(reply[2]),
                started_at=from_ms(int(reply[3])),
                expires_at=from_ms(int(reply[4])),
                is_new=bool(reply[5]),
                closed=closed,
            )
        if status == b"exhausted":
            return Exhausted(closed)
        if status == b"notheld":
            return NotHeld(closed)
        if status == b"refused":
            return Refused(_REFUSALS[reply[1]], closed)
        return Swept(closed)

    async def lease(
        self,
        pool_id: str,
        *,
        session_id: str,
        visitor_id: str | None,
        settings: PoolSettings,
        now: datetime,
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> LeaseOutcome:
        visitor = _id(visitor_id) if visitor_id else NO_VISITOR
        who = self._client_args(client, limits)
        reply = await self._step(b"lease", pool_id, settings, now, _id(session_id), visitor, *who)
        outcome = self._outcome(reply)
        assert isinstance(outcome, Lease | Exhausted | Refused | NeedsRebuild), outcome
        return outcome

    async def ping(
        self,
        pool_id: str,
        *,
        session_id: str,
        visitor_id: str | None,
        settings: PoolSettings,
        now: datetime,
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> PingOutcome:
        visitor = _id(visitor_id) if visitor_id else NO_VISITOR
        who = self._client_args(client, limits)
        reply = await self._step(b"ping", pool_id, settings, now, _id(session_id), visitor, *who)
        outcome = self._outcome(reply)
        assert not isinstance(outcome, Swept), outcome
        return outcome

    async def release(
        self, pool_id: str, *, session_id: str, settings: PoolSettings, now: datetime
    ) -> SweepOutcome:
        reply = await self._step(b"release", pool_id, settings, now, _id(session_id))
        outcome = self._outcome(reply)
        assert isinstance(outcome, Swept | NeedsRebuild), outcome
        return outcome

    async def sweep(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> SweepOutcome:
        outcome = self._outcome(await self._step(b"sweep", pool_id, settings, now))
        assert isinstance(outcome, Swept | NeedsRebuild), outcome
        return outcome

    async def stats(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> StatsOutcome:
        reply = await self._step(b"stats", pool_id, settings, now)
        if reply[0] == b"rebuild":
            return NeedsRebuild()
        return PoolStats(size=int(reply[1]), leased=int(reply[2]), cooling=int(reply[3]))

    async def begin_rebuild(self, pool_id: str, *, ttl_s: float = 5.0) -> str | None:
        token = secrets.token_hex(8)
        lock = self._pool_keys(pool_id)[_LOCK]
        try:
            async with asyncio.timeout(self._timeout_s):
                taken = await self._client.set(lock, token, nx=True, px=round(ttl_s * 1000))
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from exc
        return token if taken else None

    async def restore(self, pool_id: str, records: Sequence[NumberRecord], *, token: str) -> bool:
        args: list[Any] = [b"restore", token]
        for record in restore_order(records):
            args += (
                _id(record.number),
                record.generation,
                _STATE_CODES[record.state],
                _id(record.session_id) if record.session_id else NO_VISITOR,
                _id(record.visitor_id) if record.visitor_id else NO_VISITOR,
                to_ms(record.started_at) if record.started_at else 0,
                to_ms(record.until) if record.until else 0,
                b"c" if record.capped else b"h",
            )
        reply = await self._call(pool_id, args)
        return bool(reply[0] == b"restored")

    async def abandon_rebuild(self, pool_id: str, *, token: str) -> None:
        await self._call(pool_id, [b"unlock", token])

    async def invalidate(self, pool_id: str) -> None:
        keys = self._pool_keys(pool_id)
        await self._delete([keys[0], keys[_LOCK]])  # ready, and the lock of a rebuild under way

    async def drop(self, pool_id: str) -> None:
        await self._delete(self._pool_keys(pool_id))

    async def _delete(self, keys: list[str]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.delete(*keys)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from exc

    async def healthy(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                return bool(await self._client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
