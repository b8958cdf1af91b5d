from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, false, text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.currencies import country_currency
from app.models.base import Base, UUIDPrimaryKey


def _country_currency(context: DefaultExecutionContext) -> str:
    """A site written without a currency reports in its country's."""
    return country_currency(context.get_current_parameters()["country"])  # type: ignore[no-untyped-call]


class Site(UUIDPrimaryKey, Base):
    """A customer's website: its snippet key, the domains allowed to use the tracker, its locale."""

    __tablename__ = "sites"

    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[str]]
    # ISO 3166 alpha-2: numbers written without a country code are read in this country.
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    # ISO 4217: the currency reports add up in; deals and costs in another one are shown apart.
    currency: Mapped[str] = mapped_column(String(3), default=_country_currency)
    # The snippet captures form submissions as leads (it loads /t/forms.js for them).
    forms_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # ...and only those the visitor consented to: a checkbox the site marks
    # `data-callsource-consent`, or callsource('consent', true).
    forms_consent_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Visits, calls and form leads older than this many months (of the site's own calendar)
    # are deleted with what hangs off them; the reports keep their totals. 0: kept for ever.
    retention_months: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
