"""A local CRM on 127.0.0.1 (real HTTP, served by uvicorn in the test's event loop) speaking
the documented shapes of amoCRM API v4, Bitrix24's incoming-webhook REST and a Standard
Webhooks receiver, and failing on demand: 5xx, 429 with Retry-After, hanging after creating
the record, refused connections (stopped), an outage until a moment of the simulated clock."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AMO_TOKEN = "amo-long-lived-token-7f3a9c"
BITRIX_SECRET = "bx7secret9k2m4q"
BITRIX_APP_TOKEN = "bx-app-token-5d8e1f"

Clock = Callable[[], datetime]


@dataclass
class Failure:
    mode: str  # "500" | "500_after_create" | "429" | "503_limit" | "hang_after_create"
    writes_only: bool = True
    retry_after: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeCrm:
    clock: Clock
    hang_s: float = 1.5
    failures: deque[Failure] = field(default_factory=deque)
    outage_until: datetime | None = None
    requests: list[Seen] = field(default_factory=list)
    # amoCRM
    amo_unsorted: list[dict[str, Any]] = field(default_factory=list)
    amo_leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    amo_notes: list[dict[str, Any]] = field(default_factory=list)
    # Bitrix24
    bx_leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    bx_contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    bx_activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    bx_deals: dict[int, dict[str, Any]] = field(default_factory=dict)
    bx_comments: list[dict[str, Any]] = field(default_factory=list)
    # Standard Webhooks receiver
    webhook_secrets: list[str] = field(default_factory=list)
    webhook_posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    webhook_received: dict[str, dict[str, Any]] = field(default_factory=dict)
    _next_id: int = 1000
    _current: str = ""

    def fail(
        self, mode: str, *, times: int = 1, writes_only: bool = True, retry_after: int | None = None
    ) -> None:
        for _ in range(times):
            self.failures.append(Failure(mode, writes_only, retry_after))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- what the tests assert on -------------------------------------------------------

    def records_by_key(self) -> dict[str, int]:
        """Idempotency key -> how many records the CRM holds under it (must be 1 each)."""
        counts: dict[str, int] = {}
        keys = [e["source_uid"] for e in self.amo_unsorted]
        keys += [r["ORIGIN_ID"] for r in (*self.bx_leads.values(), *self.bx_activities.values())]
        keys += [h["webhook-id"] for h, _ in self.webhook_posts if "webhook-id" in h]
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        return counts

    def amo_close(self, lead_id: int, *, status_id: int, price: int) -> None:
        lead = self.amo_leads[lead_id]
        lead.update(status_id=status_id, price=price, updated_at=int(self.clock().timestamp()))

    def bx_add_contact(self, phone: str) -> int:
        contact_id = self.new_id()
        self.bx_contacts[contact_id] = {"ID": str(contact_id), "PHONE": [{"VALUE": phone}]}
        return contact_id

    def bx_convert(self, lead_id: int, *, opportunity: str, semantic: str) -> int:
        deal_id = self.new_id()
        self.bx_deals[deal_id] = {
            "ID": str(deal_id),
            "LEAD_ID": str(lead_id),
            "OPPORTUNITY": opportunity,
            "CURRENCY_ID": "RUB",
            "STAGE_SEMANTIC_ID": semantic,
            "DATE_MODIFY": self.clock().isoformat(),
        }
        return deal_id

    def bx_update_deal(self, deal_id: int, **fields: str) -> None:
        self.bx_deals[deal_id].update(fields, DATE_MODIFY=self.clock().isoformat())

    # --- failures -----------------------------------------------------------------------

    def _failure_for(self, write: bool) -> Response | Failure | None:
        if self.outage_until is not None and self.clock() < self.outage_until:
            return JSONResponse({"error": "maintenance"}, status_code=503)
        if self.failures and (write or not self.failures[0].writes_only):
            failure = self.failures.popleft()
            if failure.mode == "500":
                return JSONResponse({"error": "internal"}, status_code=500)
            if failure.mode == "429":
                headers = {"Retry-After": str(failure.retry_after or 1)}
                return JSONResponse({"title": "Too Many Requests"}, 429, headers=headers)
            if failure.mode == "echo":
                # Error pages that quote the request are how tokens leak into logs.
                return JSONResponse({"error": f"bad request {self._current}"}, status_code=502)
            if failure.mode == "503_limit":
                body = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
                return JSONResponse(body, status_code=503)
            return failure  # acts after creating
        return None

    async def _after_create(self, failure: Failure | None, ok: Response) -> Response:
        if failure is None:
            return ok
        if failure.mode == "hang_after_create":
            await asyncio.sleep(self.hang_s)
            return ok
        return JSONResponse({"error": "internal"}, status_code=500)  # 500_after_create

    async def _record(self, request: Request) -> bytes:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Seen(request.method, request.url.path, headers, body))
        self._current = f"{request.url} {headers.get('authorization', '')} {body.decode()}"
        return body

    # --- amoCRM -------------------------------------------------------------------------

    def _amo_authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {AMO_TOKEN}"

    async def amo_unsorted_sip(self, request: Request) -> Response:
        return await self._amo_unsorted_add(request, "sip")

    async def amo_unsorted_forms(self, request: Request) -> Response:
        return await self._amo_unsorted_add(request, "forms")

    async def _amo_unsorted_add(self, request: Request, category: str) -> Response:
        body = json.loads(await self._record(request))
        if not self._amo_authorised(request):
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        outcome = self._failure_for(write=True)
        if isinstance(outcome, Response):
            return outcome
        answers = []
        for entry in body:
            for key in ("source_uid", "source_name", "created_at", "metadata", "_embedded"):
                if key not in entry:
                    return JSONResponse({"title": "Bad Request", "detail": key}, status_code=400)
            # The documented metadata of an unsorted form entry.
            form_keys = ("form_id", "form_name", "form_page", "form_sent_at")
            for key in form_keys if category == "forms" else ():
                if key not in entry["metadata"]:
                    return JSONResponse(
                        {"title": "Bad Request", "detail": f"metadata.{key}"}, status_code=400
                    )
            lead_id, contact_id, uid = self.new_id(), self.new_id(), uuid.uuid4().hex
            lead = entry["_embedded"]["leads"][0]
            self.amo_leads[lead_id] = {
                "id": lead_id,
                "name": lead["name"],
                "price": 0,
                "status_id": 1,
                "pipeline_id": entry.get("pipeline_id", 1),
                "updated_at": int(self.clock().timestamp()),
                "custom_fields_values": lead.get("custom_fields_values", []),
            }
            stored = {
                **entry,
                "uid": uid,
                "category": category,
                "_embedded": {
                    **entry["_embedded"],
                    "leads": [{**lead, "id": lead_id}],
                    "contacts": [{**entry["_embedded"]["contacts"][0], "id": contact_id}],
                },
            }
            self.amo_unsorted.append(stored)
            answers.append(
                {
                    "uid": uid,
                    "account_id": 1,
                    "request_id": entry.get("request_id"),
                    "_embedded": {"leads": [{"id": lead_id}], "contacts": [{"id": contact_id}]},
                }
            )
        ok = JSONResponse({"_total_items": len(answers), "_embedded": {"unsorted": answers}})
        return await self._after_create(outcome, ok)

    async def amo_unsorted_list(self, request: Request) -> Response:
        await self._record(request)
        if not self._amo_authorised(request):
            return JSONResponse({"status": 401}, status_code=401)
        if isinstance(failure := self._failure_for(write=False), Response):
            return failure
        page, limit = int(request.query_params.get("page", 1)), int(request.query_params["limit"])
        category = request.query_params.get("filter[category][]")
        entries = sorted(
            (e for e in self.amo_unsorted if category in (None, e["category"])),
            key=lambda e: e["created_at"],
            reverse=True,
        )
        chunk = entries[(page - 1) * limit : page * limit]
        if not chunk:
            return Response(status_code=204)
        return JSONResponse({"_page": page, "_embedded": {"unsorted": chunk}})

    async def amo_lead(self, request: Request) -> Response:
        await self._record(request)
        if not self._amo_authorised(request):
            return JSONResponse({"status": 401}, status_code=401)
        if isinstance(failure := self._failure_for(write=False), Response):
            return failure
        lead = self.amo_leads.get(int(request.path_params["lead_id"]))
        return JSONResponse(lead) if lead else Response(status_code=204)

    async def amo_lead_edit(self, request: Request) -> Response:
        """`PATCH /api/v4/leads/{id}`: `_embedded.tags` replaces the lead's tags."""
        body = json.loads(await self._record(request))
        if not self._amo_authorised(request):
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        if isinstance(failure := self._failure_for(write=True), Response):
            return failure
        lead = self.amo_leads.get(int(request.path_params["lead_id"]))
        if lead is None:
            return JSONResponse({"title": "Not Found", "status": 404}, status_code=404)
        if not isinstance(body, dict):
            return JSONResponse({"title": "Bad Request", "status": 400}, status_code=400)
        tags = (body.get("_embedded") or {}).get("tags")
        if tags is not None:
            if not all(isinstance(t, dict) and t.get("name") for t in tags):
                return JSONResponse({"title": "Bad Request", "detail": "tags"}, status_code=400)
            lead["_embedded"] = {"tags": [{"id": self.new_id(), "name": t["name"]} for t in tags]}
        lead["updated_at"] = int(self.clock().timestamp())
        return JSONResponse({"id": lead["id"], "updated_at": lead["updated_at"]})

    async def amo_lead_notes(self, request: Request) -> Response:
        """`POST /api/v4/leads/{id}/notes`: a list of notes, each `note_type` + `params`."""
        body = json.loads(await self._record(request))
        if not self._amo_authorised(request):
            return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)
        if isinstance(failure := self._failure_for(write=True), Response):
            return failure
        lead_id = int(request.path_params["lead_id"])
        if lead_id not in self.amo_leads:
            return JSONResponse({"title": "Not Found", "status": 404}, status_code=404)
        answers = []
        for note in body:
            if note.get("note_type") != "common" or not (note.get("params") or {}).get("text"):
                return JSONResponse({"title": "Bad Request", "detail": "note"}, status_code=400)
            note_id = self.new_id()
            self.amo_notes.append({**note, "id": note_id, "entity_id": lead_id})
            answers.append({"id": note_id, "entity_id": lead_id, "request_id": "0"})
        return JSONResponse({"_embedded": {"notes": answers}})

    def amo_tags(self, lead_id: int) -> list[str]:
        return [t["name"] for t in self.amo_leads[lead_id].get("_embedded", {}).get("tags", [])]

    async def amo_lead_list(self, request: Request) -> Response:
        await self._record(request)
        if not self._amo_authorised(request):
            return JSONResponse({"status": 401}, status_code=401)
        if isinstance(failure := self._failure_for(write=False), Response):
            return failure
        since = int(request.query_params["filter[updated_at][from]"])
        page, limit = int(request.query_params.get("page", 1)), int(request.query_params["limit"])
        leads = sorted(
            (lead for lead in self.amo_leads.values() if lead["updated_at"] >= since),
            key=lambda lead: lead["updated_at"],
        )
        chunk = leads[(page - 1) * limit : page * limit]
        if not chunk:
            return Response(status_code=204)
        return JSONResponse({"_page": page, "_embedded": {"leads": chunk}})

    # --- Bitrix24 -----------------------------------------------------------------------

    async def bitrix(self, request: Request) -> Response:
        body = await self._record(request)
        if request.path_params["secret"] != BITRIX_SECRET:
            return JSONResponse({"error": "INVALID_CREDENTIALS"}, status_code=401)
        method = request.path_params["method"].removesuffix(".json")
        params = json.loads(body or b"{}")
        write = method in (
            "crm.lead.add",
            "crm.activity.add",
            "crm.lead.update",
            "crm.timeline.comment.add",
        )
        outcome = self._failure_for(write=write)
        if isinstance(outcome, Response):
            return outcome
        handler = getattr(self, "bx_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"error": "ERROR_METHOD_NOT_FOUND"}, status_code=404)
        answer: Response = handler(params)
        return await self._after_create(outcome, answer) if write else answer

    def bx_crm_lead_add(self, params: dict[str, Any]) -> Response:
        fields = params["fields"]
        if not fields.get("TITLE"):
            return JSONResponse({"error": "", "error_description": "TITLE"}, status_code=400)
        lead_id = self.new_id()
        self.bx_leads[lead_id] = {**fields, "ID": str(lead_id)}
        return JSONResponse({"result": lead_id})

    def bx_crm_lead_update(self, params: dict[str, Any]) -> Response:
        lead = self.bx_leads.get(int(params.get("id") or 0))
        if lead is None:
            return JSONResponse({"error": "", "error_description": "Not found"}, status_code=400)
        fields = params.get("fields") or {}
        statuses = {"NEW", "IN_PROCESS", "PROCESSED", "JUNK", "CONVERTED"}
        if "STATUS_ID" in fields and fields["STATUS_ID"] not in statuses:
            return JSONResponse({"error": "", "error_description": "STATUS_ID"}, status_code=400)
        lead.update(fields)
        return JSONResponse({"result": True})

    def bx_crm_timeline_comment_add(self, params: dict[str, Any]) -> Response:
        fields = params.get("fields") or {}
        records = {"lead": self.bx_leads, "contact": self.bx_contacts}.get(
            str(fields.get("ENTITY_TYPE"))
        )
        if records is None or int(fields.get("ENTITY_ID") or 0) not in records:
            return JSONResponse({"error": "", "error_description": "ENTITY_ID"}, status_code=400)
        if not fields.get("COMMENT"):
            return JSONResponse({"error": "", "error_description": "COMMENT"}, status_code=400)
        comment_id = self.new_id()
        self.bx_comments.append({**fields, "ID": comment_id})
        return JSONResponse({"result": comment_id})

    def bx_crm_activity_add(self, params: dict[str, Any]) -> Response:
        activity_id = self.new_id()
        self.bx_activities[activity_id] = {**params["fields"], "ID": str(activity_id)}
        return JSONResponse({"result": activity_id})

    def _by_key(self, records: dict[int, dict[str, Any]], flt: dict[str, Any]) -> list[Any]:
        return [
            r
            for r in records.values()
            if r.get("ORIGINATOR_ID") == flt.get("ORIGINATOR_ID")
            and r.get("ORIGIN_ID") == flt.get("ORIGIN_ID")
        ]

    def bx_crm_lead_list(self, params: dict[str, Any]) -> Response:
        found = [{"ID": r["ID"]} for r in self._by_key(self.bx_leads, params["filter"])]
        return JSONResponse({"result": found, "total": len(found)})

    def bx_crm_activity_list(self, params: dict[str, Any]) -> Response:
        found = [
            {
                "ID": r["ID"],
                "OWNER_ID": str(r["OWNER_ID"]),
                "OWNER_TYPE_ID": str(r["OWNER_TYPE_ID"]),
            }
            for r in self._by_key(self.bx_activities, params["filter"])
        ]
        return JSONResponse({"result": found, "total": len(found)})

    def bx_crm_duplicate_findbycomm(self, params: dict[str, Any]) -> Response:
        values = set(params["values"])

        def matches(record: dict[str, Any]) -> bool:
            return any(p.get("VALUE") in values for p in record.get("PHONE", []))

        found = {
            "LEAD": [int(r["ID"]) for r in self.bx_leads.values() if matches(r)],
            "CONTACT": [int(r["ID"]) for r in self.bx_contacts.values() if matches(r)],
        }
        result = {k: v for k, v in found.items() if v}
        return JSONResponse({"result": result or []})

    def bx_crm_deal_get(self, params: dict[str, Any]) -> Response:
        deal = self.bx_deals.get(int(params["id"]))
        if deal is None:
            return JSONResponse({"error": "", "error_description": "Not found"}, status_code=400)
        return JSONResponse({"result": deal})

    def bx_crm_deal_list(self, params: dict[str, Any]) -> Response:
        since = datetime.fromisoformat(params["filter"][">=DATE_MODIFY"].replace("Z", "+00:00"))
        deals = sorted(
            (
                d
                for d in self.bx_deals.values()
                if datetime.fromisoformat(d["DATE_MODIFY"]) >= since
            ),
            key=lambda d: d["DATE_MODIFY"],
        )
        start = int(params.get("start", 0))
        chunk = deals[start : start + 50]
        answer: dict[str, Any] = {"result": chunk, "total": len(deals)}
        if start + 50 < len(deals):
            answer["next"] = start + 50
        return JSONResponse(answer)

    # --- a Standard Webhooks receiver ---------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        body = await self._record(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        outcome = self._failure_for(write=True)
        if isinstance(outcome, Response):
            return outcome
        msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        presented = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()]
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = [
            base64.b64encode(
                hmac.new(
                    base64.b64decode(secret.removeprefix("whsec_")), signed, hashlib.sha256
                ).digest()
            ).decode()
            for secret in self.webhook_secrets
        ]
        if not any(hmac.compare_digest(e, p) for e in expected for p in presented):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        self.webhook_posts.append((headers, body))
        # A good receiver: the first message of an id counts, repeats are acknowledged.
        self.webhook_received.setdefault(msg_id, json.loads(body))
        return await self._after_create(outcome, JSONResponse({"ok": True}))

    async def gone(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"error": "this endpoint is gone"}, status_code=410)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v4/leads/unsorted/sip", self.amo_unsorted_sip, methods=["POST"]),
                Route("/api/v4/leads/unsorted/forms", self.amo_unsorted_forms, methods=["POST"]),
                Route("/api/v4/leads/unsorted", self.amo_unsorted_list, methods=["GET"]),
                Route("/api/v4/leads/{lead_id:int}", self.amo_lead, methods=["GET"]),
                Route("/api/v4/leads/{lead_id:int}", self.amo_lead_edit, methods=["PATCH"]),
                Route("/api/v4/leads/{lead_id:int}/notes", self.amo_lead_notes, methods=["POST"]),
                Route("/api/v4/leads", self.amo_lead_list, methods=["GET"]),
                Route("/rest/{user:int}/{secret}/{method}", self.bitrix, methods=["POST"]),
                Route("/receiver", self.webhook, methods=["POST"]),
                Route("/gone", self.gone, methods=["POST"]),
            ]
        )


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Runs inside pytest's loop: the test runner keeps its own signal handling.
        yield


class FakeCrmServer:
    """Serves a FakeCrm on a fixed loopback port; stop() refuses connections, start() again."""

    def __init__(self, crm: FakeCrm) -> None:
        self.crm = crm
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def amo_url(self) -> str:
        return self.url

    @property
    def bitrix_url(self) -> str:
        return f"{self.url}/rest/1/{BITRIX_SECRET}/"

    @property
    def receiver_url(self) -> str:
        return f"{self.url}/receiver"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.crm.app(),
            log_level="warning",
            lifespan="off",
            access_log=False,
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):  # up to 5 s
            if self._server.started:
                return
            await asyncio.sleep(0.005)
        raise RuntimeError("the fake CRM did not start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
