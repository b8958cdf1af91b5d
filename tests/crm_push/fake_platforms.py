"""Local stand-ins for the three conversion platforms on 127.0.0.1 (real HTTP, uvicorn in the
test's loop), speaking their documented requests and answers:

- GA4 Measurement Protocol: `/mp/collect` answers 204 to anything (as GA4 does) and records
  events only for the right measurement_id and api_secret; `/debug/mp/collect` answers
  `{"validationMessages": [{fieldPath, description, validationCode}]}` by the protocol's rules.
- Yandex Metrika: `POST /management/v1/counter/{id}/offline_conversions/upload`, a multipart
  CSV, `Authorization: OAuth <token>`; Metrika's error shape `{"errors": [{error_type,
  message}], "code", "message"}`; the answer `{"uploading": {...}}`.
- Google: the OAuth token endpoint (`/token`, refresh_token grant) and Google Ads'
  `customers/{id}:uploadClickConversions` / `:uploadConversionAdjustments` with partial
  failures in `partialFailureError`, and RPC errors for bad credentials.
Any route can be made to fail next with 429 (Retry-After) or 5xx.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.crm_push.fake_crm import _InLoopServer

MEASUREMENT_ID = "G-TEST12345"
API_SECRET = "ga4-secret-Zq81"
METRIKA_COUNTER = 44556677
METRIKA_TOKEN = "y0_metrika-oauth-token-93kd"
ADS_CUSTOMER = "1234567890"
ADS_ACTION = "987654321"
DEVELOPER_TOKEN = "dev-token-ABCDEF123"
OAUTH_CLIENT_ID = "1234-abc.apps.googleusercontent.com"
OAUTH_CLIENT_SECRET = "GOCSPX-client-secret"
REFRESH_TOKEN = "1//refresh-token-xyz987"
ACCESS_TOKEN = "ya29.access-token-from-stand-in"

_GA4_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_GA4_RESERVED = {"session_start", "first_visit", "user_engagement", "ad_click", "app_remove"}
_ADS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Platforms:
    clock: Callable[[], datetime]
    # (path prefix, status, Retry-After) to answer next, once each, instead of the real thing.
    failures: deque[tuple[str, int, int | None]] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    ga4_events: list[dict[str, Any]] = field(default_factory=list)
    metrika_uploads: list[dict[str, Any]] = field(default_factory=list)
    metrika_calls: list[dict[str, Any]] = field(default_factory=list)
    ads_conversions: list[dict[str, Any]] = field(default_factory=list)
    ads_adjustments: list[dict[str, Any]] = field(default_factory=list)
    # Google Ads answers for the gclids listed: a partial failure with this error code.
    ads_gclid_errors: dict[str, str] = field(default_factory=dict)
    _uploading_id: int = 500

    def fail(self, prefix: str, status: int, *, retry_after: int | None = None) -> None:
        self.failures.append((prefix, status, retry_after))

    def of(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def _seen(self, request: Request) -> Response | None:
        body = await request.body()
        self.requests.append(
            Seen(request.url.path, parse_qs(request.url.query), dict(request.headers), body)
        )
        for index, (prefix, status, retry_after) in enumerate(self.failures):
            if request.url.path.startswith(prefix):
                del self.failures[index]
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return JSONResponse(
                    {"error": {"code": status, "message": "stand-in failure"}},
                    status_code=status,
                    headers=headers,
                )
        return None

    # --- GA4 ------------------------------------------------------------------------------

    def ga4_problems(self, body: Any) -> list[dict[str, str]]:
        """The validation server's rules (validating-events): field path, description, code."""
        problems = []

        def problem(path: str, description: str, code: str) -> None:
            problems.append({"fieldPath": path, "description": description, "validationCode": code})

        if not isinstance(body, dict):
            problem("", "Unable to parse the request body.", "VALUE_INVALID")
            return problems
        if not body.get("client_id"):
            problem("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")
        events = body.get("events")
        if not isinstance(events, list) or not events:
            problem("events", "Measurement requires at least one event.", "VALUE_REQUIRED")
            return problems
        if len(events) > 25:
            problem("events", "A request may carry at most 25 events.", "EXCEEDED_MAX_ENTITIES")
        for index, event in enumerate(events):
            name = str(event.get("name", ""))
            if not _GA4_NAME.match(name):
                problem(
                    "events",
                    f"Event at index: [{index}] has invalid name [{name}]. "
                    "Names must start with an alphabetic character.",
                    "NAME_INVALID",
                )
            elif name in _GA4_RESERVED:
                problem("events", f"Event at index: [{index}] has reserved name [{name}].",
                        "NAME_RESERVED")  # fmt: skip
            params = event.get("params") or {}
            if len(params) > 25:
                problem(f"events[{index}].params", "Too many parameters.", "EXCEEDED_MAX_ENTITIES")
            for key, value in params.items():
                if len(key) > 40 or not _GA4_NAME.match(key):
                    problem(f"events[{index}].params", f"Invalid name [{key}].", "NAME_INVALID")
                if isinstance(value, str) and len(value) > 100:
                    problem(f"events[{index}].params.{key}", "Value is too long.",
                            "VALUE_OUT_OF_BOUNDS")  # fmt: skip
            if "value" in params and not params.get("currency"):
                problem(f"events[{index}].params.currency", "A value needs a currency.",
                        "VALUE_REQUIRED")  # fmt: skip
        micros = body.get("timestamp_micros")
        if micros is not None:
            age_h = (self.clock().timestamp() * 1e6 - int(micros)) / 3.6e9
            if age_h > 72 or age_h < -0.1:
                problem("timestamp_micros", "Timestamp is outside the 72 hours allowed.",
                        "VALUE_OUT_OF_BOUNDS")  # fmt: skip
        return problems

    async def ga4_debug(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        return JSONResponse({"validationMessages": self.ga4_problems(body)})

    async def ga4_collect(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        query = request.query_params
        # GA4 answers 2xx whatever it makes of a request; it keeps only good ones.
        if query.get("measurement_id") == MEASUREMENT_ID and query.get("api_secret") == API_SECRET:
            body = json.loads(await request.body())
            if not self.ga4_problems(body):
                self.ga4_events.append(body)
        return Response(status_code=204)

    # --- Yandex Metrika -------------------------------------------------------------------

    @staticmethod
    def _metrika_error(status: int, error_type: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"errors": [{"error_type": error_type, "message": message}], "code": status,
             "message": message},
            status_code=status,
        )  # fmt: skip

    async def metrika_upload(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        if request.headers.get("authorization") != f"OAuth {METRIKA_TOKEN}":
            return self._metrika_error(401, "invalid_token", "Invalid oauth_token")
        if int(request.path_params["counter"]) != METRIKA_COUNTER:
            return self._metrika_error(403, "access_denied", "Access is denied")
        id_type = request.query_params.get("client_id_type", "USER_ID")
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                return self._metrika_error(400, "invalid_parameter", "Expected a file")
            text = (await upload.read()).decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        column = {"CLIENT_ID": "ClientId", "YCLID": "Yclid", "USER_ID": "UserId"}.get(id_type)
        if column is None or not rows or column not in rows[0]:
            return self._metrika_error(
                400, "invalid_parameter", f"The file has no {column} column for {id_type}"
            )
        calls = request.path_params["method"] == "upload_calls"
        now = self.clock().timestamp()
        for row in rows:
            if calls:
                for figure in ("TalkDuration", "HoldDuration"):
                    if row.get(figure) and not row[figure].isdigit():
                        return self._metrika_error(400, "invalid_parameter", f"Bad {figure}")
                if row.get("CallMissed", "0") not in ("0", "1"):
                    return self._metrika_error(400, "invalid_parameter", "Bad CallMissed")
            elif not row.get("Target"):
                return self._metrika_error(400, "invalid_parameter", "Target is required")
            if not row.get("DateTime", "").isdigit() or int(row["DateTime"]) > now:
                return self._metrika_error(
                    400, "invalid_parameter", "DateTime must be a past Unix time stamp"
                )
            if row.get("Price") and not re.fullmatch(r"[A-Z]{3}", row.get("Currency") or ""):
                return self._metrika_error(400, "invalid_parameter", "Currency is invalid")
        self._uploading_id += 1
        kept = self.metrika_calls if calls else self.metrika_uploads
        kept.append({"client_id_type": id_type, "rows": rows})
        return JSONResponse(
            {
                "uploading": {
                    "id": self._uploading_id,
                    "source_quantity": len(rows),
                    "line_quantity": len(rows),
                    "client_id_type": id_type,
                    "status": "UPLOADED",
                }
            }
        )

    async def metrika_counter(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        if request.headers.get("authorization") != f"OAuth {METRIKA_TOKEN}":
            return self._metrika_error(401, "invalid_token", "Invalid oauth_token")
        if request.path_params["counter"] != METRIKA_COUNTER:
            return self._metrika_error(403, "access_denied", "Access is denied")
        return JSONResponse(
            {"counter": {"id": METRIKA_COUNTER, "name": "shop.example", "status": "Active"}}
        )

    # --- Google ---------------------------------------------------------------------------

    async def oauth_token(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != OAUTH_CLIENT_ID:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if (
            form.get("client_secret") != OAUTH_CLIENT_SECRET
            or form.get("refresh_token") != REFRESH_TOKEN
        ):
            return JSONResponse(
                {"error": "invalid_grant",
                 "error_description": "Token has been expired or revoked."},
                status_code=400,
            )  # fmt: skip
        return JSONResponse(
            {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer",
             "scope": "https://www.googleapis.com/auth/adwords"}
        )  # fmt: skip

    @staticmethod
    def _partial(errors: list[tuple[int, str, str]], kind: str) -> dict[str, Any]:
        return {
            "code": 3,
            "message": "; ".join(message for _, _, message in errors),
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {kind: code},
                            "message": message,
                            "location": {"fieldPathElements": [
                                {"fieldName": "conversions", "index": index}]},
                        }
                        for index, code, message in errors
                    ],
                }
            ],
        }  # fmt: skip

    async def google_ads(self, request: Request) -> Response:
        if (failed := await self._seen(request)) is not None:
            return failed
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return JSONResponse(
                {"error": {"code": 401, "status": "UNAUTHENTICATED",
                           "message": "Request had invalid authentication credentials."}},
                status_code=401,
            )  # fmt: skip
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            return JSONResponse(
                {"error": {"code": 403, "status": "PERMISSION_DENIED",
                           "message": "The developer token is not valid."}},
                status_code=403,
            )  # fmt: skip
        customer, _, method = request.path_params["rest"].partition(":")
        body = json.loads(await request.body())
        if customer.endswith("/googleAds") and method == "search":
            customer = customer.removesuffix("/googleAds")
            if customer != ADS_CUSTOMER:
                return JSONResponse(
                    {"error": {"code": 403, "status": "PERMISSION_DENIED",
                               "message": "The caller does not have permission"}},
                    status_code=403,
                )  # fmt: skip
            wanted = f"conversion_action.id = {ADS_ACTION}"
            results = (
                [{"conversionAction": {"resourceName": f"customers/{customer}/conversionActions/"
                  f"{ADS_ACTION}", "id": ADS_ACTION, "name": "Calls from ads",
                  "status": "ENABLED"}}]
                if wanted in str(body.get("query", "")) else []
            )  # fmt: skip
            return JSONResponse({"results": results, "fieldMask": "conversionAction.id"})
        if customer != ADS_CUSTOMER:
            return JSONResponse(
                {"error": {"code": 403, "status": "PERMISSION_DENIED",
                           "message": "The caller does not have permission"}},
                status_code=403,
            )  # fmt: skip
        if body.get("partialFailure") is not True:
            return JSONResponse(
                {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                           "message": "partial_failure must be true"}},
                status_code=400,
            )  # fmt: skip
        action = f"customers/{ADS_CUSTOMER}/conversionActions/{ADS_ACTION}"
        if method == "uploadClickConversions":
            return self._click_conversions(body, action)
        if method == "uploadConversionAdjustments":
            return self._adjustments(body, action)
        return JSONResponse({"error": {"code": 404, "message": "no such method"}}, status_code=404)

    def _click_conversions(self, body: dict[str, Any], action: str) -> Response:
        errors: list[tuple[int, str, str]] = []
        results: list[dict[str, Any]] = []
        for index, conversion in enumerate(body.get("conversions") or []):
            gclid = conversion.get("gclid")
            code = self.ads_gclid_errors.get(gclid or "")
            if conversion.get("conversionAction") != action:
                code = "INVALID_CONVERSION_ACTION"
            elif not _ADS_TIME.match(str(conversion.get("conversionDateTime", ""))):
                code = "INVALID_CONVERSION_DATE_TIME"
            elif any(
                (c["gclid"], c["conversionDateTime"]) == (gclid, conversion["conversionDateTime"])
                for c in self.ads_conversions
            ):
                code = "CLICK_CONVERSION_ALREADY_EXISTS"
            if code:
                errors.append((index, code, f"{code} for gclid {gclid}"))
                results.append({})
                continue
            self.ads_conversions.append(conversion)
            results.append(
                {"gclid": gclid, "conversionAction": action,
                 "conversionDateTime": conversion["conversionDateTime"]}
            )  # fmt: skip
        answer: dict[str, Any] = {"results": results, "jobId": "4242"}
        if errors:
            answer["partialFailureError"] = self._partial(errors, "conversionUploadError")
        return JSONResponse(answer)

    def _adjustments(self, body: dict[str, Any], action: str) -> Response:
        errors: list[tuple[int, str, str]] = []
        results: list[dict[str, Any]] = []
        for index, adjustment in enumerate(body.get("conversionAdjustments") or []):
            known = {c.get("orderId") for c in self.ads_conversions}
            code = None
            if adjustment.get("conversionAction") != action:
                code = "INVALID_CONVERSION_ACTION"
            elif adjustment.get("orderId") not in known:
                code = "CONVERSION_NOT_FOUND"
            elif not _ADS_TIME.match(str(adjustment.get("adjustmentDateTime", ""))):
                code = "INVALID_ADJUSTMENT_DATE_TIME"
            if code:
                errors.append((index, code, f"{code} for order {adjustment.get('orderId')}"))
                results.append({})
                continue
            self.ads_adjustments.append(adjustment)
            results.append({"orderId": adjustment["orderId"], "adjustmentType": "RESTATEMENT"})
        answer: dict[str, Any] = {"results": results}
        if errors:
            answer["partialFailureError"] = self._partial(errors, "conversionAdjustmentUploadError")
        return JSONResponse(answer)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/debug/mp/collect", self.ga4_debug, methods=["POST"]),
                Route("/mp/collect", self.ga4_collect, methods=["POST"]),
                Route(
                    "/management/v1/counter/{counter}/offline_conversions/{method:str}",
                    self.metrika_upload,
                    methods=["POST"],
                ),
                Route("/token", self.oauth_token, methods=["POST"]),
                Route("/v26/customers/{rest:path}", self.google_ads, methods=["POST"]),
                Route(
                    "/management/v1/counter/{counter:int}", self.metrika_counter, methods=["GET"]
                ),
            ]
        )


class PlatformsServer:
    def __init__(self, platforms: Platforms) -> None:
        self.platforms = platforms
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.platforms.app(),
            log_level="warning",
            lifespan="off",
            access_log=False,
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started:
                return
            await asyncio.sleep(0.005)
        raise RuntimeError("the stand-in platforms did not start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
