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
    ClientKey,
    DrainLimits,
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
    RefusalReason,
    Refused,
    StatsOutcome,
    SweepOutcome,
    Swept,
)


class _Number:
    __slots__ = (
        "capped",
        "ended",
        "expires",
        "generation",
        "holder",
        "id",
        "session",
        "started",
        "visitor",
    )

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
        self.holder: ClientKey | None = None  # the client of its live lease, if known


def _count(counts: dict[bytes, int], key: bytes, delta: int) -> None:
    left = counts.get(key, 0) + delta
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)  # a pool's counts stay as small as its live leases


class _Pool:
    __slots__ = (
        "addresses",
        "idle",
        "leases",
        "minute",
        "networks",
        "numbers",
        "sessions",
        "started_this_minute",
        "visitors",
    )

    def __init__(self) -> None:
        self.numbers: dict[str, _Number] = {}
        self.sessions: dict[str, str] = {}  # session -> number it holds or last held
        self.visitors: dict[str, str] = {}  # visitor -> number it holds or last held
        self.idle: list[tuple[int, int, str, int]] = []  # (ended, slot, number, generation)
        self.leases: list[tuple[int, str]] = []  # (expires, number)
        # Live leases per client address and per network (/24, /64), and new leases this minute.
        self.addresses: dict[bytes, int] = {}
        self.networks: dict[bytes, int] = {}
        self.minute = 0
        self.started_this_minute = 0

    def hold(self, number: _Number, client: ClientKey | None) -> None:
        if client is not None and client.known:
            number.holder = client
            _count(self.addresses, client.address, 1)
            _count(self.networks, client.network, 1)

    def unhold(self, number: _Number) -> None:
        holder, number.holder = number.holder, None
        if holder is not None:
            _count(self.addresses, holder.address, -1)
            _count(self.networks, holder.network, -1)

    def push_idle(self, number: _Number) -> None:
        ended, slot = idle_order(number.ended, number.generation)
        heapq.heappush(self.idle, (ended, slot, number.id, number.generation))

    def push_lease(self, number: _Number) -> None:
        assert number.expires is not None
        heapq.heappush(self.leases, (number.expires, number.id))


class _Step:
    """One atomic step on one pool: `now`, the settings, and the leases it closed."""

    __slots__ = ("client", "closed", "limits", "now", "pool", "settings")

    def __init__(
        self,
        pool: _Pool,
        settings: PoolSettings,
        now: datetime,
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.now = to_ms(now)
        self.closed: list[Closed] = []
        self.client = client
        self.limits = limits

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
        self.pool.unhold(number)
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

    def refusal(self, number: _Number | None) -> RefusalReason | None:
        """Whether starting a lease on `number` (None: a free one) breaks a drain limit."""
        limits, client, pool = self.limits, self.client, self.pool
        if limits is None:
            return None
        live = number is not None and number.expires is not None
        holder = number.holder if number is not None and live else None
        if client is not None and client.known:
            if (holder is None or holder.address != client.address) and pool.addresses.get(
                client.address, 0
            ) >= limits.per_address:
                return "address_cap"
            if (holder is None or holder.network != client.network) and pool.networks.get(
                client.network, 0
            ) >= limits.per_network:
                return "network_cap"
        if not live:
            if pool.minute != self.now // 60_000:
                pool.minute, pool.started_this_minute = self.now // 60_000, 0
            if pool.started_this_minute >= limits.new_per_minute(len(pool.numbers)):
                return "rate_cap"
        return None

    def start(self, number: _Number, session: str, visitor: str | None) -> Lease:
        pool = self.pool
        if number.expires is not None:
            pool.unhold(number)  # a live lease taken over: its client's count moves here
        else:
            if pool.minute != self.now // 60_000:
                pool.minute, pool.started_this_minute = self.now // 60_000, 0
            pool.started_this_minute += 1
        pool.hold(number, self.client)
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
                    return self.start_checked(own, session, visitor)
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
                        refused = self.refusal(mine)
                        if refused is not None:
                            return Refused(refused, tuple(self.closed))
                        self.closed.append(Closed(mine.id, mine.generation, from_ms(self.now)))
                        return self.start(mine, session, visitor)
                    if not mine.capped and self.cooling(mine):
                        return self.start_checked(mine, session, visitor)
        if ping and not known:
            return NotHeld(tuple(self.closed))
        # Checked before a free number is looked for: a client at its cap is refused even when
        # the pool is full, so its sessions never count as the pool being too small.
        refused = self.refusal(None)
        if refused is not None:
            return Refused(refused, tuple(self.closed))
        free = self.take_free()
        if free is None:
            return Exhausted(tuple(self.closed))
        return self.start(free, session, visitor)

    def start_checked(self, number: _Number, session: str, visitor: str | None) -> PingOutcome:
        refused = self.refusal(number)
        if refused is not None:
            return Refused(refused, tuple(self.closed))
        return self.start(number, session, visitor)

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

    def _step(
        self,
        pool_id: str,
        settings: PoolSettings,
        now: datetime,
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> _Step | None:
        pool = self._pools.get(pool_id)
        if pool is None:
            return None
        step = _Step(pool, settings, now, client, limits)
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
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> LeaseOutcome:
        step = self._step(pool_id, settings, now, client, limits)
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
        client: ClientKey | None = None,
        limits: DrainLimits | None = None,
    ) -> PingOutcome:
        step = self._step(pool_id, settings, now, client, limits)
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
