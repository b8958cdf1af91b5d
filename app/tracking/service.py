"""Visits from the snippet: who the visitor is, where they came from, which numbers they see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import NotFound
from app.models import Pool, Site, TargetNumber, TrackingNumber, TrackingSession, Visitor
from app.numbers.source_rules import pick_source_number
from app.tracking import repository
from app.tracking.schemas import PingRequest, SessionAnswer, SessionRequest, ShownNumber
from app.tracking.sources import Touch, classify
from numberpool import service as pool_service
from numberpool.store import PoolStore

# A visit ends after this long without a page view or ping (the analytics convention).
SESSION_TIMEOUT = timedelta(minutes=30)
# How far back a direct visit looks for the visitor's last non-direct touch.
ATTRIBUTION_LOOKBACK = timedelta(days=90)
PING_S = 60
MIN_PING_S = 10


@dataclass(frozen=True, slots=True)
class Visit:
    """What the tracker knows of the request besides its body."""

    user_agent: str | None
    is_bot: bool


def ping_interval(pools: list[Pool]) -> int:
    """Often enough that a lease never idles out while the page is open."""
    shortest = min((pool.idle_timeout_s for pool in pools), default=PING_S * 3)
    return max(MIN_PING_S, min(PING_S, shortest // 3))


async def start_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: Site,
    data: SessionRequest,
    visit: Visit,
    now: datetime,
) -> SessionAnswer:
    targets = await repository.targets_and_pools(db, site_id=site.id)
    if visit.is_bot:
        # Crawlers see the real numbers and never touch a pool: a bot flood cannot drain it.
        shown = [ShownNumber(target=t.number, number=t.number, kind="target") for t, _ in targets]
        return SessionAnswer(session_id=None, visitor_id=None, numbers=shown, ping_s=0)

    touch = classify(data.url, data.referrer, site_domains=site.domains)
    visitor = await _visitor(db, site=site, data=data, now=now) if data.consent else None
    if visitor is not None and touch.internal:
        # A page of the site itself sent them here: the visit goes on.
        ongoing = await repository.latest_session(
            db, visitor_id=visitor.id, seen_since=now - SESSION_TIMEOUT
        )
        if ongoing is not None:
            return await _answer(
                db, store, site=site, session=ongoing, targets=targets, renew=True, now=now
            )
    session = _new_session(site=site, visitor=visitor, data=data, touch=touch, visit=visit, now=now)
    db.add(session)
    await db.flush()
    return await _answer(
        db, store, site=site, session=session, targets=targets, renew=False, now=now
    )


async def ping_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: Site,
    session_id: uuid.UUID,
    data: PingRequest | None = None,
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
    targets = await repository.targets_and_pools(db, site_id=site.id)
    return await _answer(
        db, store, site=site, session=session, targets=targets, renew=True, now=now
    )


async def _consent_given(
    db: AsyncSession, *, site: Site, session: TrackingSession, data: PingRequest, now: datetime
) -> None:
    """The visitor accepted cookies during the visit: from now on they are tracked as one,
    and the next numbers they see can be dynamic."""
    start = SessionRequest(url=session.landing_url, visitor_id=data.visitor_id, consent=True)
    visitor = await _visitor(db, site=site, data=start, now=now)
    session.consent = True
    session.visitor_id = visitor.id
    session.ga_client_id = data.ga_client_id
    session.ym_client_id = data.ym_client_id
    await db.flush()


async def _visitor(db: AsyncSession, *, site: Site, data: SessionRequest, now: datetime) -> Visitor:
    if data.visitor_id is not None:
        known = await repository.visitor(db, site_id=site.id, visitor_id=data.visitor_id)
        if known is not None:
            known.last_seen_at = now
            return known
    # An unknown id (another site's, or forged) is not adopted: the visitor gets a new one.
    visitor = Visitor(id=uuid.uuid4(), site_id=site.id, created_at=now, last_seen_at=now)
    db.add(visitor)
    await db.flush()
    return visitor


def _new_session(
    *,
    site: Site,
    visitor: Visitor | None,
    data: SessionRequest,
    touch: Touch,
    visit: Visit,
    now: datetime,
) -> TrackingSession:
    return TrackingSession(
        id=uuid.uuid4(),
        site_id=site.id,
        visitor_id=visitor.id if visitor else None,
        started_at=now,
        last_seen_at=now,
        ended_at=None,
        landing_url=data.url,
        referrer=data.referrer,
        source=touch.source,
        medium=touch.medium,
        campaign=touch.campaign,
        term=touch.term,
        content=touch.content,
        gclid=touch.gclid,
        yclid=touch.yclid,
        fbclid=touch.fbclid,
        ga_client_id=data.ga_client_id if data.consent else None,
        ym_client_id=data.ym_client_id if data.consent else None,
        user_agent=(visit.user_agent or "")[:500] or None,
        consent=data.consent,
        is_bot=False,
    )


async def _attributed_touch(
    db: AsyncSession, session: TrackingSession, *, now: datetime
) -> tuple[str, str, str | None]:
    """The source a visit is shown numbers for: a direct visit keeps the visitor's last
    non-direct touch, so a returning customer still sees their channel's number."""
    if session.source != "(direct)" or session.visitor_id is None:
        return session.source, session.medium, session.campaign
    earlier = await repository.last_non_direct_session(
        db, visitor_id=session.visitor_id, since=now - ATTRIBUTION_LOOKBACK
    )
    if earlier is None:
        return session.source, session.medium, session.campaign
    return earlier.source, earlier.medium, earlier.campaign


async def _answer(
    db: AsyncSession,
    store: PoolStore,
    *,
    site: Site,
    session: TrackingSession,
    targets: list[tuple[TargetNumber, Pool | None]],
    renew: bool,
    now: datetime,
) -> SessionAnswer:
    """The numbers of a new session, or of a going one (`renew`: a ping keeps its lease)."""
    session.last_seen_at = now
    source, medium, campaign = await _attributed_touch(db, session, now=now)
    rules = await repository.source_numbers(db, site_id=site.id)
    shown: list[ShownNumber] = []
    for target, pool in targets:
        if pool is not None and session.consent:
            serve = pool_service.ping_session if renew else pool_service.lease_for_session
            served = await serve(
                db,
                store,
                pool=pool,
                session_id=session.id,
                visitor_id=session.visitor_id,
                source=source,
                medium=medium,
                campaign=campaign,
                now=now,
            )
            shown.append(ShownNumber(target=target.number, number=served.number, kind=served.kind))
            continue
        rule: TrackingNumber | None = pick_source_number(
            rules, target_id=target.id, source=source, medium=medium, campaign=campaign
        )
        if rule is not None:
            shown.append(ShownNumber(target=target.number, number=rule.number, kind="source"))
        else:
            shown.append(ShownNumber(target=target.number, number=target.number, kind="target"))
    await db.flush()
    ping_s = ping_interval([pool for _, pool in targets if pool is not None])
    return SessionAnswer(
        session_id=session.id, visitor_id=session.visitor_id, numbers=shown, ping_s=ping_s
    )
