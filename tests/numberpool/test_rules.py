"""Pure rules: time in milliseconds and what a logged lease means after a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from numberpool.rules import LoggedLease, PoolSettings, from_ms, restore_record, to_ms
from tests.numberpool.conftest import T0

RULES = PoolSettings(idle_timeout_s=300, cooldown_s=900, max_lease_s=3600)


def test_milliseconds_round_trip_exactly() -> None:
    moment = T0 + timedelta(microseconds=123_999)
    assert from_ms(to_ms(moment)) == T0 + timedelta(milliseconds=123)
    assert to_ms(from_ms(1_793_612_345_678)) == 1_793_612_345_678


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        PoolSettings(idle_timeout_s=0)


def logged(started_s: float, ended_s: float | None) -> LoggedLease:
    ended = None if ended_s is None else T0 + timedelta(seconds=ended_s)
    return LoggedLease(3, "s", "v", T0 + timedelta(seconds=started_s), ended)


def test_an_open_row_comes_back_as_a_lease_with_a_full_idle_timeout() -> None:
    record = restore_record("n", logged(-100, None), settings=RULES, now=T0)
    assert (record.state, record.generation, record.until) == (
        "leased",
        3,
        T0 + timedelta(seconds=300),
    )
    capped = restore_record("n", logged(-3500, None), settings=RULES, now=T0)
    assert (capped.state, capped.until) == ("leased", T0 + timedelta(seconds=100))


def test_an_open_row_past_max_lease_comes_back_resting_and_capped() -> None:
    record = restore_record("n", logged(-3700, None), settings=RULES, now=T0)
    assert (record.state, record.until, record.capped) == (
        "cooling",
        T0 - timedelta(seconds=100),
        True,
    )


def test_closed_rows_rest_for_the_cooldown_then_are_free() -> None:
    resting = restore_record("n", logged(-1000, -899), settings=RULES, now=T0)
    assert (resting.state, resting.session_id, resting.capped) == ("cooling", "s", False)
    free = restore_record("n", logged(-1000, -900), settings=RULES, now=T0)
    assert (free.state, free.session_id, free.until) == ("free", None, T0 - timedelta(seconds=900))
    never = restore_record("n", None, settings=RULES, now=T0)
    assert (never.state, never.generation, never.until) == ("free", 0, None)
