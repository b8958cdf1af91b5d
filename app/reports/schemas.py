from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import PlainSerializer

from app.kit.schemas import OutputModel, UtcTimestamp


def _count(value: float) -> int | float:
    # The linear model credits fractions of calls; the other models whole ones, which read
    # better as 3 than as 3.0.
    rounded = round(value, 4)
    return int(rounded) if rounded.is_integer() else rounded


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


Count = Annotated[float, PlainSerializer(_count, return_type=int | float)]
Money = Annotated[float | None, PlainSerializer(_money, return_type=float | None)]
Ratio = Annotated[float | None, PlainSerializer(_ratio, return_type=float | None)]


class Figures(OutputModel):
    sessions: int
    calls: Count
    first_time_calls: Count
    answered: Count
    missed: Count
    # Answered calls that are not possible spam, and forms sent on the site (`form_leads`).
    leads: Count
    form_leads: Count
    deals_won: Count
    revenue: Money
    cost: Money  # null: no ad cost known for this row
    cost_per_call: Money
    cost_per_lead: Money
    romi: Ratio


class ChannelKey(OutputModel):
    source: str
    medium: str | None
    campaign: str | None
    # Filled at group_by=term only; costs are never known at that level (they carry no term).
    term: str | None


class SourceRow(Figures, ChannelKey):
    """One row of the sources report: the channel's columns first, then its figures."""


class SourcesReport(OutputModel):
    since: UtcTimestamp
    until: UtcTimestamp
    group_by: str
    model: str
    rows: list[SourceRow]
    totals: Figures
    # Revenue and costs are summed as one currency (a site sells in one); more than one code
    # here means the sums mix currencies and the dashboard should say so.
    currencies: list[str]


class DayCalls(OutputModel):
    day: date
    source: str
    calls: Count


class CallsByDay(OutputModel):
    since: UtcTimestamp
    until: UtcTimestamp
    model: str
    days: list[DayCalls]
