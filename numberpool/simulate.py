"""Drive the real pool engine on a simulated clock and compare its losses with Erlang B.

Sessions arrive as a Poisson process (steady, or with a rate that changes by the quarter hour:
numberpool.traffic), last an exponential time, ping every `ping_s` seconds while
they last and then go quiet, so their lease idles out and the number rests for the cooldown. A
store call is made for every arrival and every ping, exactly as the tracker would make them. The
share of sessions that found no number must match Erlang B for the same offered load, and once
everyone has left the pool must be empty again: a leaked number would show in both.
"""

from __future__ import annotations

import heapq
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from numberpool.rules import PoolSettings, fresh_records, from_ms, to_ms
from numberpool.sizing import erlang_b, mean_holding_s, offered_load
from numberpool.store import Lease, NeedsRebuild, PoolStats, PoolStore, StoreUnavailable
from numberpool.traffic import QUARTER_HOUR_S, RateProfile

SIM_START = datetime(2026, 1, 1, tzinfo=UTC)
# Sessions arriving before the counted hours fill the pool to its steady state first.
WARMUP_HOLDING_TIMES = 5


@dataclass(frozen=True, slots=True)
class SimulationResult:
    sessions: int
    fallback_sessions: int
    fallback_share: float
    erlang_b: float
    offered_load: float
    mean_holding_s: float
    peak_in_use: int
    # After the last session left and its number rested: anything but 0 is a leaked number.
    in_use_after_drain: int
    store_calls: int
    # With a rate profile: the busiest quarter hour's load and its Erlang B (the mean's above).
    peak_offered_load: float
    erlang_b_peak: float


