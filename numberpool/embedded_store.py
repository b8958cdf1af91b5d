"""The embedded store: the pool engine in this process, for the SQLite default and one process.

Every method does its whole step without awaiting, so under asyncio each step is atomic: no
lock is needed. The rules mirror numberpool/lua/pool.lua step for step (the same test suite runs
against both): leases expire through a heap keyed by expiry, idle numbers wait in a heap keyed by
(released at, assignments, number), and entries made stale by later steps are skipped when they
surface instead of being searched for and removed.
"""

from __future__ import annotations

import heapq
import secrets
import time
from collections.abc import Sequence
from datetime import datetime

from numberpool.rules import (
    NumberRecord,
    PoolSettings,
    from_ms,
    idle_order,
    lease_expiry_ms,
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
    StatsOutcome,
    SweepOutcome,
    Swept,
)


class _Number:
    __slots__ = ("capped", "ended", "expires", "generation", "id", "session", "started", "visitor")

    def __init__(self, number_id: str, generation: int) -> None:
        self.id = number_id
        self.generation = generation
        # The last holder, kept while the number rests so the visitor can have it back.
        self.session: str | None = None
        self.visitor: str | None = None
        self.started = 0
        self.capped = False
        self.expires: int | None = None  # set while leased
        self.ended = 0  # when it was last released (0: never)


class _Pool:
    __slots__ = ("idle", "leases", "numbers", "sessions", "visitors")

    def __init__(self) -> None:
        self.numbers: dict[str, _Number] = {}
        self.sessions: dict[str, str] = {}  # session -> number it holds or last held
        self.visitors: dict[str, str] = {}  # visitor -> number it holds or last held
        self.idle: list[tuple[int, int, str, int]] = []  # (ended, slot, number, generation)
        self.leases: list[tuple[int, str]] = []  # (expires, number)

    def push_idle(self, number: _Number) -> None:
        ended, slot = idle_order(number.ended, number.generation)
        heapq.heappush(self.idle, (ended, slot, number.id, number.generation))

    def push_lease(self, number: _Number) -> None:
        assert number.expires is not None
        heapq.heappush(self.leases, (number.expires, number.id))


class _Step:
    """One atomic step on one pool: `now`, the settings, and the leases it closed."""

    __slots__ = ("closed", "now", "pool", "settings")

    def __init__(self, pool: _Pool, settings: PoolSettings, now: datetime) -> None:
        self.pool = pool
        self.settings = settings
        self.now = to_ms(now)
        self.closed: list[Closed] = []

    def sweep(self) -> None:
        leases, now = self.pool.leases, self.now
        while leases and leases[0][0] <= now:
            expires, number_id = heapq.heappop(leases)
            number = self.pool.numbers.get(number_id)
            if number is None or number.expires != expires:
                continue  # extended or ended since this entry was pushed
            capped = expires >= number.started + self.settings.max_ms
            self.end(number, expires, capped=capped)

    def end(self, number: _Number, ended: int, *, capped: bool) -> None:
        number.expires = None
        number.ended = ended
        number.capped = capped
        self.closed.append(Closed(number.id, number.generation, from_ms(ended)))
        self.pool.push_idle(number)

    def cooling(self, number: _Number) -> bool:
        return number.expires is None and number.ended + self.settings.cooldown_ms > self.now

    def extend(self, number: _Number) -> Lease:
        number.expires = lease_expiry_ms(
            started_ms=number.started, now_ms=self.now, settings=self.settings
        )
        self.pool.push_lease(number)
        return self.lease(number, is_new=False)

    def start(self, number: _Number, session: str, visitor: str | None) -> Lease:
        pool = self.pool
        if number.session is not None:
            # The previous holder's pointers go, unless they already point elsewhere.
            if number.session != session and pool.sessions.get(number.session) == number.id:
                del pool.sessions[number.session]
            old_visitor = number.visitor
            if (
                old_visitor is not None
                and old_visitor != visitor
                and pool.visitors.get(old_visitor) == number.id
            ):
                del pool.visitors[old_visitor]
        number.generation += 1
        number.session, number.visitor = session, visitor
        number.started, number.capped = self.now, False
        number.expires = lease_expiry_ms(
            started_ms=self.now, now_ms=self.now, settings=self.settings
        )
        pool.sessions[session] = number.id
        if visitor is not None:
            pool.visitors[visitor] = number.id
        pool.push_lease(number)
        return self.lease(number, is_new=True)

    def take_free(self) -> _Number | None:
        idle, numbers = self.pool.idle, self.pool.numbers
        latest_release = self.now - self.settings.cooldown_ms
        while idle:
            ended, _slot, number_id, generation = idle[0]
            number = numbers.get(number_id)
            if (
                number is None
                or number.expires is not None
                or number.ended != ended
                or number.generation != generation
            ):
                heapq.heappop(idle)
                continue
            if ended > latest_release:
                return None  # the least recently released number still rests: all do
            heapq.heappop(idle)
            return number
        return None

    def serve(self, session: str, visitor: str | None, *, ping: bool) -> PingOutcome:
        pool = self.pool
        skip: str | None = None
        known = False
        own_id = pool.sessions.get(session)
        if own_id is not None:
            own = pool.numbers[own_id]
            if own.session == session:
                known = True
                if own.expires is not None:
                    return self.extend(own)
                if own.capped:
                    skip = own_id  # max_lease is up: this session gets another number
                elif self.cooling(own):
                    return self.start(own, session, visitor)
            else:
                del pool.sessions[session]
        if visitor is not None:
            mine_id = pool.visitors.get(visitor)
            if mine_id is not None and mine_id != skip:
                mine = pool.numbers[mine_id]
                if mine.visitor == visitor:
                    if mine.expires is not None:
                        if ping:
                            return self.extend(mine)  # another tab of the visitor keeps it alive
                        # A new session of the same visitor takes the lease over.
                        self.closed.append(Closed(mine.id, mine.generation, from_ms(self.now)))
                        return self.start(mine, session, visitor)
                    if not mine.capped and self.cooling(mine):
                        return self.start(mine, session, visitor)
        if ping and not known:
            return NotHeld(tuple(self.closed))
        free = self.take_free()
        if free is None:
            return Exhausted(tuple(self.closed))
        return self.start(free, session, visitor)

    def lease(self, number: _Number, *, is_new: bool) -> Lease:
        assert number.expires is not None
        return Lease(
            number=number.id,
            generation=number.generation,
            started_at=from_ms(number.started),
            expires_at=from_ms(number.expires),
            is_new=is_new,
            closed=tuple(self.closed),
        )


