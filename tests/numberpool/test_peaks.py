"""Sizing by peaks (issue 13): bursty traffic is sized for its busiest quarter hour.

The rate profiles and their CSV; pool health on the real stores, where a burst's
recommendation covers what the burst had in use (the busiest hour's mean did not); and the
simulator replaying a bursty day on the real engine, where a pool of the advised size keeps
the fallback share at or under 1 - coverage and one of the hourly-mean size does not."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from numberpool import health, service
from numberpool.cli import add_pool_commands
from numberpool.rules import PoolSettings
from numberpool.simulate import SimulationResult, simulate
from numberpool.sizing import size_for_profile, size_pool
from numberpool.store import PoolStore
from numberpool.traffic import QUARTERS_PER_DAY, RateProfile, ad_burst, read_rate_csv
from tests.numberpool.conftest import T0, create_pool, create_session, new_store
from tests.numberpool.test_cli import run

MINUTE = timedelta(minutes=1)
COVERAGE = 0.99
SESSION_MINUTES = 3


def test_the_ad_burst_day_has_its_mean_and_short_high_bursts() -> None:
    day = ad_burst(20)
    assert len(day.rates) == QUARTERS_PER_DAY
    assert day.mean == pytest.approx(20)
    assert day.peak > 2 * day.busiest_hour > 4 * day.mean
    assert day.rate_at(-1) == day.rates[-1]  # repeats backwards (the warm-up) and forwards
    assert day.rate_at(QUARTERS_PER_DAY * 900) == day.rates[0]


def test_a_steady_rate_sizes_as_before() -> None:
    steady = RateProfile((50.0,) * 8)
    peak = size_for_profile(steady, session_minutes=5, coverage=COVERAGE)
    assert peak.advice == size_pool(sessions_per_hour=50, session_minutes=5, coverage=COVERAGE)
    assert peak.advice == peak.busiest_hour


def test_a_burst_is_sized_for_its_quarter_hour_not_its_hour() -> None:
    burst = RateProfile((10.0, 10.0, 10.0, 10.0, 400.0, 10.0, 10.0, 10.0))
    assert (burst.peak, burst.busiest_hour) == (400, 107.5)
    peak = size_for_profile(burst, session_minutes=5, coverage=COVERAGE)
    assert peak.advice == size_pool(sessions_per_hour=400, session_minutes=5, coverage=COVERAGE)
    assert peak.advice.numbers > 2 * peak.busiest_hour.numbers


def test_rate_csv_reads_quarter_hours_and_names_bad_rows() -> None:
    profile = read_rate_csv("start,sessions_per_hour\n00:00,10\n00:15,40.5\n00:30,0\n")
    assert profile.rates == (10, 40.5, 0)
    assert read_rate_csv("sessions_per_hour\n3\n").rates == (3,)
    for text, message in [
        ("rate\n1\n", "header must name a sessions_per_hour column"),
        ("start,sessions_per_hour\n00:00,1\n00:30,2\n", "line 3, start: expected 00:15"),
        ("sessions_per_hour\n1\nlots\n", "line 3, sessions_per_hour: 'lots' is not a number"),
        ("sessions_per_hour\n-4\n", "line 2, sessions_per_hour: '-4' must be 0 or more"),
        ("sessions_per_hour\nnan\n", "line 2, sessions_per_hour: 'nan' must be 0 or more"),
        ("sessions_per_hour\n", "no rows"),
        ("sessions_per_hour\n0\n0\n", "at least one quarter hour with sessions"),
    ]:
        with pytest.raises(ValueError, match=message):
            read_rate_csv(text)


def test_busiest_window_counts_any_span() -> None:
    arrivals = [T0 + i * MINUTE for i in range(0, 120, 10)]  # 6 an hour
    burst = [T0 + 200 * MINUTE + i * timedelta(seconds=20) for i in range(30)]  # 10 minutes
    assert health.busiest_window(arrivals, 15 * MINUTE) == 2
    assert health.busiest_window(arrivals + burst, 15 * MINUTE) == 30
    assert health.busiest_hour(arrivals + burst) == 30
    # 30 in a quarter hour are 120 an hour: with 1200 s holding, 40 erlangs.
    assert health.recommended_size_for_peak(peak_15min_sessions=30, holding_s=1200) == 53
    assert health.recommended_size(busiest_hour_sessions=30, holding_s=1200) == 18
    assert health.recommended_size_for_peak(peak_15min_sessions=0, holding_s=None) == 1


async def test_health_recommends_enough_for_a_burst_it_saw(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=60, idle_timeout_s=300, cooldown_s=900)
    # A quiet morning, then an ad: 40 visitors within 8 minutes.
    moments = [T0 + i * 20 * MINUTE for i in range(6)]
    moments += [T0 + 150 * MINUTE + i * timedelta(seconds=12) for i in range(40)]
    for moment in moments:
        session = await create_session(db, setup)
        await service.lease_for_session(
            db,
            store,
            pool=setup.pool,
            session_id=session.id,
            visitor_id=session.visitor_id,
            source="google",
            medium="cpc",
            campaign="burst",
            now=moment,
        )
    result = await service.pool_health(db, store, pool=setup.pool, now=T0 + 165 * MINUTE, hours=24)

    assert result.fallback_sessions == 0
    assert result.peak_in_use >= 40
    # The burst, and the burst with the morning's last visit 50 minutes before it.
    assert (result.peak_15min_sessions, result.busiest_hour_sessions) == (40, 41)
    # The busiest hour's mean spreads the burst evenly and falls short of what it had in use.
    assert result.recommended_size_hourly_mean < result.peak_in_use
    assert result.recommended_size >= result.peak_in_use


async def _simulate_day(kind: str, numbers: int, day: RateProfile) -> SimulationResult:
    store = new_store(kind, timeout_s=5.0)
    try:
        return await simulate(
            store,
            numbers=numbers,
            sessions_per_hour=day.mean,
            session_minutes=SESSION_MINUTES,
            hours=24,
            settings=PoolSettings(),
            seed=11,
            profile=day,
        )
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["embedded", "redis"])
async def test_a_pool_sized_by_the_advice_serves_the_bursty_day(
    kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "redis":
        request.getfixturevalue("redis_url")  # Redis must be there (it fails under CI)
    day = ad_burst(20)
    advice = size_for_profile(day, session_minutes=SESSION_MINUTES, coverage=COVERAGE)

    sized = await _simulate_day(kind, advice.advice.numbers, day)
    hourly = await _simulate_day(kind, advice.busiest_hour.numbers, day)

    assert sized.sessions > 400
    assert sized.fallback_share <= 1 - COVERAGE
    assert sized.in_use_after_drain == 0
    # What sizing by the busiest hour's mean advised turns away far more on the same day.
    assert hourly.fallback_share > 1 - COVERAGE
    assert hourly.peak_in_use == advice.busiest_hour.numbers


def test_pool_size_with_a_profile_advises_for_the_peak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["pool", "size", "--sessions-per-hour", "20", "--profile", "ad-burst"]
    code, body = run([*argv, "--session-minutes", "3", "--coverage", "0.99"], capsys)
    assert code == 0
    day = ad_burst(20)
    advice = size_for_profile(day, session_minutes=3, coverage=0.99)
    assert body["numbers"] == advice.advice.numbers
    assert body["numbers_for_busiest_hour_mean"] == advice.busiest_hour.numbers
    assert body["peak_sessions_per_hour"] == pytest.approx(day.peak, rel=1e-5)
    assert body["mean_sessions_per_hour"] == pytest.approx(20)
    assert {"offered_load", "loss", "mean_holding_s"} <= set(body)


def test_pool_size_and_simulate_read_a_rate_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rates = tmp_path / "day.csv"
    rates.write_text("start,sessions_per_hour\n00:00,10\n00:15,10\n00:30,200\n00:45,10\n")
    code, size = run(
        ["pool", "size", "--rate-csv", str(rates), "--session-minutes", "3", "--coverage", "0.9"],
        capsys,
    )
    assert code == 0
    assert (
        size["numbers"] == size_pool(sessions_per_hour=200, session_minutes=3, coverage=0.9).numbers
    )
    argv = ["pool", "simulate", "--rate-csv", str(rates), "--numbers", str(size["numbers"])]
    code, sim = run([*argv, "--session-minutes", "3", "--hours", "4"], capsys)
    assert code == 0
    assert sim["mean_sessions_per_hour"] == pytest.approx(57.5)
    assert sim["peak_sessions_per_hour"] == 200
    assert isinstance(sim["fallback_share"], float)
    assert sim["fallback_share"] <= 0.1
    assert isinstance(sim["sessions"], int)
    assert sim["sessions"] > 100


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rate-csv", "/nonexistent/day.csv"], "--rate-csv /nonexistent/day.csv: No such file"),
        (["--rate-csv", "{csv}", "--sessions-per-hour", "5"], "not both"),
        ([], "--sessions-per-hour is required"),
        (["--rate-csv", "{bad}"], "line 2, sessions_per_hour"),
    ],
)
def test_bad_rates_are_clear_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("sessions_per_hour\n5\n")
    bad.write_text("sessions_per_hour\nmany\n")
    extra = [x.format(csv=good, bad=bad) for x in extra]
    code, body = run(
        ["pool", "size", *extra, "--session-minutes", "3", "--coverage", "0.9"], capsys
    )
    assert code == 2
    assert message in str(body["stderr"])


def test_the_parser_refuses_a_profile_and_a_csv_together(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="callsource")
    add_pool_commands(parser.add_subparsers(dest="command", required=True))
    argv = ["pool", "size", "--profile", "ad-burst", "--rate-csv", "x.csv"]
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--coverage", "0.9", "--session-minutes", "3"])
