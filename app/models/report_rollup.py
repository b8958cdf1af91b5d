"""What the reports keep precomputed, so that a month's report costs the same however much
history lies before it (issue 19).

- `CallCredit`: per call and attribution model, the channels the call credits with their
  weights and the call's figures (answered, lead, won deals, revenue in the site's currency).
  Every change to a call or its deals logs a `CreditChange` in its transaction (inserts only,
  so concurrent calls never wait on each other); the worker then rewrites the call's credits.
- `CallRollup`, `RevenueRollup`: the credits summed per site, local day, model and channel,
  and the won revenue per day and currency, rewritten with the credits of the day's changed
  calls; a report counts the days a pending change names directly.
- `VisitRollup`: sessions per site, local day and channel, for days that are over; the worker
  fills them in, a day at a time.
- `ReportRollupState`: per site, what the precomputed rows were built with. Reports read them
  only while that still holds (a currency or time zone changed means the direct computation
  until the worker has rebuilt).

No foreign key points at calls or visits: those tables are to be partitioned by month, and a
credit row dies with its site (cascade) or is rewritten with its call.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CallCredit(Base):
    __tablename__ = "call_credits"
    # A day's rollup reads the day's credits of every model.
    __table_args__ = (Index("ix_call_credits_site_started", "site_id", "started_at"),)

    call_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(20), primary_key=True)
    # The credited (source, medium, campaign, term) as one text (app.reports.credits'
    # channel_key): the attribution SQL finds a visit's channel as one value, and a report
    # groups by it and folds the few hundred channels to its level in Python.
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    weight: Mapped[float] = mapped_column(Float)
    first_time: Mapped[int] = mapped_column(SmallInteger)
    answered: Mapped[int] = mapped_column(SmallInteger)
    missed: Mapped[int] = mapped_column(SmallInteger)
    lead: Mapped[int] = mapped_column(SmallInteger)
    deals_won: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class CreditChange(Base):
    """A call or its deals changed: its credits and its day's rollups are to be rewritten
    (`started_at`: the day, as the call started then)."""

    __tablename__ = "credit_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    call_id: Mapped[uuid.UUID]
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]


class _SiteDay:
    """The key every daily rollup starts with: a site's local day."""

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class CallRollup(_SiteDay, Base):
    __tablename__ = "call_rollups"

    model: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(Text, primary_key=True)  # as in call_credits
    calls: Mapped[float] = mapped_column(Float)
    first_time: Mapped[float] = mapped_column(Float)
    answered: Mapped[float] = mapped_column(Float)
    missed: Mapped[float] = mapped_column(Float)
    leads: Mapped[float] = mapped_column(Float)
    deals_won: Mapped[float] = mapped_column(Float)
    revenue: Mapped[float] = mapped_column(Float)


class RevenueRollup(_SiteDay, Base):
    """Won revenue of the day's calls in each currency (the site's and the ones set apart)."""

    __tablename__ = "revenue_rollups"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    revenue: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class VisitRollup(_SiteDay, Base):
    __tablename__ = "visit_rollups"

    # channel_key of the four below: NULLs cannot be part of a primary key.
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    sessions: Mapped[int] = mapped_column(Integer)


class ReportRollupState(Base):
    __tablename__ = "report_rollup_states"

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # The currency every credit row's revenue is in and the zone of the call rollups' days;
    # NULL until the first build is over.
    calls_currency: Mapped[str | None] = mapped_column(String(3))
    calls_zone: Mapped[str | None] = mapped_column(String(64))
    # The zone the visit rollups' days are in, and the first day not rolled up yet.
    visits_zone: Mapped[str | None] = mapped_column(String(64))
    visits_until: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]
