"""Google Ads: spend by day, campaign and keyword from `googleAds:searchStream` (REST).

An access token is got from the OAuth refresh token (POST https://oauth2.googleapis.com/token,
grant_type=refresh_token); each search carries `Authorization: Bearer`, `developer-token` and,
when the account is reached through a manager account, `login-customer-id`. Two GAQL queries:
keyword_view gives the spend of search keywords, campaign the whole spend of each campaign
(display, video, Performance Max have no keywords); what the keywords leave of a campaign's
day is booked without a keyword, so the campaign's total stays the platform's.

With `api_base` set, both the token and the searches go there (`{api_base}/token`,
`{api_base}/v26/customers/...`): a proxy in front of both, or a test's stand-in.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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
from app.kit.google_ads import API_VERSION as GOOGLE_ADS_API_VERSION

KIND = "google_ads"
SOURCE = "google"
MEDIUM = "cpc"
LABEL = "Google Ads"
API_VERSION = GOOGLE_ADS_API_VERSION
DEFAULT_BASE = "https://googleads.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, no secret
MICROS = Decimal(1_000_000)


def customer_id(value: str) -> str:
    """123-456-7890 as the API takes it: digits only."""
    return value.replace("-", "").strip()


# GAQL, not SQL: the only values in it are two dates we format ourselves.
def campaign_query(first_day: date, last_day: date) -> str:
    return (
        "SELECT segments.date, campaign.name, customer.currency_code, metrics.cost_micros "  # noqa: S608
        f"FROM campaign WHERE segments.date BETWEEN '{first_day}' AND '{last_day}' "
        "AND metrics.cost_micros > 0"
    )


def keyword_query(first_day: date, last_day: date) -> str:
    return (
        "SELECT segments.date, campaign.name, ad_group.name, ad_group_criterion.keyword.text, "  # noqa: S608
        "metrics.cost_micros FROM keyword_view "
        f"WHERE segments.date BETWEEN '{first_day}' AND '{last_day}' AND metrics.cost_micros > 0"
    )


def _google_error(response: httpx.Response) -> tuple[str, str]:
    """(status, message) of a Google API error body, an object or a stream's array."""
    try:
        data: Any = response.json()
        if isinstance(data, list):
            data = next((item for item in data if isinstance(item, dict) and "error" in item), {})
        error = data["error"]
        if isinstance(error, str):  # the OAuth endpoint: {"error", "error_description"}
            return error, str(data.get("error_description", ""))
        message = str(error.get("message", ""))
        for detail in error.get("details", []) or []:
            for failure in detail.get("errors", []) or []:
                if failure.get("message"):
                    message = f"{message} ({failure['message']})"
                    break
        return str(error.get("status", "")), message
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration):
        return "", excerpt(response)


def _failure(response: httpx.Response, what: str) -> PlatformBusy | PlatformRefused:
    status, message = _google_error(response)
    detail = f"{LABEL} {what} answered {response.status_code}"
    detail += f" {status}" if status else ""
    detail += f": {message}" if message else ""
    if response.status_code == 429 or status == "RESOURCE_EXHAUSTED":
        return PlatformBusy(detail, retry_after_s=retry_after(response))
    if response.status_code >= 500:
        return PlatformBusy(detail, retry_after_s=retry_after(response))
    return PlatformRefused(detail)


async def access_token(http: PlatformHttp, account: AccountData) -> str:
    url = f"{account.api_base}/token" if account.api_base else TOKEN_URL
    creds = account.credentials
    response = await http.request(
        LABEL,
        "POST",
        url,
        data={
            "grant_type": "refresh_token",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"],
        },
    )
    if response.status_code != 200:
        raise _failure(response, "sign-in (OAuth)")
    try:
        return str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError):
        raise PlatformBusy(f"{LABEL} sign-in (OAuth) answered without an access token") from None


async def search(
    http: PlatformHttp, account: AccountData, token: str, query: str
) -> list[dict[str, Any]]:
    base = account.api_base or DEFAULT_BASE
    customer = customer_id(str(account.config["customer_id"]))
    url = f"{base}/{API_VERSION}/customers/{customer}/googleAds:searchStream"
    headers = {
        "Authorization": f"Bearer {token}",
        "developer-token": str(account.credentials["developer_token"]),
    }
    login = account.config.get("login_customer_id")
    if login:
        headers["login-customer-id"] = customer_id(str(login))
    response = await http.request(LABEL, "POST", url, json={"query": query}, headers=headers)
    if response.status_code != 200:
        raise _failure(response, "search")
    try:
        batches = response.json()
        if isinstance(batches, dict):
            batches = [batches]
        if any("error" in batch for batch in batches):
            raise _failure(response, "search")
        return [row for batch in batches for row in batch.get("results", [])]
    except (ValueError, TypeError, AttributeError):
        raise PlatformBusy(
            f"{LABEL} search answered what does not read: {excerpt(response)}"
        ) from None


def _cost(row: dict[str, Any]) -> Decimal:
    try:
        return Decimal(str(row["metrics"].get("costMicros", "0"))) / MICROS
    except (KeyError, InvalidOperation, AttributeError):
        raise PlatformBusy(f"{LABEL} sent a row without a readable cost: {row!r}") from None


def _sum(
    campaigns: list[dict[str, Any]], keywords: list[dict[str, Any]]
) -> tuple[dict[tuple[date, str], Decimal], dict[tuple[date, str, str], Decimal], str | None]:
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    currency: str | None = None
    for row in campaigns:
        key = (date.fromisoformat(row["segments"]["date"]), row["campaign"]["name"])
        totals[key] += _cost(row)
        currency = row.get("customer", {}).get("currencyCode") or currency
    by_keyword: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    for row in keywords:
        day = date.fromisoformat(row["segments"]["date"])
        text = row.get("adGroupCriterion", {}).get("keyword", {}).get("text", "")
        by_keyword[(day, row["campaign"]["name"], text)] += _cost(row)
    return totals, by_keyword, currency


async def fetch(
    http: PlatformHttp, account: AccountData, *, first_day: date, last_day: date, now: datetime
) -> Fetched:
    token = await access_token(http, account)
    campaigns = await search(http, account, token, campaign_query(first_day, last_day))
    keywords = await search(http, account, token, keyword_query(first_day, last_day))
    try:
        totals, by_keyword, currency = _sum(campaigns, keywords)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PlatformBusy(f"{LABEL} search answered rows that do not read") from None
    spend: list[Spend] = []
    booked: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for (day, campaign, text), cost in sorted(by_keyword.items()):
        spend.append(Spend(day, campaign, text, money(cost), currency))
        booked[(day, campaign)] += money(cost)
    for (day, campaign), total in sorted(totals.items()):
        rest = money(total) - booked[(day, campaign)]
        if rest > 0:
            spend.append(Spend(day, campaign, "", rest, currency))
    return Fetched(spend)
