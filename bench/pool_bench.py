"""Number pool benchmark: leases per second, latency, and Redis memory per live lease.

    .venv/bin/python bench/pool_bench.py [--redis-url redis://127.0.0.1:6379/13] [--leases N]

Each lease is a new session with a new visitor on a pool kept in its steady state: the
simulated clock moves on by just enough per lease that about a fifth of the numbers are free,
so every call also sweeps the leases that ran out. Results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore, pool_keys
from numberpool.rules import PoolSettings, fresh_records
from numberpool.simulate import SIM_START
from numberpool.store import Lease, PoolStore

SETTINGS = PoolSettings(idle_timeout_s=300, cooldown_s=900, max_lease_s=14400)


@dataclass(frozen=True)
class Run:
    label: str
    leases: int
    seconds: float
    latencies_us: list[float]

    def row(self) -> str:
        ordered = sorted(self.latencies_us)
        p50 = statistics.median(ordered) if ordered else float("nan")
        p99 = ordered[int(len(ordered) * 0.99)] if ordered else float("nan")
        per_s = self.leases / self.seconds
        return f"| {self.label} | {self.leases} | {per_s:,.0f} | {p50:,.1f} | {p99:,.1f} |"


async def load_pool(store: PoolStore, numbers: int) -> str:
    pool_id = str(uuid.uuid4())
    token = await store.begin_rebuild(pool_id)
    assert token is not None
    records = fresh_records([str(uuid.uuid4()) for _ in range(numbers)])
    assert await store.restore(pool_id, records, token=token)
    return pool_id


def steady_step(numbers: int) -> timedelta:
    """Clock step per lease that keeps about 20 % of the pool free."""
    holding_s = SETTINGS.idle_timeout_s + SETTINGS.cooldown_s
    return timedelta(seconds=holding_s / numbers * 1.25)


async def sequential(store: PoolStore, label: str, *, leases: int, numbers: int) -> Run:
    pool_id = await load_pool(store, numbers)
    step, now = steady_step(numbers), SIM_START
    ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(leases)]
    latencies: list[float] = []
    clock = time.perf_counter
    started = clock()
    for session, visitor in ids:
        now += step
        before = clock()
        outcome = await store.lease(
            pool_id, session_id=session, visitor_id=visitor, settings=SETTINGS, now=now
        )
        latencies.append((clock() - before) * 1e6)
        assert isinstance(outcome, Lease), outcome
    elapsed = clock() - started
    await store.drop(pool_id)
    return Run(label, leases, elapsed, latencies)


async def concurrent(store: PoolStore, label: str, *, leases: int, numbers: int, tasks: int) -> Run:
    """`tasks` callers at once, as an API process serving many requests does."""
    pool_id = await load_pool(store, numbers)
    step = steady_step(numbers)
    counter = iter(range(leases))
    latencies: list[float] = []

    async def caller() -> None:
        for i in counter:
            before = time.perf_counter()
            outcome = await store.lease(
                pool_id,
                session_id=str(uuid.uuid4()),
                visitor_id=str(uuid.uuid4()),
                settings=SETTINGS,
                now=SIM_START + step * (i + 1),
            )
            latencies.append((time.perf_counter() - before) * 1e6)
            assert isinstance(outcome, Lease), outcome

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    await store.drop(pool_id)
    return Run(label, leases, elapsed, latencies)


async def memory_per_lease(store: RedisStore, numbers: int) -> float:
    """Bytes the pool's keys grow by per live lease (MEMORY USAGE, exact, all samples)."""
    pool_id = await load_pool(store, numbers)
    keys = pool_keys(pool_id)

    async def usage() -> int:
        total = 0
        for key in keys:
            size = await store.client.memory_usage(key, samples=0)
            total += size or 0
        return total

    before = await usage()
    for _ in range(numbers):
        outcome = await store.lease(
            pool_id,
            session_id=str(uuid.uuid4()),
            visitor_id=str(uuid.uuid4()),
            settings=SETTINGS,
            now=SIM_START,
        )
        assert isinstance(outcome, Lease), outcome
    after = await usage()
    await store.drop(pool_id)
    return (after - before) / numbers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--leases", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per row; the fastest is shown (shared CPUs)"
    )
    args = parser.parse_args()

    async def best(make: Callable[[], Awaitable[Run]]) -> Run:
        runs = [await make() for _ in range(args.repeat)]
        return max(runs, key=lambda run: run.leases / run.seconds)

    print(f"python {platform.python_version()}, {platform.machine()}, {platform.platform()}")
    print("| store, callers | leases | leases/s | p50 µs | p99 µs |")
    print("|---|---|---|---|---|")
    embedded = EmbeddedStore()
    # A warm-up run first: imports, allocator, branch caches.
    await sequential(embedded, "warm-up", leases=5_000, numbers=args.numbers)
    run = await best(
        lambda: sequential(embedded, "embedded, 1", leases=args.leases, numbers=args.numbers)
    )
    print(run.row())
    redis = RedisStore(args.redis_url, timeout_s=2.0)
    try:
        info = await redis.client.info("server")
        await sequential(redis, "warm-up", leases=1_000, numbers=args.numbers)
        runs = [
            await best(
                lambda: sequential(redis, "redis, 1", leases=args.leases // 5, numbers=args.numbers)
            )
        ]
        for tasks in (4, 16, 64):
            runs.append(
                await best(
                    functools.partial(
                        concurrent,
                        redis,
                        f"redis, {tasks}",
                        leases=args.leases // 5,
                        numbers=args.numbers,
                        tasks=tasks,
                    )
                )
            )
        for run in runs:
            print(run.row())
        print(f"\nredis {info['redis_version']}")
        print("| pool size | bytes per live lease |")
        print("|---|---|")
        for numbers in (100, 10_000):
            print(f"| {numbers} | {await memory_per_lease(redis, numbers):.0f} |")
    finally:
        await redis.close()


if __name__ == "__main__":
    asyncio.run(main())
