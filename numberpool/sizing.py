"""Sizing a pool: the pool is a loss system, so Erlang B gives the share of sessions it turns away.

Sessions arrive at rate L and each keeps a number for H seconds on average (the visit until its
last ping, then the idle timeout, then the cooldown). With c numbers, the share of sessions that
find none free is Erlang B(c, L*H) whatever the distribution of H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numberpool.traffic import RateProfile


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability, by the recursion B(k) = A*B(k-1) / (k + A*B(k-1)), B(0) = 1.

    Stable for any size: no factorials or powers, every step stays in [0, 1].
    """
    if servers < 0 or offered_load < 0:
        raise ValueError("servers and offered_load must not be negative")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return blocking


def smallest_pool(offered_load: float, max_loss: float) -> int:
    """The fewest numbers whose Erlang B loss is at most `max_loss` (0 < max_loss <= 1)."""
    if not 0 < max_loss <= 1:
        raise ValueError("max_loss must be in (0, 1]")
    servers, blocking = 0, 1.0
    while blocking > max_loss:
        servers += 1
        blocking = offered_load * blocking / (servers + offered_load * blocking)
    return servers


def mean_holding_s(
    *, session_s: float, idle_timeout_s: float, cooldown_s: float, ping_s: float
) -> float:
    """How long a session keeps a number on average: last ping + idle timeout + cooldown.

    With exponential visits of mean T and a ping every P seconds from the start, the last ping
    comes at P * floor(visit / P), whose mean is P * q / (1 - q) with q = exp(-P / T). With no
    pings (P = 0) the lease lasts the visit itself. (max_lease is ignored: hours, not minutes.)
    """
    if session_s < 0 or ping_s < 0:
        raise ValueError("session_s and ping_s must not be negative")
    if ping_s == 0 or session_s == 0:
        last_ping_s = session_s
    else:
        q = math.exp(-ping_s / session_s)
        last_ping_s = ping_s * q / (1 - q)
    return last_ping_s + idle_timeout_s + cooldown_s


def offered_load(*, sessions_per_hour: float, holding_s: float) -> float:
    """Erlangs: numbers busy on average if no session were ever turned away."""
    return sessions_per_hour / 3600 * holding_s


@dataclass(frozen=True, slots=True)
class PoolSize:
    numbers: int
    offered_load: float
    loss: float
    mean_holding_s: float


def size_pool(
    *,
    sessions_per_hour: float,
    session_minutes: float,
    coverage: float,
    idle_timeout_s: float = 300,
    cooldown_s: float = 900,
    ping_s: float = 60,
) -> PoolSize:
    """The smallest pool that gives a dynamic number to at least `coverage` of the sessions."""
    if not 0 < coverage < 1:
        raise ValueError("coverage must be between 0 and 1 (e.g. 0.99)")
    if sessions_per_hour < 0:
        raise ValueError("sessions_per_hour must not be negative")
    holding = mean_holding_s(
        session_s=session_minutes * 60,
        idle_timeout_s=idle_timeout_s,
        cooldown_s=cooldown_s,
        ping_s=ping_s,
    )
    load = offered_load(sessions_per_hour=sessions_per_hour, holding_s=holding)
    numbers = smallest_pool(load, 1 - coverage)
    return PoolSize(
        numbers=numbers, offered_load=load, loss=erlang_b(numbers, load), mean_holding_s=holding
    )


@dataclass(frozen=True, slots=True)
class PeakSize:
    """The advice for traffic that varies: sized for its busiest quarter hour."""

    advice: PoolSize  # at the peak quarter-hour rate
    peak_sessions_per_hour: float
    busiest_hour: PoolSize  # at the busiest hour's mean rate: too small when bursts are short
    busiest_hour_sessions_per_hour: float


def size_for_profile(
    profile: RateProfile,
    *,
    session_minutes: float,
    coverage: float,
    idle_timeout_s: float = 300,
    cooldown_s: float = 900,
    ping_s: float = 60,
) -> PeakSize:
    """The smallest pool that gives `coverage` of the sessions of the busiest quarter hour a
    dynamic number, as if that rate lasted; the whole day then gets at least as much, since a
    burst shorter than a holding time never fills the pool as a lasting rate would."""
    timings = {
        "session_minutes": session_minutes,
        "coverage": coverage,
        "idle_timeout_s": idle_timeout_s,
        "cooldown_s": cooldown_s,
        "ping_s": ping_s,
    }
    return PeakSize(
        advice=size_pool(sessions_per_hour=profile.peak, **timings),
        peak_sessions_per_hour=profile.peak,
        busiest_hour=size_pool(sessions_per_hour=profile.busiest_hour, **timings),
        busiest_hour_sessions_per_hour=profile.busiest_hour,
    )
