"""Schemathesis over the whole OpenAPI document: no 5xx, every answer as documented.

The app serves on a real socket (uvicorn, in the test's event loop, over the test database);
Schemathesis generates cases for every operation, valid and invalid, in a worker thread and
sends them with `requests`. A site with a pool, a static number, a PBX integration, a CRM
connector, a call and its CRM delivery is seeded first, and the ids in the paths are mostly
those, so the operations behind them run rather than answering 404.

Failures are collected over all operations, then reported together (one line per distinct
problem), with the figures: operations, cases, statuses.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from httpx import AsyncClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.factories import create_pool, create_site

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Enough to find the classic holes (NUL bytes, huge numbers, odd dates, missing fields) in
# each operation, few enough for a loaded 2-core machine: about 48 operations x 2 modes.
MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Seeded ids are used this often; the rest are generated (unknown ids must be a clean 404).
SEEDED_SHARE = 0.85


@dataclass
class Report:
    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{self.operations} operations, {self.cases} cases, {self.server_errors} 5xx; "
            f"statuses {statuses}"
        )


async def _seed(client: AsyncClient, clock: ManualClock) -> dict[str, str]:
    site = await create_site(client)
    sid = site["id"]
    pool = await create_pool(client, sid, numbers=["+7 495 000-00-01", "+7 495 000-00-02"])
    static = await client.post(
        f"/api/v1/sites/{sid}/static-numbers",
        json={"number": "+7 495 000-02-01", "kind": "offline", "campaign": "flyers"},
    )
    pbx = await client.post(f"/api/v1/sites/{sid}/pbx", json={"provider": "generic"})
    crm = await client.post(
        f"/api/v1/sites/{sid}/crm", json={"kind": "webhook", "url": "https://crm.example/in"}
    )
    destination = await client.post(
        f"/api/v1/sites/{sid}/destinations",
        json={"kind": "ga4", "measurement_id": "G-SEED12345", "api_secret": "seed-secret-1"},
    )
    assert (static.status_code, pbx.status_code, crm.status_code) == (201, 201, 201)
    assert destination.status_code == 201, destination.text
    session = await client.post(
        f"/t/{site['public_key']}/sessions",
        content=json.dumps({"url": "https://shop.example/?utm_source=yandex"}),
        headers={"Content-Type": "text/plain", "User-Agent": "Mozilla/5.0 Chrome/131.0"},
    )
    assert session.status_code == 200, session.text
    secret = pbx.json()["secret"]
    for event in ("call.started", "call.ended"):
        body = json.dumps(
            {
                "event": event,
                "call_id": "seed-call",
                "caller": "+79001234567",
                "called": session.json()["numbers"][0]["number"],
                "timestamp": clock.now.isoformat(),
                "status": "answered",
                "duration": 60,
            }
        ).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(clock.now.timestamp()))
        hook = await client.post(
            f"/hooks/pbx/{pbx.json()['id']}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": ts,
                "webhook-signature": sign(secret, msg_id, ts, body),
            },
        )
        assert hook.status_code == 200, hook.text
    calls = (await client.get(f"/api/v1/sites/{sid}/calls")).json()["items"]
    deliveries = (
        await client.get(f"/api/v1/sites/{sid}/crm/{crm.json()['id']}/deliveries")
    ).json()["items"]
    assert calls
    assert deliveries
    return {
        "site_id": sid,
        "public_key": site["public_key"],
        "pool_id": pool["id"],
        "number_id": static.json()["id"],
        "integration_id": pbx.json()["id"],
        "connector_id": crm.json()["id"],
        "destination_id": destination.json()["id"],
        "call_id": calls[0]["id"],
        "delivery_id": deliveries[0]["id"],
        "session_id": session.json()["session_id"],
    }


def _order(label: str) -> tuple[int, str]:
    # Retiring the seeded site (or its parts) first would leave the rest nothing to work on.
    return (1 if label.startswith("DELETE") else 0, label)


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    *,
    base_url: str,
    http: requests.Session,
    seeds: dict[str, str],
    rng: random.Random,
    report: Report,
) -> None:
    names = [p.name for p in operation.path_parameters]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE or rng.random() < 0.5:
            for name in names:
                if name in seeds and rng.random() < SEEDED_SHARE:
                    case.path_parameters[name] = seeds[name]
        response = case.call(base_url=base_url, session=http, timeout=30)
        report.cases += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            key = f"{operation.label} -> {response.status_code}"
            report.failures.setdefault(key, str(exc).strip()[:1500])

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body).
        assert mode is GenerationMode.NEGATIVE


def _fuzz(doc: dict[str, Any], base_url: str, seeds: dict[str, str]) -> Report:
    """Every operation of `doc`, positive then negative cases, against `base_url`."""
    schema = schemathesis.openapi.from_dict(doc)
    report = Report()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TEST_ADMIN_TOKEN}"
    rng = random.Random(20261203)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),  # type: ignore[union-attr]
        key=lambda op: _order(op.label),
    )
    report.operations = len(operations)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(
                operation, mode, base_url=base_url, http=http, seeds=seeds, rng=rng, report=report
            )
    return report


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_whole_api_survives_schemathesis(
    app: FastAPI, client: AsyncClient, clock: ManualClock
) -> None:
    seeds = await _seed(client, clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.05)
        report = await asyncio.to_thread(_fuzz, app.openapi(), f"http://127.0.0.1:{port}", seeds)
    finally:
        server.should_exit = True
        await serving
    print("schemathesis:", report.summary())
    problems = "\n\n".join(f"{key}:\n{text}" for key, text in sorted(report.failures.items()))
    assert not report.failures, f"{report.summary()}\n\n{problems}"
    assert report.server_errors == 0
    assert report.cases > report.operations * MAX_EXAMPLES
