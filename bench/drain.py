"""Draining a 50-number pool: an attacker sends 1,000 new sessions in 10 s, from one address
and then from 256 addresses of one /24, while real visitors (a browser's user agent, the
site's Origin, an address each) keep arriving; the share of real visitors that got a dynamic
number is the figure.

The server runs as `callsource serve` does, on PostgreSQL and Redis, with the production
limits and CALLSOURCE_TRUSTED_PROXIES=127.0.0.1: every request comes over loopback and names
its simulated client in X-Forwarded-For (198.51.100.0/24 for the attacker, one 10.x.y.0/24 per
real visitor). The attacker fakes everything a browser sends, the worst case; one without an
Origin or a browser's user agent is refused outright.

    .venv/bin/python -m bench.drain [--seconds 10] [--attack 1000] [--visitors-per-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from bench import stack

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


async def _session(http: httpx.AsyncClient, public_key: str, address: str) -> str:
    """One new visit from `address`; what it was shown (dynamic, source, target) or the status."""
    try:
        response = await http.post(
            f"/t/{public_key}/sessions",
            content=json.dumps({"url": "https://shop.example/?utm_source=google&utm_medium=cpc"}),
            headers={
                "Content-Type": "text/plain",
                "User-Agent": BROWSER,
                "Origin": "https://shop.example",
                "X-Forwarded-For": address,
            },
        )
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if response.status_code != 200:
        return str(response.status_code)
    return str(response.json()["numbers"][0]["kind"])


async def _at_rate(count: int, seconds: float, fire: Callable[[int], Awaitable[None]]) -> None:
    begin = time.perf_counter()
    tasks: list[asyncio.Future[None]] = []
    for n in range(count):
        delay = begin + n * seconds / count - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(fire(n)))
    await asyncio.gather(*tasks)


async def attack(
    port: int, public_key: str, *, attacker: Callable[[int], str], args: argparse.Namespace
) -> dict[str, object]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as http:
        # Warm-up, not counted: the first lease loads the pool into Redis (meanwhile a
        # concurrent request would be served the fallback).
        await _session(http, public_key, "192.0.2.1")
        attacks: Counter[str] = Counter()
        visitors: Counter[str] = Counter()

        async def hit(n: int) -> None:
            attacks[await _session(http, public_key, attacker(n))] += 1

        async def visit(n: int) -> None:
            visitors[await _session(http, public_key, f"10.{n // 256}.{n % 256}.7")] += 1

        real = round(args.visitors_per_s * args.seconds)
        await asyncio.gather(
            _at_rate(args.attack, args.seconds, hit), _at_rate(real, args.seconds, visit)
        )
    served = sum(visitors.values())
    return {
        "attacker": dict(attacks),
        "real_visitors": dict(visitors),
        "real_visitors_dynamic_share": round(visitors["dynamic"] / served, 3) if served else None,
    }


def run(name: str, attacker: Callable[[int], str], args: argparse.Namespace) -> dict[str, object]:
    seeded = stack.prepare(50)
    with stack.server(seeded.database_url) as (port, _process):
        result = asyncio.run(attack(port, seeded.public_key, attacker=attacker, args=args))
    return {"attack": name, **result, "logged": stack.served_counts(seeded.database_url)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--attack", type=int, default=1000, help="attacker's requests")
    parser.add_argument("--visitors-per-s", type=float, default=1.0)
    args = parser.parse_args()
    os.environ["BENCH_LIMITS"] = "default"
    os.environ["CALLSOURCE_TRUSTED_PROXIES"] = "127.0.0.1"
    results = [
        run("one address", lambda _n: "198.51.100.7", args),
        run("256 addresses of one /24", lambda n: f"198.51.100.{n % 256}", args),
    ]
    print(json.dumps({"machine": stack.machine(), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
