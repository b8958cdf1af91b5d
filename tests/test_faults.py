"""Fault injection: the real service, its PostgreSQL and its Redis killed and restarted under load.

`callsource serve` and `callsource worker` run as processes of their own against a PostgreSQL
and a Redis this test starts (tests/private_services.py). A bounded load of visitors (sessions
and pings, each from an address of its own, as browsers are) and of a PBX's signed generic
webhooks for the numbers those visitors were shown runs while the test kills Redis (-9) and
brings it back empty, stops PostgreSQL (immediate) for a few seconds, and kills Redis again.

A PBX retries what was not acknowledged; so does the load, until every webhook is. Then:
- every webhook the server acknowledged (2xx) is in `pbx_events`;
- every call whose end was acknowledged reaches the CRM stand-in exactly once: one lead per
  call, under the call's idempotency key (re-sends of one key are the documented at-least-once
  delivery and the receiver acknowledges them; a second lead is a duplicate);
- no number was leased to two live sessions at once, by the lease log and by what the visitors
  were shown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from crm_push.outbox import idempotency_key
from pbx_webhooks.providers.generic import sign
from tests.cli_processes import CLI, cli_env, free_port
from tests.crm_push.fake_crm import FakeCrm, FakeCrmServer
from tests.private_services import PrivatePostgres, PrivateRedis, require_private_services

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "fault-test-admin-token-5f2c9e71d04b8a63"
ORIGIN = "https://shop.example"
TARGET = "+74951234567"
POOL_NUMBERS = [f"+7495100{n:04d}" for n in range(1, 7)]
# The tracker treats headless or scripted agents as bots, which never get a dynamic number.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# The load: bounded by count and by time; it stops by itself.
MAX_VISITORS = 60
MIN_VISITORS = 24  # and at least until the faults are all done
ARRIVAL_GAP_S = 0.5
LOAD_LIMIT_S = 70.0
PING_GAP_S = 1.5
SHORT_STAY_PINGS = 2
LONG_STAY_PINGS = 14  # every third visitor keeps its number across the faults
EVENT_GAP_S = 0.4
# A PBX retries for hours; after the outage, the load gives the server this long to recover.
DELIVERY_LIMIT_S = 60.0
CRM_LIMIT_S = 60.0
FAULT_STEP_LIMIT_S = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


async def holds_within(condition: Callable[[], bool | Awaitable[bool]], *, limit_s: float) -> bool:
    """Poll `condition` until it holds (True) or `limit_s` passes (False)."""
    deadline = time.monotonic() + limit_s
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


async def until(
    condition: Callable[[], bool | Awaitable[bool]], *, limit_s: float, what: str
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `limit_s`."""
    if not await holds_within(condition, limit_s=limit_s):
        raise AssertionError(f"after {limit_s} s still waiting for: {what}")


# --- the processes --------------------------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    require_private_services()
    with PrivatePostgres() as postgres:
        yield postgres


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    require_private_services()
    with PrivateRedis() as redis:
        yield redis


@dataclass
class Stack:
    base: str
    postgres: PrivatePostgres
    redis: PrivateRedis
    logs: Path

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts)


