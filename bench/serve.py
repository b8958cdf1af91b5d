"""The app as `callsource serve` runs it, for benchmarks: the public rate limits raised (all the
load comes from one address) and a bare endpoint to compare against, in the same process.

    CALLSOURCE_... python -m bench.serve --port 8123 [--workers 2]
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from app.main import create_app, freeze_startup_objects
from app.ratelimit import Limit, PublicLimits

UNLIMITED = PublicLimits(
    per_address=Limit("bench-ip", requests=10**9, window_s=60),
    per_site=Limit("bench-site", requests=10**9, window_s=60),
)


def app() -> FastAPI:
    application = create_app(public_limits=UNLIMITED)

    @application.post("/bench/bare")
    async def bare() -> dict[str, str]:
        """What FastAPI and uvicorn cost by themselves on this machine."""
        return {"ok": "yes"}

    freeze_startup_objects()  # as `callsource serve` does
    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.serve:app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
