"""The three CSV layouts, as pure functions from calls to rows.

calls.csv is read by people in spreadsheets; the other two by ad platforms, in exactly the
layouts of shared/reference/crm.md ("Analytics exports").
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.kit.clock import isoformat_z
from app.models import Call
from app.reports.attribution_models import GroupBy
from app.reports.schemas import SourcesReport
from app.reports.service import CallRevenue

Cell = str | int | None

# A spreadsheet runs a cell that starts with one of these as a formula ("=HYPERLINK(...)" in
# a referrer or a campaign name an attacker chose); a leading quote makes it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def defused(value: str | None) -> str | None:
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _missed(call: Call) -> bool:
    return call.status == "ended" and call.outcome != "answered"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _amount(revenue: CallRevenue | None) -> str | None:
    return f"{revenue.revenue:.2f}" if revenue is not None else None


# --- calls.csv ----------------------------------------------------------------------------

CALLS_HEADER = (
    "id",
    "started_at",
    "started_at_local",
    "caller",
    "called",
    "status",
    "outcome",
    "missed",
    "duration",
    "talk_duration",
    "first_time_caller",
    "possible_spam",
    "attribution_method",
    "confidence",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "landing_url",
    "referrer",
    "gclid",
    "yclid",
    "session_id",
    "visitor_id",
    "deals_won",
    "revenue",
    "currency",
    "recording_url",
)


def calls_rows(
    calls: Iterable[Call], revenue: Mapping[uuid.UUID, CallRevenue], zone: ZoneInfo
) -> Iterable[Sequence[Cell]]:
    """One row per call with its own attribution; every text cell defused."""
    yield CALLS_HEADER
    for call in calls:
        won = revenue.get(call.id)
        text = (
            call.caller,
            call.called,
            call.status,
            call.outcome,
        )
        attribution = (
            call.source,
            call.medium,
            call.campaign,
            call.term,
            call.content,
            call.landing_url,
            call.referrer,
            call.gclid,
            call.yclid,
        )
        yield (
            str(call.id),
            isoformat_z(call.started_at),
            _local(call.started_at, zone),
            *(defused(value) for value in text),
            _yes_no(_missed(call)),
            call.duration,
            call.talk_duration,
            _yes_no(call.first_time_caller),
            _yes_no(call.possible_spam),
            call.attribution_method,
            f"{call.confidence:.2f}",
            *(defused(value) for value in attribution),
            str(call.session_id) if call.session_id else None,
            str(call.visitor_id) if call.visitor_id else None,
            won.deals_won if won else 0,
            _amount(won),
            won.currency if won else None,
            defused(call.recording_url),
        )


# --- Google Ads offline click conversions ---------------------------------------------------

GOOGLE_ADS_HEADER = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)


def google_ads_rows(
    calls: Iterable[Call],
    revenue: Mapping[uuid.UUID, CallRevenue],
    *,
    zone: ZoneInfo,
    timezone: str,
    conversion_name: str,
) -> Iterable[Sequence[Cell]]:
    """One conversion per call with a gclid, at the call's start in the site's zone.

    The value is the call's won revenue; a call without a won deal leaves value and currency
    empty, so that Google applies the conversion action's own default value rather than
    recording a call as worth 0.
    """
    yield (f"Parameters:TimeZone={timezone}",)
    yield GOOGLE_ADS_HEADER
    for call in calls:
        won = revenue.get(call.id)
        yield (
            call.gclid,
            conversion_name,
            _local(call.started_at, zone),
            _amount(won),
            won.currency if won else None,
        )


# --- Yandex Metrika calls -------------------------------------------------------------------


class MetrikaId(StrEnum):
    """Which visitor ids the file carries: both columns (each row has at least one), or one
    for an upload made with client_id_type=CLIENT_ID (or of yclids only)."""

    ANY = "any"
    CLIENT_ID = "client_id"
    YCLID = "yclid"


_METRIKA_FIGURES = (
    "DateTime",
    "StaticCall",
    "Price",
    "Currency",
    "PhoneNumber",
    "TalkDuration",
    "HoldDuration",
    "CallMissed",
    "FirstTimeCaller",
    "URL",
)


def metrika_header(identifier: MetrikaId) -> tuple[str, ...]:
    ids = {
        MetrikaId.ANY: ("ClientId", "Yclid"),
        MetrikaId.CLIENT_ID: ("ClientId",),
        MetrikaId.YCLID: ("Yclid",),
    }[identifier]
    return ids + _METRIKA_FIGURES


def _talk(call: Call) -> int | None:
    # A missed call that reported no talk time talked for none.
    if call.talk_duration is None and _missed(call):
        return 0
    return call.talk_duration


def _hold(call: Call) -> int | None:
    """Ringing and waiting: the part of the call that was not talk."""
    talk = _talk(call)
    if call.duration is None or talk is None:
        return None
    return max(call.duration - talk, 0)


def metrika_rows(
    calls: Iterable[tuple[Call, str | None]],
    revenue: Mapping[uuid.UUID, CallRevenue],
    *,
    identifier: MetrikaId,
) -> Iterable[Sequence[Cell]]:
    """One row per call Metrika can tie to a visit: by the visit's ClientId or the yclid.

    PhoneNumber is the tracking number that was called, the one the page showed (not the
    caller's own number, which Metrika does not need and we need not hand out).
    """
    yield metrika_header(identifier)
    for call, client_id in calls:
        ids: tuple[str | None, ...] = {
            MetrikaId.ANY: (client_id or None, call.yclid or None),
            MetrikaId.CLIENT_ID: (client_id or None,),
            MetrikaId.YCLID: (call.yclid or None,),
        }[identifier]
        if not any(ids):
            continue
        won = revenue.get(call.id)
        missed = _missed(call)
        yield (
            *ids,
            int(call.started_at.timestamp()),
            0 if call.attribution_method == "dynamic" else 1,
            _amount(won),
            won.currency if won else None,
            call.called,
            _talk(call),
            _hold(call),
            1 if missed else 0,
            1 if call.first_time_caller else 0,
            call.landing_url,
        )


# --- the sources report ---------------------------------------------------------------------

_CHANNEL_COLUMNS = ("source", "medium", "campaign", "term")
_SOURCE_FIGURES = (
    "sessions",
    "calls",
    "first_time_calls",
    "answered",
    "missed",
    "leads",
    "deals_won",
    "revenue",
    "cost",
    "cost_per_call",
    "romi",
)


def _figure(value: float | int | None) -> Cell:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return value


def sources_rows(report: SourcesReport, *, group_by: GroupBy) -> Iterable[Sequence[Cell]]:
    """The sources table as on the page: the channel's columns down to `group_by`, the
    figures, the currency of the money columns; the total last."""
    channel = _CHANNEL_COLUMNS[: group_by.depth]
    yield (*channel, *_SOURCE_FIGURES, "currency")
    for row in report.rows:
        data = row.model_dump()
        yield (
            *(defused(data[name]) for name in channel),
            *(_figure(data[name]) for name in _SOURCE_FIGURES),
            report.currency,
        )
    totals = report.totals.model_dump()
    yield (
        "total",
        *([None] * (len(channel) - 1)),
        *(_figure(totals[name]) for name in _SOURCE_FIGURES),
        report.currency,
    )
