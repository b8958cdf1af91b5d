"""Pool health as Prometheus gauges, on the app's registry, refreshed when /metrics is scraped."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from numberpool import repository, service
from numberpool.store import PoolStore

_GAUGES = {
    "size": "Active numbers in the pool.",
    "in_use": "Numbers leased or resting now.",
    "peak_in_use": "Most numbers in use at once within the window.",
    "sessions": "Sessions that asked the pool for a number within the window.",
    "fallback_sessions": "Sessions shown a fallback number within the window.",
    "fallback_share": "fallback_sessions / sessions within the window.",
    "recommended_size": "Numbers for 99 % coverage at the busiest quarter hour's rate.",
    "peak_15min_sessions": "Most sessions within any 15 minutes of the window.",
    "recommended_size_hourly_mean": "Numbers for 99 % coverage at the busiest hour's mean rate.",
}


class PoolMetrics:
    """`callsource_pool_<field>{pool_id=...}` for every live pool.

    Call `refresh` in the /metrics handler before rendering, then commit: it also closes the
    log rows of leases that expired while nobody asked the pool anything.
    """

    def __init__(self, registry: CollectorRegistry, *, window_hours: float = 1) -> None:
        self.window_hours = window_hours
        self.gauges = {
            name: Gauge(f"callsource_pool_{name}", help_text, ["pool_id"], registry=registry)
            for name, help_text in _GAUGES.items()
        }
        self.refused = Gauge(
            "callsource_pool_refused_sessions",
            "Sessions refused a dynamic number by the anti-draining rules within the window.",
            ["pool_id", "reason"],
            registry=registry,
        )

    async def refresh(self, db: AsyncSession, store: PoolStore, *, now: datetime) -> None:
        for gauge in [*self.gauges.values(), self.refused]:
            gauge.clear()  # retired pools disappear
        for pool in await repository.live_pools(db):
            health = await service.pool_health(
                db, store, pool=pool, now=now, hours=self.window_hours
            )
            for name, gauge in self.gauges.items():
                gauge.labels(str(pool.id)).set(getattr(health, name))
            for reason, sessions in health.refused_sessions.items():
                self.refused.labels(str(pool.id), reason).set(sessions)
