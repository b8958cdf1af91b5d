"""POST /t/{key}/sessions on PostgreSQL and Redis: sustained sessions per second, then p50/p99
at half that rate and at 500/s, next to a bare FastAPI endpoint in the same server process.

    .venv/bin/python -m bench.tracker_sessions [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json

from bench import loadgen, stack

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


def session_request(public_key: str) -> loadgen.MakeRequest:
    headers = {
        "Content-Type": "text/plain",
        "User-Agent": BROWSER,
        "Origin": "https://shop.example",
    }

    def make(n: int) -> loadgen.Request:
        body = json.dumps(
            {
                "url": f"https://shop.example/?utm_source=google&utm_medium=cpc&gclid=G{n}",
                "referrer": "https://www.google.com/",
                "ga_client_id": f"{n}.1700000000",
            }
        ).encode()
        return "POST", f"/t/{public_key}/sessions", body, headers

    return make


def bare(_n: int) -> loadgen.Request:
    return "POST", "/bench/bare", b"{}", {"Content-Type": "application/json"}


async def run(port: int, public_key: str, seconds: float, cpu: stack.CpuMeter) -> dict[str, object]:
    host = "127.0.0.1"
    make = session_request(public_key)
    # Warm-up: the first lease loads the pool into Redis.
    await loadgen.saturate(host, port, make, connections=4, seconds=2)
    bare_max = await loadgen.saturate(host, port, bare, connections=32, seconds=seconds)
    cpu.start()
    sessions_max = await loadgen.saturate(host, port, make, connections=32, seconds=seconds)
    cpu_ms = cpu.per_request_ms(sessions_max.sent)
    half = max(sessions_max.rate / 2, 1)
    at_half = await loadgen.at_rate(host, port, make, rate=half, seconds=seconds, connections=64)
    at_500 = await loadgen.at_rate(host, port, make, rate=500, seconds=seconds, connections=128)
    return {
        "bare_endpoint_max": bare_max.summary(),
        "sessions_max": sessions_max.summary(),
        "cpu_ms_per_session_at_max": cpu_ms,
        f"sessions_at_{round(half)}_per_s": at_half.summary(),
        "sessions_at_500_per_s": at_500.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--numbers", type=int, default=1000, help="pool size (the API's maximum)")
    args = parser.parse_args()
    seeded = stack.prepare(args.numbers)
    with stack.server(seeded.database_url, workers=args.workers) as (port, process):
        cpu = stack.CpuMeter(process.pid)
        results = asyncio.run(run(port, seeded.public_key, args.seconds, cpu))
        results["server_rss_mib_after_load"] = stack.rss_mib(process.pid)
    results["served"] = stack.served_counts(seeded.database_url)
    print(json.dumps({"machine": stack.machine(), "workers": args.workers, **results}, indent=2))


if __name__ == "__main__":
    main()
