"""The attribution models in SQL: one row per (call, credited channel) with its weight.

Part of the repository layer. The models are specified in Python in attribution_models (and
the tests hold this SQL to that specification on random journeys); here they run inside the
database, so that a report over 100,000 calls moves a few dozen aggregated rows instead of
every call and visit.

The credited channel travels as one text key (see `channel_key`): the visit a call credits is
found by a correlated subquery on the (visitor_id, started_at) index, and a scalar subquery can
return one value only. Returning the visit's id instead would need a join back to the whole
visits table, which the planner answers by hashing all of it.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from app.models import Call, TrackingSession
from app.reports.attribution_models import DIRECT, NONE, Channel, GroupBy, Model

_Visit = aliased(TrackingSession, name="visit")


def channel_key(columns: Sequence[Any]) -> ColumnElement[str]:
    """The columns as one text, each as "<length>:<value>" (NULL as empty), so that no value,
    whatever characters it holds, can run into the next."""
    parts = []
    for column in columns:
        value = func.coalesce(column, "")
        parts.append(cast(func.length(value), String) + ":" + value)
    return reduce(operator.add, parts)


def decode_key(key: str) -> Channel:
    values: list[str] = []
    at = 0
    while at < len(key):
        colon = key.index(":", at)
        length = int(key[at:colon])
        values.append(key[colon + 1 : colon + 1 + length])
        at = colon + 1 + length
    return Channel.of(*values)


def in_period(site_id: uuid.UUID, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(Call.site_id == site_id, Call.started_at >= since, Call.started_at < until)


def _own_channel() -> tuple[ColumnElement[Any], ...]:
    """The call's own snapshot as (source, medium, campaign, term); "(none)" when unattributed."""
    unattributed = Call.attribution_method == "none"
    return (
        case((unattributed, literal(NONE)), else_=Call.source),
        case((unattributed, literal(NONE)), else_=Call.medium),
        case((unattributed, null()), else_=Call.campaign),
        case((unattributed, null()), else_=Call.term),
    )


def _visit_channel() -> tuple[Any, ...]:
    return (_Visit.source, _Visit.medium, _Visit.campaign, _Visit.term)


def _answered() -> ColumnElement[bool]:
    # A call still in progress that was picked up counts as answered already.
    return or_(Call.outcome == "answered", Call.status == "answered")


def _missed() -> ColumnElement[bool]:
    # The call list's rule: ended without being answered.
    return and_(Call.status == "ended", or_(Call.outcome.is_(None), Call.outcome != "answered"))


def _flag(condition: Any) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _call_columns() -> tuple[ColumnElement[Any], ...]:
    """What the report counts of each call. A lead is an answered call not flagged as
    possible spam (the service says why)."""
    return (
        Call.id.label("call_id"),
        Call.site_id.label("site_id"),
        Call.started_at.label("started_at"),
        _flag(Call.first_time_caller).label("first_time"),
        _flag(_answered()).label("answered"),
        _flag(_missed()).label("missed"),
        _flag(and_(_answered(), ~Call.possible_spam)).label("lead"),
    )


def _one_visit(key: ColumnElement[str], *, model: Model) -> ColumnElement[str]:
    """The key of the visit `model` credits: the visitor's latest non-direct visit up to the
    call, or their first visit."""
    query = select(key).where(
        _Visit.visitor_id == Call.visitor_id, _Visit.started_at <= Call.started_at
    )
    if model == Model.LAST_NON_DIRECT:
        # Without a tie-break on id the index order alone serves the LIMIT: no sort per call.
        query = query.where(_Visit.source != DIRECT).order_by(_Visit.started_at.desc())
    else:
        query = query.order_by(_Visit.started_at)
    return query.limit(1).correlate(Call).scalar_subquery()


def _single(where: ColumnElement[bool], model: Model, depth: int) -> Subquery:
    """Last non-direct and first touch: each call credits one visit, or keeps its own."""
    own = channel_key(_own_channel()[:depth])
    visit = _one_visit(channel_key(_visit_channel()[:depth]), model=model)
    if model == Model.LAST_NON_DIRECT:
        looks = and_(Call.visitor_id.is_not(None), Call.source == DIRECT)
    else:
        looks = Call.visitor_id.is_not(None)
    key = case((looks, func.coalesce(visit, own)), else_=own)
    return (
        select(*_call_columns(), key.label("key"), literal(1.0, Float).label("weight"))
        .where(where)
        .subquery("credited")
    )


def _linear(where: ColumnElement[bool], depth: int) -> Subquery:
    """Every visit up to the call gets an equal share; a call without one keeps its own."""
    shares = (
        select(
            *_call_columns(),
            channel_key(_visit_channel()[:depth]).label("key"),
            (literal(1.0, Float) / func.count().over(partition_by=Call.id)).label("weight"),
        )
        .join(
            _Visit,
            and_(_Visit.visitor_id == Call.visitor_id, _Visit.started_at <= Call.started_at),
        )
        .where(where, Call.visitor_id.is_not(None))
    )
    visited = exists(
        select(_Visit.id).where(
            _Visit.visitor_id == Call.visitor_id, _Visit.started_at <= Call.started_at
        )
    )
    alone = select(
        *_call_columns(),
        channel_key(_own_channel()[:depth]).label("key"),
        literal(1.0, Float).label("weight"),
    ).where(where, or_(Call.visitor_id.is_(None), ~visited))
    return union_all(shares, alone).subquery("credited")


def in_period_among(
    site_id: uuid.UUID, since: datetime, until: datetime, only: Collection[uuid.UUID] | None
) -> ColumnElement[bool]:
    """in_period, and among the calls `only` names when given."""
    where = in_period(site_id, since, until)
    return where if only is None else and_(where, Call.id.in_(list(only)))


def credited_calls(
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    *,
    model: Model,
    level: GroupBy,
    only: Collection[uuid.UUID] | None = None,
) -> Subquery:
    """Per call started in [since, until) (and among `only`) and channel it credits at
    `level`: call_id, started_at, the 0/1 figures first_time, answered, missed, lead, the
    channel `key` (see decode_key) and the `weight`; each call's weights add up to 1."""
    where = in_period_among(site_id, since, until, only)
    return credited_where(where, model=model, depth=level.depth)


def credited_where(where: ColumnElement[bool], *, model: Model, depth: int) -> Subquery:
    """As credited_calls, for the calls `where` says, at `depth` channel columns."""
    if model == Model.LINEAR:
        return _linear(where, depth)
    return _single(where, model, depth)
