"""Traffic that varies through the day: a rate of sessions per hour for each quarter hour.

Ads come in bursts (a campaign starts, a newsletter goes out, a TV spot airs), and a pool sized
for the mean rate of the busiest hour is far too small for its busiest quarter of an hour.
A profile is given as a CSV (`start,sessions_per_hour`, one row per quarter hour from 00:00)
or chosen among the built-in ones; it repeats when a simulation runs past its end.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

QUARTER_HOUR_S = 900
QUARTERS_PER_DAY = 96


@dataclass(frozen=True, slots=True)
class RateProfile:
    """Sessions per hour in each quarter hour, from 00:00 on."""

    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.rates:
            raise ValueError("a rate profile needs at least one quarter hour")
        if any(rate < 0 for rate in self.rates):
            raise ValueError("a rate profile's sessions_per_hour must not be negative")
        if not any(rate > 0 for rate in self.rates):
            raise ValueError("a rate profile needs at least one quarter hour with sessions")

    def rate_at(self, seconds: float) -> float:
        """The rate `seconds` after the profile's start (repeating; negative counts back)."""
        return self.rates[int(seconds // QUARTER_HOUR_S) % len(self.rates)]

    @property
    def mean(self) -> float:
        return sum(self.rates) / len(self.rates)

    @property
    def peak(self) -> float:
        """The busiest quarter hour's rate."""
        return max(self.rates)

    @property
    def busiest_hour(self) -> float:
        """The mean rate of the busiest 60 minutes (four quarters in a row, wrapping round):
        what sizing by the hour sees, the burst spread over its hour."""
        count = len(self.rates)
        quarters = min(4, count)
        return max(
            sum(self.rates[(start + i) % count] for i in range(quarters)) / quarters
            for start in range(count)
        )

    def scaled_to_mean(self, sessions_per_hour: float) -> RateProfile:
        """The same shape with `sessions_per_hour` on average."""
        if sessions_per_hour <= 0:
            raise ValueError("sessions_per_hour must be positive")
        factor = sessions_per_hour / self.mean
        return RateProfile(tuple(rate * factor for rate in self.rates))


# A shop's day with ads bursting (multiples of a quiet daytime rate): little at night, a
# morning and an afternoon plateau, and four campaign bursts of a quarter to half an hour,
# the evening one the largest (a TV spot and the ad campaigns it sets off).
_AD_BURST_SHAPE: dict[tuple[int, int], float] = {
    (0, 7): 0.1,
    (7, 9): 0.5,
    (9, 18): 1.0,
    (18, 23): 0.8,
    (23, 24): 0.3,
}
_AD_BURSTS: dict[str, float] = {  # quarter hour starting at HH:MM -> multiple of the rate
    "10:00": 6.0,
    "10:15": 4.0,
    "13:30": 5.0,
    "16:45": 4.0,
    "20:00": 12.0,
    "20:15": 8.0,
}


def ad_burst(sessions_per_hour: float) -> RateProfile:
    """The built-in bursty day, with `sessions_per_hour` on average over the day."""
    rates = []
    for quarter in range(QUARTERS_PER_DAY):
        hour = quarter // 4
        base = next(v for (low, high), v in _AD_BURST_SHAPE.items() if low <= hour < high)
        rates.append(_AD_BURSTS.get(_clock(quarter), base))
    return RateProfile(tuple(rates)).scaled_to_mean(sessions_per_hour)


PROFILES = {"ad-burst": ad_burst}


def _clock(quarter: int) -> str:
    minutes = quarter * QUARTER_HOUR_S // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def read_rate_csv(text: str) -> RateProfile:
    """A profile from CSV: a header with `sessions_per_hour` (and, optionally, `start`, which
    must then read 00:00, 00:15, ... in order). ValueError naming the row and column."""
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    if "sessions_per_hour" not in fields:
        raise ValueError("rate CSV: the header must name a sessions_per_hour column")
    rates = []
    for index, row in enumerate(reader):
        line = index + 2  # the header is line 1
        if "start" in fields and (row.get("start") or "").strip() != _clock(index):
            raise ValueError(
                f"rate CSV line {line}, start: expected {_clock(index)} (one row per quarter "
                f"hour from 00:00), got {row.get('start')!r}"
            )
        raw = (row.get("sessions_per_hour") or "").strip()
        try:
            rate = float(raw)
        except ValueError:
            raise ValueError(
                f"rate CSV line {line}, sessions_per_hour: {raw!r} is not a number"
            ) from None
        if not 0 <= rate < float("inf"):
            raise ValueError(f"rate CSV line {line}, sessions_per_hour: {raw!r} must be 0 or more")
        rates.append(rate)
    if not rates:
        raise ValueError("rate CSV: no rows after the header")
    return RateProfile(tuple(rates))