def _start(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def stack(
    tmp_path: Path, private_postgres: PrivatePostgres, private_redis: PrivateRedis
) -> Iterator[Stack]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = cli_env(
        CALLSOURCE_DATABASE_URL=private_postgres.url,
        CALLSOURCE_REDIS_URL=private_redis.url,
        CALLSOURCE_ADMIN_TOKEN=ADMIN_TOKEN,
        CALLSOURCE_PUBLIC_URL=base,
        CALLSOURCE_SECRET_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # The CRM stand-in listens on loopback, which outgoing connectors refuse by default.
        CALLSOURCE_OUTBOUND_ALLOW="127.0.0.1",
    )
    migrated = subprocess.run(
        [*CLI, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    logs = tmp_path / "logs"
    logs.mkdir()
    server = _start([*CLI, "serve", "--port", str(port)], env, logs / "serve.log", tmp_path)
    worker = _start([*CLI, "worker"], env, logs / "worker.log", tmp_path)
    served = Stack(base, private_postgres, private_redis, logs)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(base):
            assert server.poll() is None, served.log_tail()
            assert time.monotonic() < deadline, "the server never answered /healthz\n" + (
                served.log_tail()
            )
            time.sleep(0.1)
        yield served
    finally:
        _stop(worker)
        _stop(server)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def _healthy_now(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz", timeout=2)).status_code == 200
    except httpx.TransportError:
        return False


# --- what the load saw ----------------------------------------------------------------------


@dataclass
class Sighting:
    """A session shown a dynamic number: the span it certainly held it, from the first answer
    received to the last request sent that was answered with it (the server decided somewhere
    within each request's round trip, so this span is never wider than the truth)."""

    session_id: str
    number: str
    held_from: datetime
    held_to: datetime


@dataclass
class Ledger:
    acknowledged: set[str] = field(default_factory=set)  # webhook ids answered 2xx
    refused: list[tuple[float, str, str]] = field(default_factory=list)  # (when, id, why)
    unacknowledged: dict[str, str] = field(default_factory=dict)  # id -> last answer
    ended_calls: set[str] = field(default_factory=set)  # provider call ids, end acknowledged
    sightings: dict[tuple[str, str], Sighting] = field(default_factory=dict)
    tracker_answers: Counter[str] = field(default_factory=Counter)
    tracker_requests: int = 0
    visitors: int = 0
    _acks: list[tuple[float, str]] = field(default_factory=list)  # (when, id)

    def acked_since(self, moment: float) -> int:
        return sum(1 for when, _id in self._acks if when >= moment)

    def refused_since(self, moment: float) -> int:
        return sum(1 for when, _id, _why in self.refused if when >= moment)

    def ack(self, msg_id: str) -> None:
        self.acknowledged.add(msg_id)
        self._acks.append((time.monotonic(), msg_id))

    def saw(self, session_id: str, number: str, *, sent: datetime, received: datetime) -> None:
        key = (session_id, number)
        if key in self.sightings:
            self.sightings[key].held_to = max(self.sightings[key].held_to, sent)
        else:
            self.sightings[key] = Sighting(session_id, number, received, received)


@dataclass
class World:
    base: str
    public_key: str
    integration_id: str
    pbx_secret: str
    connector_id: str


class Pbx:
    """Sends the generic format, signed (Standard Webhooks), and retries as a PBX does: the
    same message id, signed afresh, with backoff, until it is acknowledged or the deadline."""

    def __init__(self, world: World, ledger: Ledger, client: httpx.AsyncClient) -> None:
        self.world = world
        self.ledger = ledger
        self.client = client
        self.deadline = float("inf")
        self.deliveries: list[asyncio.Task[None]] = []

    def send(self, event: dict[str, Any]) -> None:
        self.deliveries.append(asyncio.create_task(self._deliver(event)))

    async def _deliver(self, event: dict[str, Any]) -> None:
        msg_id = f"msg_{event['call_id']}_{event['event']}"
        body = json.dumps(event).encode()
        backoff_s = 0.5
        while True:
            timestamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": sign(self.world.pbx_secret, msg_id, timestamp, body),
            }
            wait_s = backoff_s
            try:
                answer = await self.client.post(
                    f"/hooks/pbx/{self.world.integration_id}", content=body, headers=headers
                )
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}"
            else:
                if answer.is_success:
                    self.ledger.ack(msg_id)
                    if event["event"] == "call.ended":
                        self.ledger.ended_calls.add(event["call_id"])
                    self.ledger.unacknowledged.pop(msg_id, None)
                    return
                why = f"{answer.status_code} {answer.text[:200]}"
                if answer.status_code not in (429, 500, 502, 503, 504):
                    # Our request is wrong: retrying the same bytes cannot help.
                    self.ledger.unacknowledged[msg_id] = why
                    return
                retry_after = answer.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait_s = min(float(retry_after), 5.0)
            self.ledger.refused.append((time.monotonic(), msg_id, why))
            self.ledger.unacknowledged[msg_id] = why
            if time.monotonic() + wait_s > self.deadline:
                return
            await asyncio.sleep(wait_s)
            backoff_s = min(backoff_s * 2, 4.0)


async def _tracker(
    http: httpx.AsyncClient, ledger: Ledger, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any] | None, datetime, datetime]:
    """(status, answer, sent at, received at) of one tracker request; 0 when unreachable."""
    ledger.tracker_requests += 1
    sent = _now()
    try:
        answer = await http.post(path, content=json.dumps(body))
    except httpx.TransportError:
        ledger.tracker_answers["unreachable"] += 1
        return 0, None, sent, _now()
    received = _now()
    ledger.tracker_answers[str(answer.status_code)] += 1
    return answer.status_code, (answer.json() if answer.is_success else None), sent, received


def _shown(answer: dict[str, Any]) -> tuple[str, str]:
    (entry,) = answer["numbers"]
    assert entry["target"] == TARGET, entry
    return entry["number"], entry["kind"]


async def visitor(index: int, world: World, ledger: Ledger, pbx: Pbx) -> None:
    """A browser on the shop: a session, pings while the page is open, then a call to the
    number on the page (the shop's own number if the tracker never answered)."""
    ledger.visitors += 1
    transport = httpx.AsyncHTTPTransport(
        local_address=f"127.0.{1 + index // 200}.{10 + index % 200}"
    )
    headers = {"origin": ORIGIN, "user-agent": DESKTOP_CHROME, "content-type": "text/plain"}
    landing = f"{ORIGIN}/?utm_source=yandex&utm_medium=cpc&utm_campaign=fault{index}"
    sessions = f"/t/{world.public_key}/sessions"
    shown = TARGET
    session_id: str | None = None
    async with httpx.AsyncClient(
        base_url=world.base, transport=transport, headers=headers, timeout=10
    ) as http:

        async def start() -> None:
            nonlocal shown, session_id
            _status, answer, sent, received = await _tracker(
                http, ledger, sessions, {"url": landing, "consent": True}
            )
            if answer is not None:
                session_id = answer["session_id"]
                number, kind = _shown(answer)
                shown = number
                if kind == "dynamic":
                    ledger.saw(answer["session_id"], number, sent=sent, received=received)

        await start()
        pings = LONG_STAY_PINGS if index % 3 == 0 else SHORT_STAY_PINGS
        for _ in range(pings):
            await asyncio.sleep(PING_GAP_S)
            if session_id is None:
                await start()  # the snippet tries again on the next page view
                continue
            path = f"{sessions}/{session_id}/ping"
            status, answer, sent, received = await _tracker(http, ledger, path, {})
            if status == 404:
                await start()  # the session ended: the snippet starts a new one
            elif answer is not None:
                number, kind = _shown(answer)
                shown = number
                if kind == "dynamic":
                    ledger.saw(session_id, number, sent=sent, received=received)
    await place_call(index, shown, pbx)


async def place_call(index: int, called: str, pbx: Pbx) -> None:
    call_id = f"fault-call-{index:03d}"
    caller = f"+7916{index:07d}"
    started = time.time()
    base = {"call_id": call_id, "caller": caller, "called": called}
    pbx.send({**base, "event": "call.started", "timestamp": started})
    await asyncio.sleep(EVENT_GAP_S)
    pbx.send({**base, "event": "call.answered", "timestamp": started + 1})
    await asyncio.sleep(EVENT_GAP_S)
    pbx.send(
        {
            **base,
            "event": "call.ended",
            "timestamp": started + 5,
            "status": "answered",
            "duration": 5,
            "talk_duration": 4,
        }
    )


async def run_load(world: World, ledger: Ledger, pbx: Pbx, faults_done: asyncio.Event) -> None:
    """Visitors arrive one every ARRIVAL_GAP_S until the faults are over and MIN_VISITORS came,
    or MAX_VISITORS came, or LOAD_LIMIT_S passed; then the ones on the site finish."""
    started = time.monotonic()
    visitors: list[asyncio.Task[None]] = []
    for index in range(MAX_VISITORS):
        if time.monotonic() - started > LOAD_LIMIT_S:
            break
        if faults_done.is_set() and index >= MIN_VISITORS:
            break
        visitors.append(asyncio.create_task(visitor(index, world, ledger, pbx)))
        await asyncio.sleep(ARRIVAL_GAP_S)
    await asyncio.gather(*visitors)


# --- the faults -----------------------------------------------------------------------------


async def inject_faults(stack: Stack, ledger: Ledger, admin: httpx.AsyncClient) -> list[str]:
    """Kill Redis, stop PostgreSQL, kill Redis again, each while the load runs; each step
    waits for the load to have met the fault and for the service to have recovered."""
    timeline = []

    def note(what: str) -> None:
        timeline.append(f"{time.strftime('%H:%M:%S')} {what}")

    async def served_since(moment: float, count: int, what: str) -> None:
        await until(
            lambda: ledger.acked_since(moment) >= count,
            limit_s=FAULT_STEP_LIMIT_S,
            what=f"{count} webhooks acknowledged {what}",
        )

    async def redis_outage(label: str) -> None:
        requests = ledger.tracker_requests
        await asyncio.to_thread(stack.redis.kill)
        note(f"{label}: redis killed (-9)")
        await until(
            lambda: ledger.tracker_requests >= requests + 4,
            limit_s=FAULT_STEP_LIMIT_S,
            what="tracker requests while Redis is down",
        )
        await asyncio.to_thread(stack.redis.restart, empty=True)
        note(f"{label}: redis restarted empty")
        await until(
            lambda: _healthy_now(admin), limit_s=FAULT_STEP_LIMIT_S, what="healthy after Redis"
        )

    await served_since(0, 6, "before the first fault")
    await redis_outage("1")
    await served_since(time.monotonic(), 3, "after the first Redis restart")

    down = time.monotonic()
    await asyncio.to_thread(stack.postgres.stop_immediate)
    note("postgres stopped (immediate)")
    await until(
        lambda: ledger.refused_since(down) >= 3 and time.monotonic() - down >= 3,
        limit_s=FAULT_STEP_LIMIT_S,
        what="webhooks refused while PostgreSQL is down",
    )
    await asyncio.to_thread(stack.postgres.start)
    note(f"postgres restarted after {time.monotonic() - down:.1f} s")
    await until(
        lambda: _healthy_now(admin), limit_s=FAULT_STEP_LIMIT_S, what="healthy after PostgreSQL"
    )
    await served_since(time.monotonic(), 3, "after PostgreSQL came back")

    await redis_outage("2")
    await served_since(time.monotonic(), 2, "after the second Redis restart")
    return timeline


# --- setting up the site --------------------------------------------------------------------


async def _created(admin: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await admin.post(path, json=body)
    assert answer.status_code == 201, (path, answer.status_code, answer.text)
    created: dict[str, Any] = answer.json()
    return created


async def build_world(admin: httpx.AsyncClient, crm: FakeCrmServer) -> World:
    site = await _created(
        admin,
        "/api/v1/sites",
        {
            "name": "Fault shop",
            "domains": ["shop.example"],
            "country": "RU",
            "timezone": "Europe/Moscow",
        },
    )
    sites = f"/api/v1/sites/{site['id']}"
    await _created(
        admin,
        f"{sites}/pools",
        {
            "target_number": TARGET,
            "numbers": POOL_NUMBERS,
            "idle_timeout_s": 30,
            "cooldown_s": 5,
            "max_lease_s": 3600,
        },
    )
    connector = await _created(admin, f"{sites}/crm", {"kind": "webhook", "url": crm.receiver_url})
    crm.crm.webhook_secrets.append(connector["secret"])
    integration = await _created(admin, f"{sites}/pbx", {"provider": "generic"})
    return World(
        base=str(admin.base_url).rstrip("/"),
        public_key=site["public_key"],
        integration_id=integration["id"],
        pbx_secret=integration["secret"],
        connector_id=connector["id"],
    )


@asynccontextmanager
async def crm_stand_in() -> AsyncIterator[FakeCrmServer]:
    server = FakeCrmServer(FakeCrm(clock=_now))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# --- what the database says -----------------------------------------------------------------


@dataclass(frozen=True)
class LeaseRow:
    number: str
    session_id: str
    generation: int
    started_at: datetime
    ended_at: datetime | None


async def read_database(postgres: PrivatePostgres, integration_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(host="127.0.0.1", port=postgres.port, user="postgres")
    try:
        events = await connection.fetch(
            "SELECT dedup_key, processed_at, error FROM pbx_events WHERE integration_id = $1",
            uuid.UUID(integration_id),
        )
        calls = await connection.fetch("SELECT id, provider_call_id, status FROM calls")
        deliveries = await connection.fetch(
            """
            SELECT c.provider_call_id, d.event, d.status, d.attempts, d.last_error
            FROM outbox_deliveries AS d JOIN calls AS c ON c.id = d.call_id
            """
        )
        leases = await connection.fetch(
            """
            SELECT n.number, a.session_id, a.generation, a.started_at, a.ended_at
            FROM number_assignments AS a JOIN tracking_numbers AS n
                ON n.id = a.tracking_number_id
            ORDER BY n.number, a.started_at, a.generation
            """
        )
    finally:
        await connection.close()
    return {
        "events": {row["dedup_key"]: row for row in events},
        "calls": {row["provider_call_id"]: row for row in calls},
        "deliveries": deliveries,
        "leases": [
            LeaseRow(
                r["number"], str(r["session_id"]), r["generation"], r["started_at"], r["ended_at"]
            )
            for r in leases
        ],
    }


def overlapping_leases(leases: list[LeaseRow]) -> list[str]:
    """Pairs of log rows of one number, held by different sessions, whose [start, end) meet;
    an open row lasts for ever."""
    found = []
    by_number: dict[str, list[LeaseRow]] = {}
    for row in leases:
        by_number.setdefault(row.number, []).append(row)
    for rows in by_number.values():
        for i, first in enumerate(rows):
            for second in rows[i + 1 :]:
                if first.session_id == second.session_id:
                    continue
                first_end = first.ended_at or datetime.max.replace(tzinfo=UTC)
                second_end = second.ended_at or datetime.max.replace(tzinfo=UTC)
                if first.started_at < second_end and second.started_at < first_end:
                    found.append(f"{first} and {second}")
    return found


def overlapping_sightings(sightings: list[Sighting]) -> list[str]:
    """Two sessions shown one dynamic number over spans that meet."""
    found = []
    for i, first in enumerate(sightings):
        for second in sightings[i + 1 :]:
            if first.number != second.number or first.session_id == second.session_id:
                continue
            if first.held_from <= second.held_to and second.held_from <= first.held_to:
                found.append(f"{first} and {second}")
    return found


def unlogged_sightings(sightings: list[Sighting], leases: list[LeaseRow]) -> list[str]:
    """Dynamic numbers a visitor was shown with no lease in the log covering the span: a call
    to such a number could not be matched to the visit.

    This is what catches a live lease handed out again (a rebuild that forgot it, say): the log
    alone then looks tidy, as the new lease closes the older open row as of its own start less
    the cooldown, but the first holder was still being shown the number after that end."""
    found = []
    for seen in sightings:
        covered = any(
            row.session_id == seen.session_id
            and row.number == seen.number
            and row.started_at <= seen.held_from
            and (row.ended_at is None or row.ended_at >= seen.held_to)
            for row in leases
        )
        if not covered:
            found.append(str(seen))
    return found


# --- the test -------------------------------------------------------------------------------


async def test_killing_postgres_and_redis_under_load_loses_nothing(stack: Stack) -> None:
    ledger = Ledger()
    async with (
        crm_stand_in() as crm,
        httpx.AsyncClient(
            base_url=stack.base, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        ) as admin,
        httpx.AsyncClient(base_url=stack.base, timeout=10) as pbx_http,
    ):
        world = await build_world(admin, crm)
        pbx = Pbx(world, ledger, pbx_http)
        faults_done = asyncio.Event()
        load = asyncio.create_task(run_load(world, ledger, pbx, faults_done))
        try:
            timeline = await inject_faults(stack, ledger, admin)
        except BaseException:
            for task in (load, *pbx.deliveries):
                task.cancel()
            raise
        finally:
            faults_done.set()
        await load
        # Every webhook the load sent is retried until acknowledged, within a bound.
        pbx.deadline = time.monotonic() + DELIVERY_LIMIT_S
        await asyncio.gather(*pbx.deliveries)
        context = (
            f"timeline: {timeline}\nvisitors: {ledger.visitors}, tracker answers: "
            f"{dict(ledger.tracker_answers)}, webhooks acknowledged: {len(ledger.acknowledged)}, "
            f"refusals: {len(ledger.refused)} {Counter(w for _t, _i, w in ledger.refused)}\n"
        )
        assert ledger.unacknowledged == {}, context + stack.log_tail()
        assert ledger.refused, context + "the outage refused nothing: the faults missed the load"

        def leads_by_call() -> dict[str, set[str]]:
            leads: dict[str, set[str]] = {}
            for key, message in crm.crm.webhook_received.items():
                call = message["data"]["call"]["provider_call_id"]
                leads.setdefault(call, set()).add(key)
            return leads

        # Asserted below, with what the database says of any call still missing.
        await holds_within(lambda: ledger.ended_calls <= set(leads_by_call()), limit_s=CRM_LIMIT_S)
        database = await read_database(stack.postgres, world.integration_id)

    # Every acknowledged webhook is stored.
    missing = sorted(ledger.acknowledged - set(database["events"]))
    assert missing == [], context + f"acknowledged but not stored: {missing}"

    # Every ended call reached the CRM exactly once, under its own idempotency key.
    leads = leads_by_call()
    unreached = sorted(ledger.ended_calls - set(leads))
    assert unreached == [], (
        context
        + f"ended calls the CRM never got: {unreached}\n"
        + "\n".join(
            f"{call}: call {database['calls'].get(call)}, events "
            f"{[dict(e) for k, e in database['events'].items() if call in k]}, deliveries "
            f"{[dict(d) for d in database['deliveries'] if d['provider_call_id'] == call]}"
            for call in unreached
        )
        + "\n"
        + stack.log_tail()
    )
    assert set(leads) == ledger.ended_calls, context
    wrong = {}
    for call_id in sorted(ledger.ended_calls):
        call = database["calls"][call_id]
        expected = idempotency_key(
            connector_id=uuid.UUID(world.connector_id), call_id=call["id"], event="call.attributed"
        )
        if leads[call_id] != {expected}:
            wrong[call_id] = (sorted(leads[call_id]), expected)
    assert wrong == {}, context + f"calls with a lead missing or duplicated: {wrong}"

    # No number was leased to two live sessions at once.
    leases: list[LeaseRow] = database["leases"]
    sightings = list(ledger.sightings.values())
    assert sightings, context + "no visitor was ever shown a dynamic number"
    assert overlapping_leases(leases) == [], context
    assert overlapping_sightings(sightings) == [], context
    assert unlogged_sightings(sightings, leases) == [], context
