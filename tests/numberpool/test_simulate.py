"""The simulator drives the real engine; its losses match Erlang B and it leaks no numbers."""

from __future__ import annotations

import pytest

from numberpool.embedded_store import EmbeddedStore
from numberpool.simulate import simulate
from numberpool.sizing import erlang_b, mean_holding_s
from numberpool.store import PoolStore
from tests.numberpool.conftest import new_store

SESSION_MINUTES = 2
HOLDING_S = mean_holding_s(session_s=120, idle_timeout_s=300, cooldown_s=900, ping_s=60)


def load_for(numbers: int, loss: float) -> float:
    """The offered load at which a pool of `numbers` loses `loss` of its sessions."""
    low, high = 0.0, 10.0 * numbers
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if erlang_b(numbers, middle) < loss else (low, middle)
    return low


# Tolerances: about four standard deviations of the share over ~30,000 sessions, measured
# across seeds (blocking is bursty, so sessions are not independent trials).
@pytest.mark.parametrize(
    ("numbers", "loss", "tolerance"), [(10, 0.02, 0.006), (10, 0.10, 0.012), (5, 0.30, 0.01)]
)
async def test_fallback_share_matches_erlang_b(numbers: int, loss: float, tolerance: float) -> None:
    per_hour = load_for(numbers, loss) * 3600 / HOLDING_S
    result = await simulate(
        EmbeddedStore(),
        numbers=numbers,
        sessions_per_hour=per_hour,
        session_minutes=SESSION_MINUTES,
        hours=30_000 / per_hour,
        seed=7,
    )
    assert result.erlang_b == pytest.approx(loss, rel=1e-6)
    assert result.mean_holding_s == pytest.approx(HOLDING_S)
    assert result.sessions == pytest.approx(30_000, rel=0.03)
    assert result.fallback_share == pytest.approx(loss, abs=tolerance)
    assert result.peak_in_use == numbers  # the pool fills before anyone is turned away
    assert result.in_use_after_drain == 0  # nothing leaked


@pytest.mark.parametrize("kind", ["embedded", "redis"])
async def test_both_stores_simulate_identically(kind: str, redis_url: str) -> None:
    store: PoolStore = new_store(kind)
    try:
        result = await simulate(
            store, numbers=4, sessions_per_hour=12, session_minutes=3, hours=60, seed=3
        )
    finally:
        await store.close()
    reference = await simulate(
        EmbeddedStore(), numbers=4, sessions_per_hour=12, session_minutes=3, hours=60, seed=3
    )
    assert result == reference
    assert result.fallback_sessions > 0
    assert result.in_use_after_drain == 0


async def test_a_pool_that_is_never_full_turns_nobody_away() -> None:
    result = await simulate(
        EmbeddedStore(), numbers=40, sessions_per_hour=10, session_minutes=5, hours=50, seed=1
    )
    assert result.fallback_sessions == 0
    assert 0 < result.peak_in_use < 40


def test_simulate_rejects_nonsense() -> None:
    import asyncio

    with pytest.raises(ValueError, match="positive"):
        asyncio.run(
            simulate(EmbeddedStore(), numbers=0, sessions_per_hour=1, session_minutes=1, hours=1)
        )
