"""Visits from the snippet: who the visitor is, where they came from, which numbers they see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import NotFound
from app.kit.text import fit_to_columns
from app.models import TrackingSession
from app.tracking import repository, visit_log
from app.tracking.schemas import PingRequest, SessionAnswer, SessionRequest, ShownNumber
from app.tracking.site_config import PoolConfig, SiteConfig, TargetConfig
from app.tracking.sources import Touch, classify
from numberpool import service as pool_service
from numberpool.rules import ClientKey, DrainLimits, VisitRefusal
from numberpool.service import LeasePlan, PoolVisit, ServedNumber
from numberpool.source_rules import pick_source_number
from numberpool.store import PoolStore

# A visit ends after this long without a page view or ping (the analytics convention).
SESSION_TIMEOUT = timedelta(minutes=30)
# How far back a direct visit looks for the visitor's last non-direct touch.
ATTRIBUTION_LOOKBACK = timedelta(days=90)
PING_S = 60
# Where tracker.js imports its forms part from (resolved against tracker.js's own address).
FORMS_SCRIPT = "/t/forms.js"
MIN_PING_S = 10
_SESSIONS = cast(Table, TrackingSession.__table__)


@dataclass(frozen=True, slots=True)
class Visit:
    """What the tracker knows of the request besides its body."""

    user_agent: str | None
    is_bot: bool
    client: ClientKey | None = None
    # Why it may not have a dynamic number (not a browser on the site), or None.
    refusal: VisitRefusal | None = None
    limits: DrainLimits | None = None  # what one client may take from a pool


@dataclass(frozen=True, slots=True)
class _Shown:
    """The session being answered, and the touch its numbers are chosen by."""

    id: uuid.UUID
    visitor_id: uuid.UUID | None
    consent: bool
    source: str
    medium: str
    campaign: str | None


def ping_interval(pools: list[PoolConfig]) -> int:
    """Often enough that a lease never idles out while the page is open."""
    shortest = min((pool.idle_timeout_s for pool in pools), default=PING_S * 3)
    return max(MIN_PING_S, min(PING_S, shortest // 3))


async def start_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: SiteConfig,
    data: SessionRequest,
    visit: Visit,
    now: datetime,
) -> SessionAnswer:
    if visit.is_bot:
        # Crawlers see the real numbers and never touch a pool: a bot flood cannot drain it.
        real = [ShownNumber(target=t.number, number=t.number, kind="target") for t in site.targets]
        return SessionAnswer(session_id=None, visitor_id=None, numbers=real, ping_s=0, bot=True)

    touch = classify(data.url, data.referrer, site_domains=site.domains)
    visitor_id, returning = (
        await _visitor(db, site=site, data=data, now=now) if data.consent else (None, False)
    )
    if visitor_id is not None and returning and touch.internal:
        # A page of the site itself sent them here: the visit goes on.
        ongoing = await repository.latest_session(
            db, visitor_id=visitor_id, seen_since=now - SESSION_TIMEOUT
        )
        if ongoing is not None:
            ongoing.last_seen_at = now
            shown = await _going_on(db, ongoing, now=now)
            return await _answer(db, store, site=site, session=shown, visit=visit, now=now)
    session_id = uuid.uuid4()
    shown = _Shown(session_id, visitor_id, data.consent, touch.source, touch.medium, touch.campaign)
    if returning and touch.source == "(direct)":
        shown = await _with_last_touch(db, shown, now=now)
    # The pools decide first; then the visit and their decisions are written at once.
    plans = await _plans(db, store, site=site, session=shown, visit=visit, now=now)
    fenced = await visit_log.record_new_visit(
        db,
        visitor_id=visitor_id,
        create_visitor=visitor_id is not None and not returning,
        site_id=site.id,
        session=_new_session(
            session_id,
            site=site,
            visitor_id=visitor_id,
            data=data,
            touch=touch,
            visit=visit,
            now=now,
        ),
        plans=list(plans.values()),
        now=now,
    )
    for target_id, plan in plans.items():
        if plan in fenced:
            target = next(t for t in site.targets if t.id == target_id)
            assert target.pool is not None
            served = await pool_service.lease_again(
                db, store, pool=target.pool, visit=_pool_visit(shown, target, visit), now=now
            )
            plans[target_id] = replace(plan, served=served)
    return _numbers(site, shown, {t: p.served for t, p in plans.items()})


def unrecorded_session(*, site: SiteConfig, data: SessionRequest) -> SessionAnswer:
    """The answer while the database is unreachable: the numbers of the visit's source (from
    the site's snapshot), under a session id that is recorded nowhere. Its first ping after
    the outage is a 404, on which the snippet starts a session that is recorded."""
    touch = classify(data.url, data.referrer, site_domains=site.domains)
    visitor_id = data.visitor_id if data.consent else None
    shown = _Shown(
        uuid.uuid4(), visitor_id, data.consent, touch.source, touch.medium, touch.campaign
    )
    return _numbers(site, shown, {})


async def _plans(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: SiteConfig,
    session: _Shown,
    visit: Visit,
    now: datetime,
) -> dict[uuid.UUID, LeasePlan]:
    """What each pool decides for a new session (nothing written yet), by target."""
    plans = {}
    for target in site.targets:
        if target.pool is not None and session.consent:
            plans[target.id] = await pool_service.plan_lease(
                db, store, pool=target.pool, visit=_pool_visit(session, target, visit), now=now
            )
    return plans


def _pool_visit(session: _Shown, target: TargetConfig, visit: Visit) -> PoolVisit:
    return PoolVisit(
        session_id=session.id,
        visitor_id=session.visitor_id,
        source=session.source,
        medium=session.medium,
        campaign=session.campaign,
        known=target.known,
        client=visit.client,
        limits=visit.limits,
        refusal=visit.refusal,
    )


async def ping_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: SiteConfig,
    session_id: uuid.UUID,
    data: PingRequest | None = None,
    visit: Visit | None = None,
    now: datetime,
) -> SessionAnswer:
    session = await repository.session(db, site_id=site.id, session_id=session_id)
    if session is None or session.ended_at is not None:
        raise NotFound(f"session {session_id} not found: start a new one")
    if session.last_seen_at + SESSION_TIMEOUT < now:
        session.ended_at = session.last_seen_at + SESSION_TIMEOUT
        await db.flush()
        raise NotFound(f"session {session_id} has ended: start a new one")
    if data is not None and data.consent and not session.consent:
        await _consent_given(db, site=site, session=session, data=data, now=now)
    session.last_seen_at = now
    shown = await _going_on(db, session, now=now)
    return await _answer(db, store, site=site, session=shown, visit=visit, now=now)


async def _consent_given(
    db: AsyncSession,
    *,
    site: SiteConfig,
    session: TrackingSession,
    data: PingRequest,
    now: datetime,
) -> None:
    """The visitor accepted cookies during the visit: from now on they are tracked as one,
    and the next numbers they see can be dynamic."""
    start = SessionRequest(url=session.landing_url, visitor_id=data.visitor_id, consent=True)
    visitor_id, returning = await _visitor(db, site=site, data=start, now=now)
    if not returning:
        await repository.insert_visitor(db, site_id=site.id, visitor_id=visitor_id, now=now)
    session.consent = True
    session.visitor_id = visitor_id
    ids = fit_to_columns(
        _SESSIONS, {"ga_client_id": data.ga_client_id, "ym_client_id": data.ym_client_id}
    )
    session.ga_client_id = cast(str | None, ids["ga_client_id"])
    session.ym_client_id = cast(str | None, ids["ym_client_id"])


async def _visitor(
    db: AsyncSession, *, site: SiteConfig, data: SessionRequest, now: datetime
) -> tuple[uuid.UUID, bool]:
    """The visitor's id, and whether they were known before (a known one is marked as seen; a
    new one is for the caller to insert, with the visit)."""
    if data.visitor_id is not None and await repository.touch_visitor(
        db, site_id=site.id, visitor_id=data.visitor_id, now=now
    ):
        return data.visitor_id, True
    # An unknown id (another site's, or forged) is not adopted: the visitor gets a new one.
    return uuid.uuid4(), False


def _new_session(
    session_id: uuid.UUID,
    *,
    site: SiteConfig,
    visitor_id: uuid.UUID | None,
    data: SessionRequest,
    touch: Touch,
    visit: Visit,
    now: datetime,
) -> dict[str, object]:
    # Outsiders' text: a tag longer than its column is cut, a NUL byte dropped (PostgreSQL
    # refuses both, and the visit must not fail over a tag).
    return fit_to_columns(
        _SESSIONS,
        {
            "id": session_id,
            "site_id": site.id,
            "visitor_id": visitor_id,
            "started_at": now,
            "last_seen_at": now,
            "ended_at": None,
            "landing_url": data.url,
            "referrer": data.referrer,
            "source": touch.source,
            "medium": touch.medium,
            "campaign": touch.campaign,
            "term": touch.term,
            "content": touch.content,
            "gclid": touch.gclid,
            "yclid": touch.yclid,
            "fbclid": touch.fbclid,
            "ga_client_id": data.ga_client_id if data.consent else None,
            "ym_client_id": data.ym_client_id if data.consent else None,
            "user_agent": (visit.user_agent or "")[:500] or None,
            "consent": data.consent,
            "is_bot": False,
        },
    )


async def _going_on(db: AsyncSession, session: TrackingSession, *, now: datetime) -> _Shown:
    shown = _Shown(
        session.id,
        session.visitor_id,
        session.consent,
        session.source,
        session.medium,
        session.campaign,
    )
    return await _with_last_touch(db, shown, now=now) if session.source == "(direct)" else shown


async def _with_last_touch(db: AsyncSession, shown: _Shown, *, now: datetime) -> _Shown:
    """A direct visit is shown numbers for the visitor's last non-direct touch, so a returning
    customer still sees their channel's number."""
    if shown.visitor_id is None:
        return shown
    earlier = await repository.last_non_direct_session(
        db, visitor_id=shown.visitor_id, since=now - ATTRIBUTION_LOOKBACK
    )
    if earlier is None:
        return shown
    return replace(shown, source=earlier.source, medium=earlier.medium, campaign=earlier.campaign)


