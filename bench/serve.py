"""The app as `callsource serve` runs it, for benchmarks: the public rate limits raised (all the
load comes from one address) and a bare endpoint to compare against, in the same process.

    CALLSOURCE_... python -m bench.serve --port 8123 [--workers 2]

With BENCH_LAG_PROBE=1 in the environment (the benchmarks pass theirs on), each server process
reports on stderr every event-loop stall over 15 ms and the garbage collections over 2 ms
that ran during it: how the 70-130 ms full collections were found.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

from fastapi import FastAPI

from app import serving
from app.main import create_app, tune_gc_for_serving
from app.ratelimit import Limit, PublicLimits
from numberpool.rules import DrainLimits

UNLIMITED = PublicLimits(
    per_address=Limit("bench-ip", requests=10**9, window_s=60),
    per_site=Limit("bench-site", requests=10**9, window_s=60),
    # The anti-draining caps are checked on every lease but never bind.
    drain=DrainLimits(per_address=10**9, per_network=10**9, new_per_minute_min=10**9),
)


def app(_index: int = 0) -> FastAPI:
    # BENCH_LIMITS=default: the limits production runs with (bench/drain.py).
    default = os.environ.get("BENCH_LIMITS") == "default"
    application = create_app(public_limits=PublicLimits() if default else UNLIMITED)

    @application.post("/bench/bare")
    async def bare() -> dict[str, str]:
        """What FastAPI and uvicorn cost by themselves on this machine."""
        return {"ok": "yes"}

    tune_gc_for_serving()  # as `callsource serve` does
    if os.environ.get("BENCH_LAG_PROBE"):
        # The factory runs inside the server's event loop.
        asyncio.get_running_loop().create_task(_lag_probe())
    return application


async def _lag_probe(tick_s: float = 0.005, report_s: float = 0.015) -> None:
    collections: list[tuple[int, float]] = []  # (generation, ms) since the last tick
    started = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

    gc.callbacks.append(timed)
    while True:
        before = time.perf_counter()
        await asyncio.sleep(tick_s)
        lag = time.perf_counter() - before - tick_s
        if lag > report_s:
            slow = [f"gen{g} {ms:.0f} ms" for g, ms in collections if ms > 2]
            print(f"loop stalled {lag * 1000:.0f} ms; collections: {slow}", file=sys.stderr)
        collections.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The way `callsource serve --workers N` runs: a socket of its own per process.
    serving.serve(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
