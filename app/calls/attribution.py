"""Which visit (or source) a call belongs to, and how sure we are.

The lease log decides for dynamic numbers: the number's latest lease that started before the
call, if the call came during it, in its cooldown, or late (within the pool's late-call window,
nobody having held the number since). Everything else is a fixed meaning of the number called.
The confidence says what Callsource could see; its bands are the constants below.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import repository
from app.calls.repository import DialledNumber
from app.kit.phones import is_identifiable
from app.models import TrackingSession
from numberpool import service as pool_service

# Confidence bands: what Callsource could see when the call came (README, "Confidence").
# A dynamic number, from the surest to the least sure:
LIVE_PING = 0.95  # leased, and the holder's tab pinged within one ping interval of the call
LIVE_LEASE = 0.8  # leased, but the tab had gone quiet (in the background, being closed)
COOLDOWN_HIGH, COOLDOWN_LOW = 0.7, 0.6  # resting after the lease: falls through the cooldown
LATE_HIGH, LATE_LOW = 0.6, 0.3  # past the cooldown, nobody held it since: falls through the window
LATE_SHARED_FACTOR = 0.5  # a late call when another visitor also held the number in the window
CONFLICT = 0.3  # at most this when the caller was seen with another visitor
# Static numbers:
OFFLINE_NUMBER = 0.9  # only the printed ad carries it
SOURCE_NUMBER = 0.6  # every visitor of one source sees it
SHARED_FALLBACK = 0.3  # ...and a pool's overflow showed it too
# A ping is late by a request's round trip and a browser's timer jitter.
PING_GRACE = timedelta(seconds=10)
# The tracker pings this often (app.tracking.service.ping_interval, for a site of one pool).
PING_S, MIN_PING_S = 60, 10
FALLBACK_WINDOW = timedelta(hours=1)


class CallLike(Protocol):
    """What attribution reads of a call."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def site_id(self) -> uuid.UUID: ...
    @property
    def caller(self) -> str | None: ...
    @property
    def called(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Attribution:
    method: str  # dynamic | source | offline | none
    confidence: float
    reason: str
    tracking_number_id: uuid.UUID | None = None
    session: TrackingSession | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    conflict: bool = False


def _none(reason: str, number: DialledNumber | None = None) -> Attribution:
    return Attribution(
        method="none",
        confidence=0.0,
        reason=reason,
        tracking_number_id=number.id if number else None,
    )


async def attribute(
    db: AsyncSession, call: CallLike, *, earlier_visitors: Sequence[uuid.UUID | None]
) -> Attribution:
    """`earlier_visitors`: the visitors of the caller's earlier calls to this site (the caller
    looks them up once, for this and for the first-time-caller flag)."""
    if not call.called:
        return _none("the PBX did not say which number was called")
    at = call.started_at
    number = await repository.tracking_number_at(
        db, site_id=call.site_id, number=call.called, at=at
    )
    if number is None:
        if await repository.is_target(db, site_id=call.site_id, number=call.called):
            return _none(f"{call.called} is the site's own number: no tracking number was dialled")
        return _none(f"{call.called} is not a tracking number of this site")
    if number.kind == "offline":
        return Attribution(
            method="offline",
            confidence=OFFLINE_NUMBER,
            reason=f"offline number of campaign {number.campaign or number.source!r}",
            tracking_number_id=number.id,
            source=number.source,
            medium=number.medium,
            campaign=number.campaign,
        )
    if number.kind == "source":
        return await _source_number(db, number, at=at)
    return await _dynamic_number(db, call, number, earlier_visitors)


async def _source_number(db: AsyncSession, number: DialledNumber, *, at: datetime) -> Attribution:
    shared = await repository.fallbacks_showing(
        db, tracking_number_id=number.id, since=at - FALLBACK_WINDOW, until=at
    )
    if shared:
        confidence = SHARED_FALLBACK
        reason = (
            f"source-level number of {number.source}, also shown to {shared} session(s) as a "
            "pool's overflow in the hour before the call"
        )
    else:
        confidence = SOURCE_NUMBER
        reason = f"source-level number shown to every visitor from {number.source}"
    return Attribution(
        method="source",
        confidence=confidence,
        reason=reason,
        tracking_number_id=number.id,
        source=number.source,
        medium=number.medium,
        campaign=number.campaign,
    )


async def _dynamic_number(
    db: AsyncSession,
    call: CallLike,
    number: DialledNumber,
    earlier_visitors: Sequence[uuid.UUID | None],
) -> Attribution:
    at = call.started_at
    holding = await pool_service.last_holding(db, tracking_number_id=number.id, at=at)
    if holding is None or holding.session is None:
        return _none(f"nobody held {number.number} when the call started", number)
    pool, session = holding.pool, holding.session
    ended_at = lease_end(holding)
    cooldown = timedelta(seconds=pool.cooldown_s)
    if at <= ended_at:
        confidence, reason = _live(number, holding, at=at)
    elif at <= ended_at + cooldown:
        into = at - ended_at
        share = into / cooldown if cooldown else 1.0
        confidence = round(COOLDOWN_HIGH - (COOLDOWN_HIGH - COOLDOWN_LOW) * share, 3)
        reason = (
            f"called {_span(into)} after this visit's lease of {number.number} ended, "
            "within the cooldown"
        )
    elif at <= ended_at + timedelta(seconds=pool.late_call_window_s):
        confidence, reason = await _late(db, number, holding, at=at)
    else:
        return _none(
            f"nobody held {number.number} when the call started: the last visit to hold it "
            f"ended {_span(at - ended_at)} before, past the pool's late-call window",
            number,
        )
    attribution = Attribution(
        method="dynamic",
        confidence=confidence,
        reason=reason,
        tracking_number_id=number.id,
        session=session,
        source=session.source,
        medium=session.medium,
        campaign=session.campaign,
    )
    return _check_repeat_caller(call, attribution, earlier_visitors)


def lease_end(holding: pool_service.Holding) -> datetime:
    """When the lease stopped keeping the number. The store closes a lease in the log when it
    next notices; until then the session's last ping bounds it: nobody kept it alive past
    last_seen + idle timeout, nor past max_lease."""
    lease, pool, session = holding.lease, holding.pool, holding.session
    if lease.ended_at is not None:
        return lease.ended_at
    cap = lease.started_at + timedelta(seconds=pool.max_lease_s)
    if session is None:
        return cap
    return min(cap, session.last_seen_at + timedelta(seconds=pool.idle_timeout_s))


def ping_interval(idle_timeout_s: int) -> timedelta:
    return timedelta(seconds=max(MIN_PING_S, min(PING_S, idle_timeout_s // 3)))


def _live(
    number: DialledNumber, holding: pool_service.Holding, *, at: datetime
) -> tuple[float, str]:
    assert holding.session is not None
    quiet = at - holding.session.last_seen_at
    if quiet <= ping_interval(holding.pool.idle_timeout_s) + PING_GRACE:
        # A ping after the call (quiet < 0) shows the tab open through it just as well.
        return LIVE_PING, (
            f"{number.number} was leased to this visit alone when the call started, "
            "and its page was open (it pinged within the ping interval)"
        )
    return LIVE_LEASE, (
        f"{number.number} was leased to this visit alone when the call started, but its page "
        f"had not pinged for {_span(quiet)}"
    )


async def _late(
    db: AsyncSession, number: DialledNumber, holding: pool_service.Holding, *, at: datetime
) -> tuple[float, str]:
    """A call past the lease and cooldown, within the pool's late-call window: nobody held the
    number since, so the last holder is the best guess, surer the sooner it came."""
    assert holding.session is not None
    pool, session = holding.pool, holding.session
    ended_at = lease_end(holding)
    cooldown = timedelta(seconds=pool.cooldown_s)
    window = timedelta(seconds=pool.late_call_window_s)
    late_span = window - cooldown
    share = (at - ended_at - cooldown) / late_span if late_span else 1.0
    confidence = LATE_HIGH - (LATE_HIGH - LATE_LOW) * min(max(share, 0.0), 1.0)
    reason = (
        f"a late call: {_span(at - session.started_at)} after the visit, "
        f"{_span(at - ended_at)} after its lease of {number.number} ended and past the "
        "cooldown; nobody held the number since"
    )
    others = await _other_holders(db, holding, at=at)
    if others:
        other = others[0]
        assert other.session is not None
        confidence *= LATE_SHARED_FACTOR
        reason += (
            f"; but visitor {_visitor(other)} held it too, {_span(at - lease_end(other))} "
            f"before the call, before visitor {_visitor(holding)}"
        )
    return round(confidence, 3), reason


async def _other_holders(
    db: AsyncSession, holding: pool_service.Holding, *, at: datetime
) -> list[pool_service.Holding]:
    """Other visitors whose lease of the number ended within the late-call window before `at`,
    newest first: the call may as well be theirs."""
    pool = holding.pool
    window = timedelta(seconds=pool.late_call_window_s)
    earlier = await pool_service.holdings_between(
        db,
        tracking_number_id=holding.lease.tracking_number_id,
        since=at - window - timedelta(seconds=pool.max_lease_s),
        until=holding.lease.started_at,
    )
    mine = _visitor(holding)
    return [
        other
        for other in earlier
        if other.lease.id != holding.lease.id
        and other.session is not None
        and _visitor(other) != mine
        and lease_end(other) + window >= at
    ]


def _visitor(holding: pool_service.Holding) -> str:
    session = holding.session
    assert session is not None
    return str(session.visitor_id or session.id)


def _span(delta: timedelta) -> str:
    """A duration as people say it: 40 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _check_repeat_caller(
    call: CallLike, attribution: Attribution, earlier_visitors: Sequence[uuid.UUID | None]
) -> Attribution:
    """A caller whose earlier calls came from another visitor probably dialled a number they
    saved: flag it rather than pin the call on whoever holds the number now."""
    if not is_identifiable(call.caller) or attribution.session is None:
        return attribution
    others = {v for v in earlier_visitors if v is not None}
    holder = attribution.session.visitor_id
    if not others or holder in others:
        return attribution
    other = sorted(str(v) for v in others)[0]
    return Attribution(
        method=attribution.method,
        confidence=min(attribution.confidence, CONFLICT),
        reason=(
            f"{attribution.reason}; but this caller's earlier calls came from visitor {other}: "
            "possibly a saved number dialled again"
        ),
        tracking_number_id=attribution.tracking_number_id,
        session=attribution.session,
        source=attribution.source,
        medium=attribution.medium,
        campaign=attribution.campaign,
        conflict=True,
    )
