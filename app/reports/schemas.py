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


class SetApart(OutputModel):
    """Money of the period in a currency other than the site's: never added to its sums."""

    currency: str
    revenue: Money  # of won deals
    cost: Money  # of ad costs


class SourcesReport(OutputModel):
    since: UtcTimestamp
    until: UtcTimestamp
    group_by: str
    model: str
    rows: list[SourceRow]
    # totals.romi counts the revenue that has a source: unattributed_revenue is left out.
    totals: Figures
    # Every sum of money in the report is in the site's currency...
    currency: str
    # ... and deals or costs in any other are listed here instead of being added to it.
    set_apart: list[SetApart]
    # Revenue of the calls no visit or source explains (the "(none)" channel): in the rows and
    # in totals.revenue, but not in totals.romi, which would flatter the ad spend with it.
    unattributed_revenue: Money


class DayCalls(OutputModel):
    day: date
    source: str
    calls: Count


class CallsByDay(OutputModel):
    since: UtcTimestamp
    until: UtcTimestamp
    model: str
    days: list[DayCalls]
