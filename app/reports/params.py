"""Query parameters shared by the reports, the cost listing and the exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.reports.call_filters import CallFilters

PERIOD_HELP = (
    "ISO date (a day in the site's time zone; `to` includes it) or ISO datetime "
    "(naive: the site's time zone; `to` excluded). Default: the last 30 days up to today."
)
From = Annotated[str | None, Query(alias="from", description=PERIOD_HELP, max_length=40)]
To = Annotated[str | None, Query(alias="to", description=PERIOD_HELP, max_length=40)]


def call_filters(
    source: Annotated[str, Query(max_length=200, description="Only calls of this source.")] = "",
    method: Annotated[
        str,
        Query(
            pattern="^(|dynamic|source|offline|none)$",
            description="Only calls attributed this way.",
        ),
    ] = "",
    outcome: Annotated[
        str, Query(pattern="^(|answered|missed)$", description="Only answered or missed calls.")
    ] = "",
    first_time: Annotated[bool, Query(description="Only first-time callers.")] = False,
    hide_spam: Annotated[bool, Query(description="Leave out possible spam.")] = False,
    caller: Annotated[
        str, Query(max_length=40, description="Digits anywhere in the caller's number.")
    ] = "",
    min_duration: Annotated[
        int | None,
        Query(ge=0, le=86_400, description="Only calls at least this many seconds long."),
    ] = None,
    tag: Annotated[str, Query(max_length=64, description="Only calls with this tag.")] = "",
    lead_status: Annotated[
        str,
        Query(
            pattern="^(|new|in_progress|qualified|spam)$",
            description="Only calls whose lead has this status.",
        ),
    ] = "",
) -> CallFilters:
    """The filters as query parameters (a FastAPI dependency)."""
    return CallFilters(
        source=source,
        method=method,
        outcome=outcome,
        first_time=first_time,
        hide_spam=hide_spam,
        caller=caller,
        min_duration=min_duration,
        tag=tag,
        lead_status=lead_status,
    )


CallFilterParams = Annotated[CallFilters, Depends(call_filters)]
