"""Google Ads offline click conversions: each qualifying call with a gclid, uploaded with
`customers/{id}:uploadClickConversions`; when one of its deals is won later, the conversion's
value is restated with `customers/{id}:uploadConversionAdjustments` (RESTATEMENT).

Both calls carry an OAuth access token (from the refresh token, at Google's token endpoint),
the `developer-token` and, for a manager account, `login-customer-id`. They run with
`partialFailure`, so a rejected conversion comes back in `partialFailureError` with a 200:
read here, sorted into dead (the reason shown), retry later (too recent) or already there.
Times are "yyyy-mm-dd hh:mm:ss+03:00", in the site's time zone. Each conversion carries an
order id derived from the call, which the adjustment names it by.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from app.kit.google_ads import API_VERSION as GOOGLE_ADS_API_VERSION
from crm_push.connectors.base import (
    Created,
    Job,
    api_base,
    conversion_of,
    destination_events,
    sent_value,
)
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

DEFAULT_BASE = "https://googleads.googleapis.com"
OAUTH_ENDPOINT = "https://oauth2.googleapis.com/token"
API_VERSION = GOOGLE_ADS_API_VERSION
# Google asks to wait before uploading for a new conversion action or a just-made click.
RETRY_LATER = frozenset(
    {"TOO_RECENT_CONVERSION_ACTION", "TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION"}
)
# The adjusted conversion may still be processing: retried with the usual backoff.
NOT_YET = frozenset({"CONVERSION_NOT_FOUND"})
ALREADY_THERE = frozenset(
    {"CLICK_CONVERSION_ALREADY_EXISTS", "DUPLICATE_CLICK_CONVERSION_IN_REQUEST"}
)
RETRY_LATER_S = 6 * 3600.0


def local_time(moment: datetime, timezone: str) -> str:
    """ "2026-03-01 14:05:09+03:00": the format both upload services take."""
    return moment.astimezone(ZoneInfo(timezone)).isoformat(sep=" ", timespec="seconds")


def order_id(job: Job) -> str:
    return "cs_" + job.the_call.id.hex


def conversion_action(config: dict[str, Any]) -> str:
    return f"customers/{config['customer_id']}/conversionActions/{config['conversion_action_id']}"


def click_conversion(job: Job) -> dict[str, Any]:
    conversion = conversion_of(job)
    body: dict[str, Any] = {
        "gclid": job.the_call.gclid,
        "conversionAction": conversion_action(job.connector.config),
        "conversionDateTime": local_time(job.the_call.started_at, conversion.timezone),
        "orderId": order_id(job),
    }
    won = sent_value(job)
    if won is not None:
        body["conversionValue"] = float(won.revenue)
        body["currencyCode"] = won.currency
    return body


def restatement(job: Job) -> dict[str, Any] | None:
    won = sent_value(job)
    if won is None:
        return None
    conversion = conversion_of(job)
    # Must be after the conversion's own time.
    when = max(won.won_at, job.the_call.started_at + timedelta(seconds=1))
    return {
        "conversionAction": conversion_action(job.connector.config),
        "adjustmentType": "RESTATEMENT",
        "orderId": order_id(job),
        "adjustmentDateTime": local_time(when, conversion.timezone),
        "restatementValue": {"adjustedValue": float(won.revenue), "currencyCode": won.currency},
    }


def failure_codes(answer: Any) -> list[tuple[str, str]]:
    """(error code, message) of each error in a partialFailureError."""
    if not isinstance(answer, dict) or not answer.get("partialFailureError"):
        return []
    error = answer["partialFailureError"]
    found: list[tuple[str, str]] = []
    for detail in error.get("details") or []:
        for item in detail.get("errors") or [] if isinstance(detail, dict) else []:
            codes = item.get("errorCode") or {}
            code = next((str(v) for v in codes.values()), "UNKNOWN") if codes else "UNKNOWN"
            found.append((code, str(item.get("message") or "")))
    return found or [("UNKNOWN", str(error.get("message") or "partial failure"))]


class GoogleAds:
    kind = "google_ads"
    rate: Rate | None = None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return destination_events(config)

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # A second upload of the same click, action and time is answered "already exists",
        # which push takes as sent: nothing to look up first.
        return None

    async def _access_token(self, crm: CrmHttp, job: Job) -> str:
        config, credentials = job.connector.config, job.connector.credentials
        # With api_base, the stand-in (or proxy) serves the token endpoint as {api_base}/token.
        url = f"{api_base(config, '')}/token" if config.get("api_base") else OAUTH_ENDPOINT
        form = {
            "grant_type": "refresh_token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["refresh_token"],
        }
        reply = await crm.request(
            "POST",
            url,
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            write=False,
        )
        answer = reply.json()
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise CrmFailure("Google's token endpoint answered no access_token")
        crm.secrets = (*crm.secrets, str(token))
        return str(token)

    async def _post(self, crm: CrmHttp, job: Job, method: str, body: dict[str, Any]) -> Any:
        config = job.connector.config
        token = await self._access_token(crm, job)
        headers = {
            "Authorization": f"Bearer {token}",
            "developer-token": str(job.connector.credentials["developer_token"]),
        }
        if config.get("login_customer_id"):
            headers["login-customer-id"] = str(config["login_customer_id"])
        base = api_base(config, DEFAULT_BASE)
        url = f"{base}/{API_VERSION}/customers/{config['customer_id']}:{method}"
        reply = await crm.request("POST", url, json=body, headers=headers, write=True)
        return reply.json()

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        if job.event == "deal.won":
            adjustment = restatement(job)
            if adjustment is None:
                # The deal is no longer won (or worth nothing): nothing to restate.
                return Created(external_id=None, refs={"skipped": "no won value"})
            answer = await self._post(
                crm,
                job,
                "uploadConversionAdjustments",
                {"conversionAdjustments": [adjustment], "partialFailure": True},
            )
            self._check(crm, answer)
            return Created(external_id=f"adjustment:{order_id(job)}")
        if not job.the_call.gclid:
            raise CrmFailure("the call has no gclid", permanent=True)
        answer = await self._post(
            crm,
            job,
            "uploadClickConversions",
            {"conversions": [click_conversion(job)], "partialFailure": True},
        )
        if self._check(crm, answer):
            return Created(external_id=f"order:{order_id(job)}", found=True)
        return Created(external_id=f"order:{order_id(job)}", refs={"job_id": answer.get("jobId")})

    def _check(self, crm: CrmHttp, answer: Any) -> bool:
        """Raise for a rejected conversion; True when it was there already."""
        errors = failure_codes(answer)
        if not errors:
            return False
        codes = {code for code, _ in errors}
        if codes <= ALREADY_THERE:
            return True
        message = "Google Ads refused it: " + crm.excerpt(
            "; ".join(f"{code}: {text}" for code, text in errors)
        )
        if codes & RETRY_LATER:
            raise CrmFailure(message, retry_after_s=RETRY_LATER_S)
        if codes & NOT_YET:
            raise CrmFailure(message)
        raise CrmFailure(message, permanent=True)