async def simulate(
    store: PoolStore,
    *,
    numbers: int,
    sessions_per_hour: float,
    session_minutes: float,
    hours: float,
    settings: PoolSettings | None = None,
    ping_s: float = 60,
    seed: int = 1,
    profile: RateProfile | None = None,
) -> SimulationResult:
    """`profile`, when given, sets the arrival rate of each quarter hour from SIM_START (and
    repeats); `sessions_per_hour` must then be its mean."""
    settings = settings or PoolSettings()
    if profile is not None and abs(profile.mean - sessions_per_hour) > 1e-9 * profile.mean:
        raise ValueError("sessions_per_hour must be the rate profile's mean")
    if numbers < 1 or sessions_per_hour <= 0 or session_minutes <= 0 or hours <= 0:
        raise ValueError("numbers, sessions_per_hour, session_minutes and hours must be positive")
    if ping_s < 0:
        raise ValueError("ping_s must not be negative")
    rng = random.Random(seed)
    holding_s = mean_holding_s(
        session_s=session_minutes * 60,
        idle_timeout_s=settings.idle_timeout_s,
        cooldown_s=settings.cooldown_s,
        ping_s=ping_s,
    )
    load = offered_load(sessions_per_hour=sessions_per_hour, holding_s=holding_s)
    peak_load = offered_load(
        sessions_per_hour=profile.peak if profile else sessions_per_hour, holding_s=holding_s
    )
    pool_id = str(_uuid(rng))
    token = await store.begin_rebuild(pool_id)
    if token is None or not await store.restore(
        pool_id, fresh_records([str(_uuid(rng)) for _ in range(numbers)]), token=token
    ):
        raise StoreUnavailable("could not set up the simulated pool")
    try:
        sim = _Simulation(
            store,
            pool_id=pool_id,
            settings=settings,
            rng=rng,
            arrival_mean_ms=3_600_000 / sessions_per_hour,
            profile=profile,
            session_mean_ms=session_minutes * 60_000,
            ping_ms=round(ping_s * 1000),
            start_ms=to_ms(SIM_START) - round(WARMUP_HOLDING_TIMES * holding_s * 1000),
            counted_from_ms=to_ms(SIM_START),
            end_ms=to_ms(SIM_START) + round(hours * 3_600_000),
        )
        await sim.run()
        leaked = await sim.drain()
    finally:
        await store.drop(pool_id)
    return SimulationResult(
        sessions=sim.sessions,
        fallback_sessions=sim.fallback_sessions,
        fallback_share=sim.fallback_sessions / sim.sessions if sim.sessions else 0.0,
        erlang_b=erlang_b(numbers, load),
        offered_load=load,
        mean_holding_s=holding_s,
        peak_in_use=sim.peak_in_use,
        in_use_after_drain=leaked,
        store_calls=sim.store_calls,
        peak_offered_load=peak_load,
        erlang_b_peak=erlang_b(numbers, peak_load),
    )


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class _Simulation:
    def __init__(
        self,
        store: PoolStore,
        *,
        pool_id: str,
        settings: PoolSettings,
        rng: random.Random,
        arrival_mean_ms: float,
        profile: RateProfile | None,
        session_mean_ms: float,
        ping_ms: int,
        start_ms: int,
        counted_from_ms: int,
        end_ms: int,
    ) -> None:
        self.store, self.pool_id, self.settings, self.rng = store, pool_id, settings, rng
        self.arrival_mean_ms, self.session_mean_ms = arrival_mean_ms, session_mean_ms
        self.profile = profile
        self.ping_ms = ping_ms
        self.now_ms, self.counted_from_ms, self.end_ms = start_ms, counted_from_ms, end_ms
        # (time, sequence, session id, visitor id, session end); the sequence breaks ties.
        self.pings: list[tuple[int, int, str, str, int]] = []
        self.sequence = 0
        self.sessions = self.fallback_sessions = self.peak_in_use = self.store_calls = 0

    def _exp_ms(self, mean_ms: float) -> int:
        return round(self.rng.expovariate(1 / mean_ms))

    async def run(self) -> None:
        next_arrival = self._next_arrival(self.now_ms)
        while True:
            if self.pings and self.pings[0][0] <= next_arrival:
                at, _seq, session, visitor, leaves = heapq.heappop(self.pings)
                if at >= self.end_ms:
                    return
                self.now_ms = at
                await self._ping(session, visitor, leaves)
                continue
            if next_arrival >= self.end_ms:
                return
            self.now_ms = next_arrival
            await self._arrive()
            next_arrival = self._next_arrival(self.now_ms)

    def _next_arrival(self, after_ms: int) -> int:
        """The next arrival after `after_ms`. With a profile the rate is constant within each
        quarter hour: draw a gap at this quarter's rate, and if it reaches past the quarter,
        start again from the quarter's end (exact, since arrivals have no memory)."""
        if self.profile is None:
            return after_ms + self._exp_ms(self.arrival_mean_ms)
        quarter_ms = QUARTER_HOUR_S * 1000
        moment = float(after_ms)
        while True:
            since_start = moment - self.counted_from_ms
            boundary = self.counted_from_ms + (since_start // quarter_ms + 1) * quarter_ms
            rate = self.profile.rate_at(since_start / 1000)
            if rate > 0:
                arrival = moment + self.rng.expovariate(rate / 3_600_000)
                if arrival < boundary:
                    return round(arrival)
            moment = boundary

    async def _arrive(self) -> None:
        session, visitor = str(_uuid(self.rng)), str(_uuid(self.rng))
        leaves = self.now_ms + self._exp_ms(self.session_mean_ms)
        counted = self.now_ms >= self.counted_from_ms
        now = from_ms(self.now_ms)
        outcome = await self.store.lease(
            self.pool_id, session_id=session, visitor_id=visitor, settings=self.settings, now=now
        )
        self.store_calls += 1
        if isinstance(outcome, NeedsRebuild):
            raise StoreUnavailable("the store lost the simulated pool")
        if counted:
            self.sessions += 1
        if not isinstance(outcome, Lease):
            if counted:
                self.fallback_sessions += 1
            return  # a session that found the pool full keeps its fallback: no pings matter
        if counted:
            stats = await self.store.stats(self.pool_id, settings=self.settings, now=now)
            self.store_calls += 1
            if isinstance(stats, PoolStats):
                self.peak_in_use = max(self.peak_in_use, stats.in_use)
        self._schedule(session, visitor, leaves)

    async def _ping(self, session: str, visitor: str, leaves: int) -> None:
        outcome = await self.store.ping(
            self.pool_id,
            session_id=session,
            visitor_id=visitor,
            settings=self.settings,
            now=from_ms(self.now_ms),
        )
        self.store_calls += 1
        if isinstance(outcome, Lease):
            self._schedule(session, visitor, leaves)

    def _schedule(self, session: str, visitor: str, leaves: int) -> None:
        if self.ping_ms <= 0:
            return
        at = self.now_ms + self.ping_ms
        if at < leaves:
            self.sequence += 1
            heapq.heappush(self.pings, (at, self.sequence, session, visitor, leaves))

    async def drain(self) -> int:
        """Numbers still in use once every lease has idled out and rested."""
        settings = self.settings
        later = from_ms(self.end_ms + settings.idle_ms + settings.cooldown_ms + 1)
        await self.store.sweep(self.pool_id, settings=settings, now=later)
        stats = await self.store.stats(self.pool_id, settings=settings, now=later)
        if not isinstance(stats, PoolStats):
            raise StoreUnavailable("the store lost the simulated pool")
        return stats.in_use
