"""Pool health arithmetic, and its Prometheus gauges."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from numberpool import health, service
from numberpool.metrics import PoolMetrics
from numberpool.store import PoolStore
from tests.numberpool.conftest import T0, create_pool, create_session

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
MINUTE = timedelta(minutes=1)


def test_occupancy_merges_a_visitors_returns_and_counts_the_peak() -> None:
    leases = [
        (A, T0, T0 + 5 * MINUTE),
        (A, T0 + 10 * MINUTE, None),  # back inside the cooldown: one span
        (B, T0 + 2 * MINUTE, T0 + 3 * MINUTE),
    ]
    spans = health.occupied(
        leases, cooldown=15 * MINUTE, max_lease=60 * MINUTE, now=T0 + 30 * MINUTE
    )
    assert spans[A] == [(T0, T0 + 45 * MINUTE)]
    assert spans[B] == [(T0 + 2 * MINUTE, T0 + 18 * MINUTE)]
    assert health.peak_in_use(spans, start=T0, end=T0 + 60 * MINUTE) == 2
    assert health.peak_in_use(spans, start=T0 + 20 * MINUTE, end=T0 + 60 * MINUTE) == 1
    assert health.in_use_at(spans, T0 + 18 * MINUTE) == 1  # B is free at the end of its rest


def test_busiest_hour_and_recommendation() -> None:
    arrivals = [T0 + i * MINUTE for i in range(0, 180, 10)]  # 6 an hour
    burst = [T0 + 300 * MINUTE + i * timedelta(seconds=30) for i in range(20)]
    assert health.busiest_hour(arrivals) == 6
    assert health.busiest_hour(arrivals + burst) == 20
    assert health.busiest_hour([]) == 0
    assert health.recommended_size(busiest_hour_sessions=0, holding_s=None) == 1
    # 20 sessions an hour holding 1200 s: 6.67 erlangs; 13 numbers lose 1.06 %, 14 lose 0.5 %.
    assert health.recommended_size(busiest_hour_sessions=20, holding_s=1200) == 14


async def test_pool_metrics_export_the_health(db: AsyncSession, store: PoolStore) -> None:
    setup = await create_pool(db, numbers=2)
    visit = await create_session(db, setup)
    await service.lease_for_session(
        db,
        store,
        pool=setup.pool,
        session_id=visit.id,
        visitor_id=visit.visitor_id,
        source="google",
        medium="organic",
        campaign=None,
        now=T0,
    )
    registry = CollectorRegistry()
    metrics = PoolMetrics(registry)
    await metrics.refresh(db, store, now=T0 + MINUTE)
    labels = {"pool_id": str(setup.pool.id)}
    assert registry.get_sample_value("callsource_pool_size", labels) == 2
    assert registry.get_sample_value("callsource_pool_in_use", labels) == 1
    assert registry.get_sample_value("callsource_pool_sessions", labels) == 1
    assert registry.get_sample_value("callsource_pool_fallback_share", labels) == 0