async def _answer(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: SiteConfig,
    session: _Shown,
    visit: Visit | None,
    now: datetime,
) -> SessionAnswer:
    """The numbers of a going session: a ping keeps its lease."""
    served: dict[uuid.UUID, ServedNumber] = {}
    for target in site.targets:
        if target.pool is not None and session.consent:
            served[target.id] = await pool_service.ping_session(
                db,
                store,
                pool=target.pool,
                session_id=session.id,
                visitor_id=session.visitor_id,
                source=session.source,
                medium=session.medium,
                campaign=session.campaign,
                now=now,
                known=target.known,
                client=visit.client if visit is not None else None,
                limits=visit.limits if visit is not None else None,
                refusal=visit.refusal if visit is not None else None,
            )
    return _numbers(site, session, served)


def _numbers(
    site: SiteConfig, session: _Shown, served: dict[uuid.UUID, ServedNumber]
) -> SessionAnswer:
    """The answer: each target with what its pool served, else its source-level number, else
    itself."""
    shown: list[ShownNumber] = []
    for target in site.targets:
        from_pool = served.get(target.id)
        if from_pool is not None:
            shown.append(
                ShownNumber(target=target.number, number=from_pool.number, kind=from_pool.kind)
            )
            continue
        rule = pick_source_number(
            site.source_rules,
            target_id=target.id,
            source=session.source,
            medium=session.medium,
            campaign=session.campaign,
        )
        if rule is not None:
            shown.append(ShownNumber(target=target.number, number=rule.number, kind="source"))
        else:
            shown.append(ShownNumber(target=target.number, number=target.number, kind="target"))
    ping_s = ping_interval([t.pool for t in site.targets if t.pool is not None])
    forms = None
    if site.forms_enabled:
        forms = FORMS_SCRIPT + ("?consent=required" if site.forms_consent_required else "")
    return SessionAnswer(
        session_id=session.id,
        visitor_id=session.visitor_id,
        numbers=shown,
        ping_s=ping_s,
        forms=forms,
    )
