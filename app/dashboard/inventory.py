"""What the Numbers and Integrations pages show: pools with their health over time, static
numbers, offline numbers with their calls, PBX webhooks, CRM connectors and dead letters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import service as calls_service
from app.dashboard import charts
from app.dashboard.templating import zone
from app.i18n import gettext
from app.models import Call, CrmConnector, OutboxDelivery, PbxIntegration, Pool, Site
from app.models import TrackingNumber as TrackingNumberRow
from app.numbers import service as numbers_service
from crm_push import alerts as alerts_service
from crm_push import deliveries as deliveries_service
from crm_push import service as crm_service
from crm_push.alerts_schemas import NotificationOut
from crm_push.destinations import service as destinations_service
from numberpool import health
from numberpool import repository as pool_log
from numberpool import service as pool_service
from numberpool.health import PoolHealth
from numberpool.store import PoolStore
from pbx_webhooks import service as pbx_service

HEALTH_HOURS = 24
HEALTH_BUCKETS = 48
OFFLINE_CALLS_SHOWN = 10
DEAD_LETTERS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class PoolView:
    pool: Pool
    target: str
    numbers: list[str]
    health: PoolHealth
    chart: charts.PoolChart


@dataclass(frozen=True, slots=True)
class OfflineNumber:
    number: TrackingNumberRow
    calls: int
    recent: list[Call]


@dataclass(frozen=True, slots=True)
class NumbersView:
    pools: list[PoolView]
    source_numbers: list[TrackingNumberRow]
    offline_numbers: list[OfflineNumber]
    targets: dict[uuid.UUID, str]


async def pool_timeline(
    db: AsyncSession, *, pool: Pool, now: datetime, hours: int, buckets: int
) -> tuple[list[datetime], list[int], list[float | None]]:
    """Per bucket of the last `hours`: the most numbers occupied at once, and the share of the
    sessions arriving in it that found the pool full.

    The same log and arithmetic as numberpool.service.pool_health, bucketed: that service
    answers one window, a chart needs many.
    """
    start = now - timedelta(hours=hours)
    window = await pool_log.log_window(db, pool=pool, start=start, end=now)
    spans = health.occupied(
        window.leases,
        cooldown=timedelta(seconds=pool.cooldown_s),
        max_lease=timedelta(seconds=pool.max_lease_s),
        now=now,
    )
    width = timedelta(hours=hours) / buckets
    moments = [start + width * i for i in range(buckets)]
    in_use = [health.peak_in_use(spans, start=m, end=m + width) for m in moments]
    sessions = [0] * buckets
    fallbacks = [0] * buckets
    for session_id, first_seen in window.sessions.items():
        i = min(int((first_seen - start) / width), buckets - 1)
        if i < 0:
            continue
        sessions[i] += 1
        fallbacks[i] += session_id in window.fallback_sessions
    shares = [f / s if s else None for f, s in zip(fallbacks, sessions, strict=True)]
    return moments, in_use, shares


async def numbers(
    db: AsyncSession, store: PoolStore, *, site: Site, now: datetime, since: datetime
) -> NumbersView:
    pools = await numbers_service.list_pools(db, site_id=site.id)
    pool_numbers = await numbers_service.pool_numbers(db, pools)
    statics = await numbers_service.list_static_numbers(db, site_id=site.id)
    target_ids: list[uuid.UUID | None] = [p.target_number_id for p in pools]
    target_ids += [n.target_number_id for n in statics]
    targets = await numbers_service.target_numbers(db, target_ids)
    views = []
    for pool in pools:
        pool_health = await pool_service.pool_health(
            db, store, pool=pool, now=now, hours=HEALTH_HOURS
        )
        moments, in_use, shares = await pool_timeline(
            db, pool=pool, now=now, hours=HEALTH_HOURS, buckets=HEALTH_BUCKETS
        )
        local = [moment.astimezone(zone(site.timezone)) for moment in moments]
        chart = charts.pool_chart(
            local,
            in_use,
            shares,
            size=pool_health.size,
            recommended=pool_health.recommended_size,
            label=gettext("Numbers in use, last %(hours)s hours", hours=HEALTH_HOURS),
        )
        views.append(
            PoolView(
                pool=pool,
                target=targets.get(pool.target_number_id, ""),
                numbers=pool_numbers[pool.id],
                health=pool_health,
                chart=chart,
            )
        )
    offline = [n for n in statics if n.kind == "offline"]
    calls = await calls_service.list_calls(db, site_id=site.id, since=since, until=None, limit=5000)
    offline_views = []
    for number in offline:
        own = [c for c in calls if c.tracking_number_id == number.id]
        offline_views.append(
            OfflineNumber(number=number, calls=len(own), recent=own[:OFFLINE_CALLS_SHOWN])
        )
    return NumbersView(
        pools=views,
        source_numbers=[n for n in statics if n.kind == "source"],
        offline_numbers=offline_views,
        targets=targets,
    )


async def offline_numbers(db: AsyncSession, *, site: Site) -> list[TrackingNumberRow]:
    statics = await numbers_service.list_static_numbers(db, site_id=site.id)
    return [n for n in statics if n.kind == "offline"]


# --- integrations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PbxView:
    integration: PbxIntegration
    webhook_url: str


@dataclass(frozen=True, slots=True)
class CrmView:
    connector: CrmConnector
    dead: list[OutboxDelivery]
    pending: int


@dataclass(frozen=True, slots=True)
class AlertView:
    rule: NotificationOut
    dead: list[OutboxDelivery]


@dataclass(frozen=True, slots=True)
class IntegrationsView:
    pbx: list[PbxView]
    crm: list[CrmView]
    alerts: list[AlertView] = field(default_factory=list)


async def integrations(db: AsyncSession, *, site: Site, public_url: str) -> IntegrationsView:
    pbx = [
        PbxView(integration=i, webhook_url=pbx_service.webhook_url(i, public_url=public_url))
        for i in await pbx_service.list_integrations(db, site_id=site.id)
    ]
    crm = []
    for connector in await crm_service.list_connectors(db, site_id=site.id):
        dead = await deliveries_service.list_deliveries(
            db, connector=connector, status="dead", limit=DEAD_LETTERS_SHOWN
        )
        pending = await deliveries_service.list_deliveries(
            db, connector=connector, status="pending", limit=1000
        )
        crm.append(CrmView(connector=connector, dead=dead, pending=len(pending)))
    alerts = []
    rules = await alerts_service.list_rules(db, site_id=site.id)
    for rule, described in zip(rules, await alerts_service.described(db, rules), strict=True):
        dead = await deliveries_service.list_deliveries(
            db, connector=rule, status="dead", limit=DEAD_LETTERS_SHOWN
        )
        alerts.append(AlertView(rule=described, dead=dead))
    return IntegrationsView(pbx=pbx, crm=crm, alerts=alerts)


@dataclass(frozen=True, slots=True)
class CallDelivery:
    connector: CrmConnector
    delivery: OutboxDelivery


async def call_deliveries(db: AsyncSession, *, site: Site, call: Call) -> list[CallDelivery]:
    """The CRM deliveries of one call, across the site's connectors.

    crm_push lists deliveries per connector; the call's are the recent ones that name it (a
    call's deliveries are created when it ends, so they are near the top for recent calls).
    """
    found = []
    for connector in await crm_service.list_connectors(db, site_id=site.id, include_retired=True):
        rows = await deliveries_service.list_deliveries(
            db, connector=connector, status=None, limit=1000
        )
        found += [CallDelivery(connector, row) for row in rows if row.call_id == call.id]
    return found


async def call_conversions(db: AsyncSession, *, site: Site, call: Call) -> list[CallDelivery]:
    """What went to the conversion destinations for one call (its conversion, its deal)."""
    found = []
    for row in await destinations_service.list_destinations(
        db, site_id=site.id, include_retired=True
    ):
        rows = await deliveries_service.list_deliveries(db, connector=row, status=None, limit=1000)
        found += [CallDelivery(row, d) for d in rows if d.call_id == call.id]
    return found
