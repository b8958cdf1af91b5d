"""Erlang B and the sizing advice."""

from __future__ import annotations

import math

import pytest

from numberpool.sizing import erlang_b, mean_holding_s, size_pool, smallest_pool


def erlang_b_by_definition(servers: int, load: float) -> float:
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize(("servers", "load"), [(1, 0.5), (5, 3.0), (10, 5.0), (30, 25.0)])
def test_erlang_b_matches_its_definition(servers: int, load: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(erlang_b_by_definition(servers, load))


def test_erlang_b_known_values_and_edges() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0
    # Large pools stay finite and monotone (no factorial overflow).
    assert 0 < erlang_b(2000, 1900.0) < erlang_b(1999, 1900.0) < 1
    with pytest.raises(ValueError, match="negative"):
        erlang_b(-1, 1.0)


def test_smallest_pool_is_the_first_size_under_the_loss() -> None:
    size = smallest_pool(5.0, 0.02)
    assert erlang_b(size, 5.0) <= 0.02 < erlang_b(size - 1, 5.0)
    assert smallest_pool(0.0, 0.01) == 1  # no traffic: one number (B(0, A) is 1 by definition)
    with pytest.raises(ValueError, match="max_loss"):
        smallest_pool(1.0, 0.0)


def test_mean_holding_counts_the_last_ping_the_idle_timeout_and_the_cooldown() -> None:
    q = math.exp(-60 / 300)
    expected = 60 * q / (1 - q) + 300 + 900
    holding = mean_holding_s(session_s=300, idle_timeout_s=300, cooldown_s=900, ping_s=60)
    assert holding == pytest.approx(expected)
    # Without pings the lease lasts the visit itself; pings far apart mean no ping at all.
    assert mean_holding_s(session_s=300, idle_timeout_s=0, cooldown_s=0, ping_s=0) == 300
    assert mean_holding_s(session_s=60, idle_timeout_s=0, cooldown_s=0, ping_s=6000) < 1e-6


def test_size_pool_answers_the_contract_fields() -> None:
    size = size_pool(sessions_per_hour=100, session_minutes=5, coverage=0.99)
    assert size.mean_holding_s == pytest.approx(1470.9, abs=0.1)
    assert size.offered_load == pytest.approx(100 * size.mean_holding_s / 3600)
    assert size.loss <= 0.01 < erlang_b(size.numbers - 1, size.offered_load)
    with pytest.raises(ValueError, match="coverage"):
        size_pool(sessions_per_hour=100, session_minutes=5, coverage=1.0)
