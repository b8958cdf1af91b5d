"""Pool health from the assignment log: occupancy, peak, busiest windows and the size to recommend.

The size is recommended for the busiest quarter hour's arrival rate: ad traffic comes in
bursts, and the busiest hour's mean spreads a burst over its hour (a pool sized by it was
found at a sixth of the numbers the burst had in use)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from numberpool.sizing import smallest_pool

# The recommendation aims at 99 % of the busiest quarter hour's sessions getting a number.
TARGET_LOSS = 0.01
HOUR = timedelta(hours=1)
PEAK_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PoolHealth:
    size: int
    in_use: int
    peak_in_use: int
    sessions: int
    fallback_sessions: int
    fallback_share: float
    recommended_size: int  # for the busiest quarter hour's rate
    # Sizing by peaks (issue 13): what the recommendation rests on, and the old hourly figure.
    peak_15min_sessions: int
    busiest_hour_sessions: int
    recommended_size_hourly_mean: int
    # Sessions refused a dynamic number by the anti-draining rules, by reason; not counted in
    # `sessions` or `fallback_sessions`.
    refused_sessions: dict[str, int] = field(default_factory=dict)


def occupied(
    leases: Iterable[tuple[uuid.UUID, datetime, datetime | None]],
    *,
    cooldown: timedelta,
    max_lease: timedelta,
    now: datetime,
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """When each number was unavailable to others: lease plus cooldown, merged per number (a
    visitor who gets their number back inside the cooldown does not occupy it twice)."""
    spans: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for number, started, ended in leases:
        end = ended if ended is not None else min(now, started + max_lease)
        spans[number].append((started, end + cooldown))
    merged: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for number, intervals in spans.items():
        intervals.sort()
        out = [intervals[0]]
        for start, end in intervals[1:]:
            if start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[number] = out
    return merged


def peak_in_use(
    spans: dict[uuid.UUID, list[tuple[datetime, datetime]]], *, start: datetime, end: datetime
) -> int:
    """The most numbers occupied at once within [start, end]."""
    events: list[tuple[datetime, int]] = []
    for intervals in spans.values():
        for low, high in intervals:
            if high > start and low <= end:
                events.append((max(low, start), 1))
                events.append((high, -1))
    # At equal times a release sorts before a lease: a number freed at t is free at t.
    events.sort(key=lambda event: (event[0], event[1]))
    peak = current = 0
    for _moment, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def in_use_at(spans: dict[uuid.UUID, list[tuple[datetime, datetime]]], moment: datetime) -> int:
    return sum(
        1 for intervals in spans.values() if any(low <= moment < high for low, high in intervals)
    )


def busiest_hour(first_seen: Iterable[datetime]) -> int:
    """The most sessions that arrived within any 60 minutes."""
    return busiest_window(first_seen, HOUR)


def busiest_window(first_seen: Iterable[datetime], window: timedelta) -> int:
    """The most sessions that arrived within any span of `window`."""
    times = sorted(first_seen)
    best = low = 0
    for high, moment in enumerate(times):
        while times[low] <= moment - window:
            low += 1
        best = max(best, high - low + 1)
    return best


def mean_holding_s(
    leases: Iterable[tuple[uuid.UUID, datetime, datetime | None]],
    *,
    idle_timeout: timedelta,
    cooldown: timedelta,
    max_lease: timedelta,
    start: datetime,
    now: datetime,
) -> float | None:
    """Mean time a lease started in the window kept its number from others, or None if none.

    A lease still open lasts at least until now and at least one idle timeout.
    """
    total, count = 0.0, 0
    for _number, started, ended in leases:
        if started < start:
            continue
        if ended is not None:
            end = ended
        else:
            end = min(max(now, started + idle_timeout), started + max_lease)
        total += (end - started + cooldown).total_seconds()
        count += 1
    return total / count if count else None


def recommended_size(*, busiest_hour_sessions: int, holding_s: float | None) -> int:
    """Numbers for the busiest hour's mean rate at TARGET_LOSS; at least one."""
    return _size_for(busiest_hour_sessions, HOUR, holding_s)


def recommended_size_for_peak(*, peak_15min_sessions: int, holding_s: float | None) -> int:
    """Numbers for the busiest quarter hour's rate, as if it lasted, at TARGET_LOSS; at least
    one. A burst shorter than a holding time never fills the pool as a lasting rate would, so
    the whole window then loses at most TARGET_LOSS."""
    return _size_for(peak_15min_sessions, PEAK_WINDOW, holding_s)


def _size_for(sessions: int, window: timedelta, holding_s: float | None) -> int:
    if holding_s is None or sessions == 0:
        return 1
    load = sessions / window.total_seconds() * holding_s
    return max(1, smallest_pool(load, TARGET_LOSS))
