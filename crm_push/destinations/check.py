""" "Test the connection" of a destination: one harmless exchange with the platform through
the guarded client, its answer in one line with the credentials redacted.

GA4: an event sent to the validation server only (nothing is recorded; GA4 checks the shape,
not the secret). Yandex Metrika: the counter read with the token. Google Ads: the refresh
token exchanged, then the conversion action read with a GAQL search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx

from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import CrmConnector
from crm_push.connectors import ga4, google_ads, yandex_metrika
from crm_push.connectors.base import api_base
from crm_push.redaction import excerpt
from crm_push.transport import secrets_of

TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
LINE_CHARS: Final = 160


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    line: str


class _Failed(Exception):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _line(reply: httpx.Response) -> str:
    reason = f"{reply.status_code} {reply.reason_phrase}".strip()
    text = " ".join(reply.text.split())
    return f"{reason}: {text}" if text else reason


async def _ga4(http: httpx.AsyncClient, row: CrmConnector) -> tuple[bool, str]:
    config = row.config
    reply = await http.post(
        f"{api_base(config, ga4.DEFAULT_BASE)}/debug/mp/collect",
        params={
            "measurement_id": str(config["measurement_id"]),
            "api_secret": str(row.credentials["api_secret"]),
        },
        json={
            "client_id": "callsource.connection-test",
            "events": [{"name": str(config.get("event_name") or ga4.DEFAULT_CALL_EVENT)}],
        },
    )
    messages: list[Any] = []
    if reply.is_success:
        body: Any = reply.json() if reply.content.strip() else {}
        messages = body.get("validationMessages") or [] if isinstance(body, dict) else []
    return reply.is_success and not messages, _line(reply)


async def _metrika(http: httpx.AsyncClient, row: CrmConnector) -> tuple[bool, str]:
    base = api_base(row.config, yandex_metrika.DEFAULT_BASE)
    reply = await http.get(
        f"{base}/management/v1/counter/{int(row.config['counter_id'])}",
        headers={"Authorization": f"OAuth {row.credentials['token']}"},
    )
    return reply.is_success, _line(reply)


async def _google_ads(http: httpx.AsyncClient, row: CrmConnector) -> tuple[bool, str]:
    config, credentials = row.config, row.credentials
    token_url = (
        f"{api_base(config, '')}/token" if config.get("api_base") else google_ads.OAUTH_ENDPOINT
    )
    token = await http.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["refresh_token"],
        },
    )
    if not token.is_success:
        raise _Failed("OAuth: " + _line(token))
    access = str(token.json().get("access_token", ""))
    headers = {
        "Authorization": f"Bearer {access}",
        "developer-token": str(credentials["developer_token"]),
    }
    if config.get("login_customer_id"):
        headers["login-customer-id"] = str(config["login_customer_id"])
    customer = config["customer_id"]
    # GAQL, not SQL; the id is an integer by construction.
    action = int(config["conversion_action_id"])
    query = (
        "SELECT conversion_action.id, conversion_action.name, conversion_action.status "  # noqa: S608
        f"FROM conversion_action WHERE conversion_action.id = {action}"
    )
    reply = await http.post(
        f"{api_base(config, google_ads.DEFAULT_BASE)}/{google_ads.API_VERSION}"
        f"/customers/{customer}/googleAds:search",
        json={"query": query},
        headers=headers,
    )
    found = reply.is_success and bool((reply.json() or {}).get("results"))
    if reply.is_success and not found:
        return False, f"{_line(reply)} (no such conversion action in this account)"
    return found, _line(reply)


async def check(row: CrmConnector, *, outbound: OutboundPolicy) -> CheckResult:
    secrets = secrets_of(dict(row.credentials))
    probe = {"ga4": _ga4, "yandex_metrika": _metrika, "google_ads": _google_ads}[row.kind]
    try:
        async with outbound_client(outbound, timeout=TIMEOUT) as http:
            ok, line = await probe(http, row)
    except _Failed as failed:
        ok, line = False, failed.line
    except httpx.HTTPError as exc:
        ok, line = False, f"could not connect: {exc or type(exc).__name__}"
    except ValueError:
        ok, line = False, "the answer is not JSON"
    return CheckResult(ok, excerpt(line, secrets, limit=LINE_CHARS))
