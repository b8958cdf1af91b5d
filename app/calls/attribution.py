"""Which visit (or source) a call belongs to, and how sure we are.

The lease log decides for dynamic numbers: the assignment whose [start, end + cooldown] covers
the call's start. Everything else is a fixed meaning of the number called.
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

LIVE_LEASE = 0.95
COOLDOWN_HIGH, COOLDOWN_LOW = 0.75, 0.5
SOURCE_NUMBER = 0.6
SHARED_FALLBACK = 0.3
OFFLINE_NUMBER = 0.9
CONFLICT = 0.3
# How far back "this source number was also a pool's overflow" is looked for.
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
    holding = await pool_service.who_held(db, tracking_number_id=number.id, at=at)
    if holding is None or holding.session is None:
        return _none(f"nobody held {number.number} when the call started", number)
    held, pool, session = holding.lease, holding.pool, holding.session
    ended_at = held.ended_at
    if ended_at is None:
        # The store closes a lease in the log when it next notices; until then the session's
        # last ping bounds it: nobody kept it alive past last_seen + idle timeout.
        ended_at = min(
            held.started_at + timedelta(seconds=pool.max_lease_s),
            session.last_seen_at + timedelta(seconds=pool.idle_timeout_s),
        )
    cooldown_s = pool.cooldown_s
    if at > ended_at + timedelta(seconds=cooldown_s):
        return _none(f"nobody held {number.number} when the call started", number)
    if at <= ended_at:
        confidence = LIVE_LEASE
        reason = f"{number.number} was leased to this visit alone when the call started"
    else:
        into = (at - ended_at).total_seconds()
        share = min(into / cooldown_s, 1.0) if cooldown_s else 1.0
        confidence = round(COOLDOWN_HIGH - (COOLDOWN_HIGH - COOLDOWN_LOW) * share, 3)
        reason = (
            f"called {int(into // 60)} min after this visit's lease of {number.number} ended, "
            "within the cooldown"
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
