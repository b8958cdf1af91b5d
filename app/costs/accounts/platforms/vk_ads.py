"""VK Ads (ads.vk.com, API v2): spend by day and campaign (ad plan).

Requests carry `Authorization: Bearer <token>`: the account's access token, or one got with
its client credentials (POST /api/v2/oauth2/token.json, grant_type=client_credentials, or
agency_client_credentials for an agency's client) and kept for reuse while it lives, since
VK Ads allows only a few live tokens per client. Campaign names come from
GET /api/v2/ad_plans.json, spend from GET /api/v2/statistics/ad_plans/day.json (`base.spent`
per day) for at most 50 campaigns a request. Rate limits are 429 answers; errors are
`{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
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

KIND = "vk_ads"
SOURCE = "vk"
MEDIUM = "cpc"
LABEL = "VK Ads"
DEFAULT_BASE = "https://ads.vk.com"
PAGE = 250
IDS_PER_REQUEST = 50
# A token obtained is reused until this long before it expires.
_MARGIN = timedelta(minutes=10)


def _failure(response: httpx.Response, what: str) -> PlatformBusy | PlatformRefused:
    try:
        error = response.json()["error"]
        if isinstance(error, str):
            message = f"{error}: {response.json().get('error_description', '')}".rstrip(": ")
        else:
            message = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, KeyError, TypeError, AttributeError):
        message = excerpt(response)
    detail = f"{LABEL} {what} answered {response.status_code}" + (f": {message}" if message else "")
    if response.status_code == 429 or response.status_code >= 500:
        return PlatformBusy(detail, retry_after_s=retry_after(response))
    return PlatformRefused(detail)


async def _token(
    http: PlatformHttp, account: AccountData, base: str, now: datetime
) -> tuple[str, dict[str, Any] | None]:
    creds = account.credentials
    if creds.get("token"):
        return str(creds["token"]), None
    cached, until = creds.get("access_token"), creds.get("access_token_until")
    if cached and until and datetime.fromisoformat(until) - _MARGIN > now:
        return str(cached), None
    form = {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    agency_client = account.config.get("agency_client")
    if agency_client:
        form.update(grant_type="agency_client_credentials", agency_client_name=str(agency_client))
    else:
        form["grant_type"] = "client_credentials"
    response = await http.request(LABEL, "POST", f"{base}/api/v2/oauth2/token.json", data=form)
    if response.status_code != 200:
        raise _failure(response, "sign-in")
    try:
        data = response.json()
        token = str(data["access_token"])
        lives = timedelta(seconds=int(data.get("expires_in", 86400)))
    except (ValueError, KeyError, TypeError):
        raise PlatformBusy(f"{LABEL} sign-in answered without an access token") from None
    keep = {**creds, "access_token": token, "access_token_until": (now + lives).isoformat()}
    return token, keep


async def _get(http: PlatformHttp, url: str, token: str, params: dict[str, str], what: str) -> Any:
    response = await http.request(
        LABEL, "GET", url, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    if response.status_code != 200:
        raise _failure(response, what)
    try:
        return response.json()
    except ValueError:
        raise PlatformBusy(
            f"{LABEL} {what} answered what does not read: {excerpt(response)}"
        ) from None


async def campaigns(http: PlatformHttp, base: str, token: str) -> dict[int, str]:
    names: dict[int, str] = {}
    offset = 0
    while True:
        page = await _get(
            http,
            f"{base}/api/v2/ad_plans.json",
            token,
            {"fields": "id,name", "limit": str(PAGE), "offset": str(offset)},
            "campaign list",
        )
        try:
            items = page.get("items", [])
            for item in items:
                names[int(item["id"])] = str(item.get("name", ""))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PlatformBusy(f"{LABEL} campaign list answered what does not read") from None
        offset += len(items)
        if not items or offset >= int(page.get("count", 0)):
            return names


async def fetch(
    http: PlatformHttp, account: AccountData, *, first_day: date, last_day: date, now: datetime
) -> Fetched:
    base = account.api_base or DEFAULT_BASE
    token, keep = await _token(http, account, base, now)
    names = await campaigns(http, base, token)
    ids = sorted(names)
    spend: list[Spend] = []
    for start in range(0, len(ids), IDS_PER_REQUEST):
        chunk = ids[start : start + IDS_PER_REQUEST]
        data = await _get(
            http,
            f"{base}/api/v2/statistics/ad_plans/day.json",
            token,
            {
                "id": ",".join(map(str, chunk)),
                "date_from": first_day.isoformat(),
                "date_to": last_day.isoformat(),
                "metrics": "base",
            },
            "statistics",
        )
        try:
            for item in data.get("items", []):
                name = names.get(int(item["id"]), str(item["id"]))
                for row in item.get("rows", []):
                    cost = Decimal(str(row.get("base", {}).get("spent", "0") or "0"))
                    day = date.fromisoformat(row["date"])
                    if cost > 0:
                        spend.append(Spend(day, name, "", money(cost), None))
        except (InvalidOperation, KeyError, TypeError, ValueError, AttributeError):
            raise PlatformBusy(f"{LABEL} statistics answered rows that do not read") from None
    return Fetched(spend, credentials=keep)
