"""Webhook in -> call stored and attributed, on PostgreSQL: sustained webhooks per second, and
p50/p99 at 200/s.

Each call is two signed generic webhooks (call.started, then call.ended) to a number of the
pool that a visit through the tracker API holds, so every call goes through the full path:
signature, raw-event store, call merge, who-held look-up, attribution.

    .venv/bin/python -m bench.pbx_webhooks [--seconds 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import httpx

from bench import loadgen, stack
from bench.tracker_sessions import session_request
from pbx_webhooks.providers.generic import sign


def webhook_request(seeded: stack.Seeded, held: list[str]) -> loadgen.MakeRequest:
    path = f"/hooks/pbx/{seeded.integration_id}"
    started: dict[int, int] = {}

    def make(n: int) -> loadgen.Request:
        call, final = divmod(n, 2)
        # A call's two events agree on when it started, as a PBX's do: the end is stamped its
        # duration after the start (the benchmark sends it at once instead of 70 s later).
        at = started.pop(call, int(time.time())) + 70 if final else int(time.time())
        if not final:
            started[call] = at
        body = {
            "event": "call.ended" if final else "call.started",
            "call_id": f"bench-{call}",
            "caller": f"+7900{call % 10_000_000:07d}",
            "called": held[call % len(held)],
            "timestamp": at,
        }
        if final:
            body |= {"status": "answered", "duration": 70, "talk_duration": 60}
        raw = json.dumps(body).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": sign(seeded.secret, msg_id, ts, raw),
        }
        return "POST", path, raw, headers

    return make


async def hold_numbers(port: int, seeded: stack.Seeded, visits: int) -> list[str]:
    """Numbers leased to real visits, so that calls to them are attributed through the log."""
    make = session_request(seeded.public_key)
    held = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for n in range(visits):
            _method, path, body, headers = make(n)
            answer = (await client.post(path, content=body, headers=headers)).json()
            held += [s["number"] for s in answer["numbers"] if s["kind"] == "dynamic"]
    return held


async def run(
    port: int, seeded: stack.Seeded, seconds: float, cpu: stack.CpuMeter
) -> dict[str, object]:
    held = await hold_numbers(port, seeded, visits=200)
    make = webhook_request(seeded, held)
    host = "127.0.0.1"
    cpu.start()
    sustained = await loadgen.saturate(host, port, make, connections=16, seconds=seconds)
    cpu_ms = cpu.per_request_ms(sustained.sent)
    # Fresh call ids for the paced run: offset past what the saturation run used.
    offset = sustained.sent + 2

    def paced(n: int) -> loadgen.Request:
        return make(offset + n)

    at_200 = await loadgen.at_rate(host, port, paced, rate=200, seconds=seconds, connections=64)
    return {
        "held_numbers": len(held),
        "webhooks_max": sustained.summary(),
        "cpu_ms_per_webhook_at_max": cpu_ms,
        "webhooks_at_200_per_s": at_200.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    seeded = stack.prepare(1000)
    with stack.server(seeded.database_url, workers=args.workers) as (port, process):
        results = asyncio.run(run(port, seeded, args.seconds, stack.CpuMeter(process.pid)))
        results["server_rss_mib_after_load"] = stack.rss_mib(process.pid)
    print(json.dumps({"machine": stack.machine(), "workers": args.workers, **results}, indent=2))


if __name__ == "__main__":
    main()
