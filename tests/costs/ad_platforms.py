"""Stand-ins for the ad platforms on 127.0.0.1 (real HTTP, uvicorn in the test's loop), each
answering as its documentation says:

- Yandex Direct Reports API v5: POST /json/v5/reports with `Authorization: Bearer`,
  `Client-Login` for an agency's client, the report headers; 201 (queued) and 202 (being
  built) with `retryIn` before the TSV; errors as {"error": {"request_id", "error_code",
  "error_string", "error_detail"}} with 400/500.
- Google Ads: POST /token (OAuth refresh_token grant), then
  POST /v26/customers/{id}/googleAds:searchStream with `developer-token`, `login-customer-id`,
  answering a JSON array of {"results": [...]} batches; errors as {"error": {"code", "message",
  "status", "details"}} (429 RESOURCE_EXHAUSTED for the rate limit).
- VK Ads API v2: POST /api/v2/oauth2/token.json (client_credentials), GET
  /api/v2/ad_plans.json and /api/v2/statistics/ad_plans/day.json with `Authorization: Bearer`;
  429 when throttled, {"error": {"code", "message"}} otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

YANDEX_TOKEN = "y0_AgAAAA-direct-token"
GOOGLE_DEVELOPER_TOKEN = "dev-token-ABC123"
GOOGLE_CLIENT_ID = "1234-abc.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-secret"
GOOGLE_REFRESH_TOKEN = "1//refresh-token"
GOOGLE_ACCESS_TOKEN = "ya29.access-token"
GOOGLE_CUSTOMER = "1234567890"
VK_TOKEN = "vk-access-token-xyz"
VK_CLIENT_ID = "vk-client-1"
VK_CLIENT_SECRET = "vk-client-secret"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]


@dataclass
class Canned:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeAdPlatforms:
    requests: list[Seen] = field(default_factory=list)
    # Answers given before the real one, per platform ("yandex", "google", "vk").
    failures: dict[str, deque[Canned]] = field(
        default_factory=lambda: {"yandex": deque(), "google": deque(), "vk": deque()}
    )
    # Yandex: rows of (Date, CampaignName, Criterion, Cost); how many 201/202 answers each
    # new report gets before it is ready, and its retryIn.
    yandex_rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    yandex_client_login: str | None = None
    yandex_polls: int = 0
    yandex_retry_in: int = 2
    yandex_reports: dict[str, int] = field(default_factory=dict)
    # Google: (date, campaign, cost micros) and (date, campaign, ad group, keyword, micros).
    google_campaigns: list[tuple[str, str, int]] = field(default_factory=list)
    google_keywords: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    google_currency: str = "USD"
    google_login_customer: str | None = None
    google_tokens_issued: int = 0
    # VK: ad plans {id: name}; spend {(id, date): "spent"}.
    vk_plans: dict[int, str] = field(default_factory=dict)
    vk_spent: dict[tuple[int, str], str] = field(default_factory=dict)
    vk_tokens_issued: int = 0

    def fail(self, platform: str, status: int, body: Any, **headers: str) -> None:
        self.failures[platform].append(Canned(status, body, headers))

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    async def _seen(self, request: Request) -> Seen:
        body = await request.body()
        seen = Seen(
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            body,
            dict(request.query_params),
        )
        self.requests.append(seen)
        return seen

    def _canned(self, platform: str) -> Response | None:
        if not self.failures[platform]:
            return None
        canned = self.failures[platform].popleft()
        if isinstance(canned.body, str):
            return PlainTextResponse(canned.body, canned.status, headers=canned.headers)
        return JSONResponse(canned.body, canned.status, headers=canned.headers)

    # --- Yandex Direct --------------------------------------------------------------------

    async def yandex_reports_endpoint(self, request: Request) -> Response:
        seen = await self._seen(request)
        h = seen.headers
        if h.get("authorization") != f"Bearer {YANDEX_TOKEN}":
            return _yandex_error(400, 53, "Authorization error", "Invalid OAuth token")
        if (
            self.yandex_client_login is not None
            and h.get("client-login") != self.yandex_client_login
        ):
            return _yandex_error(400, 8800, "Object not found", "Unknown Client-Login")
        canned = self._canned("yandex")
        if canned is not None:
            return canned
        params = json.loads(seen.body)["params"]
        if params["ReportType"] != "CUSTOM_REPORT" or params["Format"] != "TSV":
            return _yandex_error(400, 4000, "Invalid request parameters", "ReportType/Format")
        name = params["ReportName"]
        left = self.yandex_reports.setdefault(name, self.yandex_polls)
        if left > 0:
            self.yandex_reports[name] = left - 1
            status = 201 if left == self.yandex_polls else 202
            return Response(
                status_code=status,
                headers={"retryIn": str(self.yandex_retry_in), "reportsInQueue": "1"},
            )
        first = params["SelectionCriteria"]["DateFrom"]
        last = params["SelectionCriteria"]["DateTo"]
        lines = ["\t".join(params["FieldNames"])]
        for day, campaign, criterion, cost in self.yandex_rows:
            if first <= day <= last:
                money = (
                    cost
                    if h.get("returnmoneyinmicros") == "false"
                    else str(int(float(cost) * 1_000_000))
                )
                lines.append("\t".join((day, campaign, criterion, money)))
        if h.get("skipreportheader") != "true":
            lines.insert(0, f'"callsource ({first} - {last})"')
        if h.get("skipreportsummary") != "true":
            lines.append(f"Total rows: {len(lines) - 1}")
        return PlainTextResponse("\n".join(lines) + "\n", 200)

    # --- Google Ads -----------------------------------------------------------------------

    async def google_token(self, request: Request) -> Response:
        seen = await self._seen(request)
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if (form.get("client_id"), form.get("client_secret")) != (
            GOOGLE_CLIENT_ID,
            GOOGLE_CLIENT_SECRET,
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "The OAuth client was not found."},
                401,
            )
        if form.get("refresh_token") != GOOGLE_REFRESH_TOKEN:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
                400,
            )
        self.google_tokens_issued += 1
        return JSONResponse(
            {
                "access_token": GOOGLE_ACCESS_TOKEN,
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/adwords",
                "token_type": "Bearer",
            }
        )

    async def google_search_stream(self, request: Request) -> Response:
        seen = await self._seen(request)
        if request.path_params["method"] != "googleAds:searchStream":
            return JSONResponse(
                {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}, 404
            )
        h = seen.headers
        if h.get("authorization") != f"Bearer {GOOGLE_ACCESS_TOKEN}":
            return _google_error(
                401, "UNAUTHENTICATED", "Request is missing required authentication credential."
            )
        if h.get("developer-token") != GOOGLE_DEVELOPER_TOKEN:
            return _google_error(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                "DEVELOPER_TOKEN_INVALID",
            )
        if (
            self.google_login_customer is not None
            and h.get("login-customer-id") != self.google_login_customer
        ):
            return _google_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                "USER_PERMISSION_DENIED",
            )
        if request.path_params["customer"] != GOOGLE_CUSTOMER:
            return _google_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                "CUSTOMER_NOT_FOUND",
            )
        canned = self._canned("google")
        if canned is not None:
            return canned
        query = json.loads(seen.body)["query"]
        between = re.search(r"segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
        if between is None:
            return _google_error(400, "INVALID_ARGUMENT", "Query needs a date range", "QUERY_ERROR")
        first, last = between.groups()
        results: list[dict[str, Any]] = []
        if "FROM keyword_view" in query:
            for day, campaign, group, keyword, micros in self.google_keywords:
                if first <= day <= last:
                    results.append(
                        {
                            "campaign": {
                                "resourceName": f"customers/{GOOGLE_CUSTOMER}/campaigns/1",
                                "name": campaign,
                            },
                            "adGroup": {
                                "resourceName": f"customers/{GOOGLE_CUSTOMER}/adGroups/2",
                                "name": group,
                            },
                            "adGroupCriterion": {
                                "resourceName": f"customers/{GOOGLE_CUSTOMER}/adGroupCriteria/2~3",
                                "keyword": {"text": keyword},
                            },
                            "metrics": {"costMicros": str(micros)},
                            "segments": {"date": day},
                        }
                    )
        elif "FROM campaign" in query:
            for day, campaign, micros in self.google_campaigns:
                if first <= day <= last:
                    results.append(
                        {
                            "customer": {
                                "resourceName": f"customers/{GOOGLE_CUSTOMER}",
                                "currencyCode": self.google_currency,
                            },
                            "campaign": {
                                "resourceName": f"customers/{GOOGLE_CUSTOMER}/campaigns/1",
                                "name": campaign,
                            },
                            "metrics": {"costMicros": str(micros)},
                            "segments": {"date": day},
                        }
                    )
        else:
            return _google_error(400, "INVALID_ARGUMENT", "Unknown resource", "QUERY_ERROR")
        # The stream's JSON array, in batches as the API sends them.
        batches = [
            {"results": results[i : i + 2], "fieldMask": "segments.date", "requestId": "r-1"}
            for i in range(0, len(results), 2)
        ]
        return JSONResponse(batches or [{"fieldMask": "segments.date", "requestId": "r-1"}])

    # --- VK Ads ---------------------------------------------------------------------------

    async def vk_token(self, request: Request) -> Response:
        seen = await self._seen(request)
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or (
            form.get("client_id"),
            form.get("client_secret"),
        ) != (VK_CLIENT_ID, VK_CLIENT_SECRET):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client credentials are invalid"},
                401,
            )
        self.vk_tokens_issued += 1
        return JSONResponse(
            {
                "access_token": VK_TOKEN,
                "token_type": "Bearer",
                "expires_in": 86400,
                "refresh_token": "vk-refresh",
                "tokens_left": 4,
            }
        )

    def _vk_auth(self, seen: Seen) -> Response | None:
        if seen.headers.get("authorization") != f"Bearer {VK_TOKEN}":
            return JSONResponse(
                {"error": {"code": "invalid_token", "message": "Access token is invalid"}}, 401
            )
        return self._canned("vk")

    async def vk_ad_plans(self, request: Request) -> Response:
        seen = await self._seen(request)
        refused = self._vk_auth(seen)
        if refused is not None:
            return refused
        limit, offset = int(seen.query.get("limit", 20)), int(seen.query.get("offset", 0))
        ids = sorted(self.vk_plans)
        page = [{"id": i, "name": self.vk_plans[i]} for i in ids[offset : offset + limit]]
        return JSONResponse({"count": len(ids), "offset": offset, "items": page})

    async def vk_statistics(self, request: Request) -> Response:
        seen = await self._seen(request)
        refused = self._vk_auth(seen)
        if refused is not None:
            return refused
        ids = [int(i) for i in seen.query["id"].split(",")]
        if len(ids) > 50:
            return JSONResponse(
                {"error": {"code": "ERR_WRONG_PARAMETER", "message": "too many ids"}}, 400
            )
        first, last = seen.query["date_from"], seen.query["date_to"]
        items = []
        for plan in ids:
            rows = [
                {
                    "date": day,
                    "base": {
                        "shows": 100,
                        "clicks": 5,
                        "spent": spent,
                        "cpm": "1",
                        "cpc": "1",
                        "ctr": 5,
                    },
                }
                for (p, day), spent in sorted(self.vk_spent.items())
                if p == plan and first <= day <= last
            ]
            items.append({"id": plan, "rows": rows, "total": {"base": {}}})
        return JSONResponse({"items": items, "total": {"base": {}}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/json/v5/reports", self.yandex_reports_endpoint, methods=["POST"]),
                Route("/token", self.google_token, methods=["POST"]),
                Route(
                    "/v26/customers/{customer}/{method}",
                    self.google_search_stream,
                    methods=["POST"],
                ),
                Route("/api/v2/oauth2/token.json", self.vk_token, methods=["POST"]),
                Route("/api/v2/ad_plans.json", self.vk_ad_plans, methods=["GET"]),
                Route("/api/v2/statistics/ad_plans/day.json", self.vk_statistics, methods=["GET"]),
            ]
        )


def _yandex_error(status: int, code: int, string: str, detail: str) -> Response:
    body = {
        "error": {
            "request_id": "8695244274068608439",
            "error_code": code,
            "error_string": string,
            "error_detail": detail,
        }
    }
    return JSONResponse(body, status, headers={"RequestId": "8695244274068608439"})


def _google_error(status: int, grpc: str, message: str, reason: str | None = None) -> Response:
    details = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [{"errorCode": {"authenticationError": reason}, "message": message}],
                "requestId": "r-err",
            }
        )
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": grpc, "details": details}}, status
    )


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FakeAdPlatformsServer:
    def __init__(self, platforms: FakeAdPlatforms) -> None:
        self.platforms = platforms
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.platforms.app(), log_level="warning", lifespan="off", access_log=False,
            ws="none", http="h11", timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started:
                return
            await asyncio.sleep(0.005)
        raise RuntimeError("the stand-in ad platforms did not start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
