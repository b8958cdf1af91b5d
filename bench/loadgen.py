"""A small HTTP/1.1 load generator for loopback benchmarks, lean enough to share two cores with
the server it measures.

Open loop (`at_rate`): requests are scheduled at a fixed rate and latency is counted from the
scheduled time, so a stalled server shows up in the percentiles instead of slowing the load down
(no coordinated omission). Closed loop (`saturate`): N connections send back to back; the rate
they sustain is the throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers
MakeRequest = Callable[[int], Request]


@dataclass
class Result:
    sent: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.sent,
            "seconds": round(self.seconds, 2),
            "rate_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
            "errors": self.errors,
            "statuses": self.statuses,
        }


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):  # the server closed it first
                await self.writer.wait_closed()


async def _one(conn: Connection, make: MakeRequest, n: int, result: Result, started: float) -> None:
    method, path, body, headers = make(n)
    try:
        status = await conn.request(method, path, body, headers)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        result.errors += 1
        await conn.close()
        conn.writer = None
        return
    result.statuses[status] = result.statuses.get(status, 0) + 1
    result.latencies_ms.append((time.perf_counter() - started) * 1000)


async def saturate(
    host: str, port: int, make: MakeRequest, *, connections: int, seconds: float
) -> Result:
    result = Result()
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < deadline:
            n = next(counter)
            result.sent += 1
            await _one(conn, make, n, result, time.perf_counter())
        await conn.close()

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.perf_counter() - begin
    return result


async def at_rate(
    host: str, port: int, make: MakeRequest, *, rate: float, seconds: float, connections: int
) -> Result:
    """`rate` requests per second for `seconds`, over a pool of keep-alive connections."""
    result = Result()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(host, port))
    total = int(rate * seconds)
    begin = time.perf_counter()
    tasks = []

    async def fire(n: int, scheduled: float) -> None:
        conn = await idle.get()
        try:
            await _one(conn, make, n, result, scheduled)
        finally:
            idle.put_nowait(conn)

    for n in range(total):
        scheduled = begin + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        result.sent += 1
        tasks.append(asyncio.create_task(fire(n, scheduled)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - begin
    while not idle.empty():
        await idle.get_nowait().close()
    return result
