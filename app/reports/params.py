"""Query parameters shared by the reports, the cost listing and the exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

PERIOD_HELP = (
    "ISO date (a day in the site's time zone; `to` includes it) or ISO datetime "
    "(naive: the site's time zone; `to` excluded). Default: the last 30 days up to today."
)
From = Annotated[str | None, Query(alias="from", description=PERIOD_HELP, max_length=40)]
To = Annotated[str | None, Query(alias="to", description=PERIOD_HELP, max_length=40)]
