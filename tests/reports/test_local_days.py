from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.reports.local_days import split_period, start_of_day

ZONES = ("Europe/Moscow", "America/Sao_Paulo", "Asia/Kathmandu", "Europe/Madrid", "UTC")


def test_whole_days_have_no_edges() -> None:
    zone = ZoneInfo("Europe/Moscow")
    since = datetime(2026, 11, 1, tzinfo=zone).astimezone(UTC)
    until = datetime(2026, 12, 1, tzinfo=zone).astimezone(UTC)
    days = split_period(since, until, zone)
    assert (days.first_day, days.last_day, days.edges) == (
        datetime(2026, 11, 1).date(),
        datetime(2026, 11, 30).date(),
        (),
    )


def test_a_period_inside_one_day_is_one_edge() -> None:
    zone = ZoneInfo("Europe/Madrid")
    since = datetime(2026, 11, 3, 9, tzinfo=UTC)
    until = datetime(2026, 11, 3, 17, tzinfo=UTC)
    days = split_period(since, until, zone)
    assert days.first_day is None
    assert days.edges == ((since, until),)


def test_days_and_edges_tile_the_period_exactly_across_time_changes() -> None:
    # Madrid and Sao Paulo have 23- and 25-hour days in these years; Kathmandu is +05:45.
    rng = random.Random(19)
    for _ in range(2000):
        zone = ZoneInfo(rng.choice(ZONES))
        since = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(700 * 1440))
        until = since + timedelta(minutes=rng.randrange(1, 40 * 1440))
        days = split_period(since, until, zone)
        pieces = list(days.edges)
        if days.first_day is not None and days.last_day is not None:
            assert days.first_day <= days.last_day
            pieces.append(
                (
                    start_of_day(days.first_day, zone),
                    start_of_day(days.last_day + timedelta(days=1), zone),
                )
            )
        pieces.sort()
        assert pieces[0][0] == since
        assert pieces[-1][1] == until
        for (_, end), (start, _) in itertools.pairwise(pieces):
            assert end == start
        # An edge is part of one local day, or of two when no whole day lies between.
        longest = timedelta(hours=26 if days.first_day is not None else 50)
        for start, end in days.edges:
            assert end - start < longest
