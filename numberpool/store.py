"""The pool store interface: what both stores (Redis, embedded) do, and what they answer.

A store is a fast cache of the lease log that decides who gets which number. Each call is one
atomic step of one pool at the caller's `now`; the answer carries everything the service must
write to the log (new leases and the leases that step closed). Ids are UUID strings: pools,
numbers (tracking number ids), sessions and visitors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from numberpool.rules import ClientKey, DrainLimits, NumberRecord, PoolSettings


class StoreUnavailable(Exception):
    """The store cannot answer now (unreachable, timed out, being rebuilt by someone else)."""


@dataclass(frozen=True, slots=True)
class Closed:
    """A lease that ended in this step: the log row (number, generation) ends at `ended_at`."""

    number: str
    generation: int
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class Lease:
    """The session's number. `is_new`: a new generation began now and must be logged."""

    number: str
    generation: int
    started_at: datetime
    expires_at: datetime
    is_new: bool
    closed: tuple[Closed, ...] = ()


@dataclass(frozen=True, slots=True)
class Exhausted:
    """No free number: the session gets the fallback."""

    closed: tuple[Closed, ...] = ()


# Why a store refused a lease that a free number could have served (anti-draining).
RefusalReason = Literal["address_cap", "network_cap", "rate_cap"]


@dataclass(frozen=True, slots=True)
class Refused:
    """A number was free, but the client holds its share already or the pool has handed out
    its new leases for this minute: the session gets the fallback."""

    reason: RefusalReason
    closed: tuple[Closed, ...] = ()


@dataclass(frozen=True, slots=True)
class NotHeld:
    """A ping from a session the store does not know (it never had a number, or long ago)."""

    closed: tuple[Closed, ...] = ()


@dataclass(frozen=True, slots=True)
class Swept:
    """Leases ended by a release or a sweep."""

    closed: tuple[Closed, ...] = ()


@dataclass(frozen=True, slots=True)
class NeedsRebuild:
    """The store does not have this pool (never loaded, flushed, restarted, failed over)."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int
    leased: int
    cooling: int

    @property
    def in_use(self) -> int:
        """Numbers nobody else may take now: leased or resting."""
        return self.leased + self.cooling

    @property
    def free(self) -> int:
        return self.size - self.in_use


LeaseOutcome = Lease | Exhausted | Refused | NeedsRebuild
PingOutcome = Lease | Exhausted | Refused | NotHeld | NeedsRebuild
SweepOutcome = Swept | NeedsRebuild
StatsOutcome = PoolStats | NeedsRebuild


class PoolStore(Protocol):
    """One behaviour, two stores; the same tests run against both."""

    @property
    def kind(self) -> str:
        """ "embedded" or "redis"."""
        ...

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
        """The session's number: its own live lease, else the visitor's (live or resting), else
        the least recently released free number, else Exhausted.

        With `limits`, a step that would start a lease on a number not already live for this
        client is Refused when the client's address or network holds its cap of live leases
        (counted in the same atomic step, released when those leases end) or when the pool
        has started its share of new leases this minute. Without `limits` nothing is capped
        (the simulator, the engine's own benchmarks)."""
        ...

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
        """Keep-alive. A session whose lease ended gets it back while it rests, or a new number
        once it is gone or capped; a session the store does not know is NotHeld."""
        ...

    async def release(
        self, pool_id: str, *, session_id: str, settings: PoolSettings, now: datetime
    ) -> SweepOutcome:
        """End the session's lease now; the number rests for the cooldown."""
        ...

    async def sweep(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> SweepOutcome:
        """End every lease that has expired by `now` (every other call does this too)."""
        ...

    async def stats(self, pool_id: str, *, settings: PoolSettings, now: datetime) -> StatsOutcome:
        """Counts at `now`, read-only."""
        ...

    async def begin_rebuild(self, pool_id: str, *, ttl_s: float = 5.0) -> str | None:
        """A token that lets the caller restore the pool, or None if someone else is at it."""
        ...

    async def restore(self, pool_id: str, records: Sequence[NumberRecord], *, token: str) -> bool:
        """Replace the pool with `records` and serve it again; False if the token was lost."""
        ...

    async def abandon_rebuild(self, pool_id: str, *, token: str) -> None:
        """Give the rebuild lock back after a failed rebuild."""
        ...

    async def invalidate(self, pool_id: str) -> None:
        """Stop serving the pool until it is rebuilt (its state is known to be wrong). A rebuild
        already under way read the log before this call, so its restore is refused too."""
        ...

    async def drop(self, pool_id: str) -> None:
        """Forget the pool entirely (a retired pool, a finished simulation)."""
        ...

    async def healthy(self) -> bool:
        """Whether the store answers now; never raises (for /healthz)."""
        ...

    async def close(self) -> None: ...