class EmbeddedStore:
    """The in-process store; pools live as long as the process and are rebuilt from the log."""

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}
        self._locks: dict[str, tuple[str, float]] = {}

    @property
    def kind(self) -> str:
        return "embedded"

    def _step(self, pool_id: str, settings: PoolSettings, now: datetime) -> _Step | None:
        pool = self._pools.get(pool_id)
        if pool is None:
            return None
        step = _Step(pool, settings, now)
        step.sweep()
        return step

    async def lease(
        self,
        pool_id: str,
        *,
        session_id: str,
        visitor_id: str | None,
        settings: PoolSettings,
        now: datetime,
    ) -> LeaseOutcome:
        step = self._step(pool_id, settings, now)
        if step is None:
            return NeedsRebuild()
        outcome = step.serve(session_id, visitor_id, ping=False)
        assert not isinstance(outcome, NotHeld)
        return outcome

    async def ping(
        self,
        pool_id: str,
        *,
        session_id: str,
        visitor_id: str | None,
        settings: PoolSettings,
        now: datetime,
    ) -> PingOutcome:
        step = self._step(pool_id, settings, now)
        if step is None:
            return NeedsRebuild()
        return step.serve(session_id, visitor_id, ping=True)

    async def release(
        self, pool_id: str, *, session_id: str, settings: PoolSettings, now: datetime
    ) -> SweepOutcome:
        step = self._step(pool_id, settings, now)
        if step is None:
            return NeedsRebuild()
        own_id = step.pool.sessions.get(session_id)
        if own_id is not None:
            own = step.pool.numbers[own_id]
            if own.session == session_id and own.expires is not None:
                step.end(own, step.now, capped=False)
        return Swept(tuple(step.closed))

    async def sweep(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> SweepOutcome:
        step = self._step(pool_id, settings, now)
        if step is None:
            return NeedsRebuild()
        return Swept(tuple(step.closed))

    async def stats(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> StatsOutcome:
        pool = self._pools.get(pool_id)
        if pool is None:
            return NeedsRebuild()
        now_ms, rested = to_ms(now), to_ms(now) - settings.cooldown_ms
        leased = cooling = 0
        for number in pool.numbers.values():
            if number.expires is not None and number.expires > now_ms:
                leased += 1
            elif (number.expires if number.expires is not None else number.ended) > rested:
                cooling += 1
        return PoolStats(size=len(pool.numbers), leased=leased, cooling=cooling)

    async def begin_rebuild(self, pool_id: str, *, ttl_s: float = 5.0) -> str | None:
        held = self._locks.get(pool_id)
        if held is not None and held[1] > time.monotonic():
            return None
        token = secrets.token_hex(8)
        self._locks[pool_id] = (token, time.monotonic() + ttl_s)
        return token

    async def restore(self, pool_id: str, records: Sequence[NumberRecord], *, token: str) -> bool:
        held = self._locks.get(pool_id)
        if held is None or held[0] != token:
            return False
        if pool_id in self._pools:
            # Rebuilt by another caller since this one found it missing: see the Redis script.
            del self._locks[pool_id]
            return False
        pool = _Pool()
        for record in restore_order(records):
            number = _Number(record.number, record.generation)
            pool.numbers[number.id] = number
            until = to_ms(record.until) if record.until is not None else 0
            if record.state != "free":
                assert record.session_id is not None
                assert record.started_at is not None
                number.session, number.visitor = record.session_id, record.visitor_id
                number.started, number.capped = to_ms(record.started_at), record.capped
                pool.sessions[record.session_id] = number.id
                if record.visitor_id is not None:
                    pool.visitors[record.visitor_id] = number.id
            if record.state == "leased":
                number.expires = until
                pool.push_lease(number)
            else:
                number.ended = until
                pool.push_idle(number)
        self._pools[pool_id] = pool
        del self._locks[pool_id]
        return True

    async def abandon_rebuild(self, pool_id: str, *, token: str) -> None:
        held = self._locks.get(pool_id)
        if held is not None and held[0] == token:
            del self._locks[pool_id]

    async def invalidate(self, pool_id: str) -> None:
        self._pools.pop(pool_id, None)
        self._locks.pop(pool_id, None)  # a rebuild under way read the log too early

    async def drop(self, pool_id: str) -> None:
        self._pools.pop(pool_id, None)
        self._locks.pop(pool_id, None)

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._pools.clear()
