"""Yandex Direct: spend by day, campaign and keyword from the Reports service (API v5).

A CUSTOM_REPORT in TSV (Date, CampaignName, Criterion, Cost), POSTed to /json/v5/reports with
`Authorization: Bearer <OAuth token>` and, for an agency's client, `Client-Login`. Money comes
in the currency with two decimals (`returnMoneyInMicros: false`), VAT included. The server
answers 200 with the report, or 201 (queued) / 202 (being built) with `retryIn` seconds: the
same request again then fetches it. Errors are 400/500/502 with
`{"error": {"request_id", "error_code", "error_string", "error_detail"}}`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import httpx

from app.costs.accounts.platforms.base import (
    AccountData,
    Fetched,
    PlatformBusy,
    PlatformHttp,
    PlatformRefused,
    Spend,
    excerpt,
    money,
    retry_after,
)
from app.costs.keywords import keyword_text

KIND = "yandex_direct"
SOURCE = "yandex"
MEDIUM = "cpc"
LABEL = "Yandex Direct"
DEFAULT_BASE = "https://api.direct.yandex.com"
FIELDS = ("Date", "CampaignName", "Criterion", "Cost")
# Error codes that pass: the authorization server or API down, limits of points, requests,
# connections and the offline queue (https://yandex.ru/dev/direct/doc/ru/concepts/errors-list).
_TRANSIENT = frozenset({52, 56, 152, 506, 1000, 1001, 1002, 9000})
_DEFAULT_RETRY_S = 10
_EMPTY = "--"  # how the report writes "no value"


def report_request(
    account: AccountData, *, first_day: date, last_day: date, now: datetime
) -> dict[str, object]:
    # A report is cached under its name: a new name per import fetches fresh figures, the same
    # name while polling fetches the one being built.
    name = f"callsource {account.id.hex[:12]} {first_day}..{last_day} {now:%Y%m%dT%H%M%S}"
    return {
        "params": {
            "SelectionCriteria": {
                "DateFrom": first_day.isoformat(),
                "DateTo": last_day.isoformat(),
            },
            "FieldNames": list(FIELDS),
            "ReportName": name,
            "ReportType": "CUSTOM_REPORT",
            "DateRangeType": "CUSTOM_DATE",
            "Format": "TSV",
            "IncludeVAT": "YES",
            "IncludeDiscount": "NO",
        }
    }


def headers_for(account: AccountData) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {account.credentials['token']}",
        "Accept-Language": "en",
        "processingMode": "auto",
        "returnMoneyInMicros": "false",
        "skipReportHeader": "true",
        "skipReportSummary": "true",
    }
    login = account.config.get("client_login")
    if login:
        headers["Client-Login"] = str(login)
    return headers


def parse_report(text: str) -> list[Spend]:
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        return []
    if [h.strip() for h in header] != list(FIELDS):
        raise PlatformBusy(f"{LABEL} sent a report with unexpected columns: {header!r}")
    spend: list[Spend] = []
    for cells in reader:
        if not cells or not any(cells):
            continue
        try:
            day = date.fromisoformat(cells[0])
            cost = Decimal(cells[3])
        except (ValueError, IndexError, InvalidOperation):
            raise PlatformBusy(f"{LABEL} sent a report row that does not read: {cells!r}") from None
        campaign = "" if cells[1] == _EMPTY else cells[1]
        spend.append(Spend(day, campaign, keyword_text(cells[2]), money(cost), None))
    return spend


def _failure(response: httpx.Response) -> PlatformBusy | PlatformRefused:
    try:
        error = response.json()["error"]
        code = int(error.get("error_code", 0))
        message = f"{error.get('error_string', '')}: {error.get('error_detail', '')}".strip(": ")
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = 0, excerpt(response)
    detail = f"{LABEL} answered {response.status_code}" + (f" (error {code})" if code else "")
    detail += f": {message}" if message else ""
    if response.status_code >= 500 or code in _TRANSIENT:
        return PlatformBusy(detail, retry_after_s=retry_after(response))
    return PlatformRefused(detail)


async def fetch(
    http: PlatformHttp, account: AccountData, *, first_day: date, last_day: date, now: datetime
) -> Fetched:
    url = f"{account.api_base or DEFAULT_BASE}/json/v5/reports"
    body = report_request(account, first_day=first_day, last_day=last_day, now=now)
    headers = headers_for(account)
    while True:
        response = await http.request(LABEL, "POST", url, json=body, headers=headers)
        if response.status_code == 200:
            return Fetched(parse_report(response.text))
        if response.status_code in (201, 202):
            value = response.headers.get("retryIn", "")
            await http.wait(LABEL, float(value) if value.isdigit() else _DEFAULT_RETRY_S)
            continue
        if response.status_code == 429:
            raise PlatformBusy(
                f"{LABEL} limits requests: {excerpt(response)}", retry_after_s=retry_after(response)
            )
        raise _failure(response)
