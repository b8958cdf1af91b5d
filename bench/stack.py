"""What the HTTP benchmarks share: a fresh PostgreSQL database, a seeded site, the server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import func, insert, make_url, select, text

from app import migrations
from app.db import create_engine, create_sessionmaker
from app.kit import crypto
from app.kit.secrets import new_admin_token, new_public_key, new_webhook_secret
from app.models import (
    NumberAssignment,
    NumberFallback,
    PbxIntegration,
    Pool,
    Site,
    TargetNumber,
    TrackingNumber,
    TrackingSession,
)

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
# Several benchmark runs may share one PostgreSQL server: each names a database of its own.
DATABASE_NAME = os.environ.get("BENCH_DATABASE", "callsource_bench")
# The seeded integration's credentials are sealed under the key the server then opens them with.
SECRET_KEY = new_admin_token()
TARGET = "+74951234567"
# The seeding (the integration's credentials are encrypted) and the server share one key.
SECRET_KEY = new_admin_token()


@dataclass(frozen=True)
class Seeded:
    database_url: str
    public_key: str
    integration_id: uuid.UUID
    secret: str
    numbers: list[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _fresh_database(name: str) -> str:
    engine = create_engine(ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _seed(url: str, numbers: int) -> Seeded:
    now = datetime.now(UTC)
    site = Site(
        id=uuid.uuid4(),
        public_key=new_public_key(),
        name="Bench shop",
        domains=["shop.example"],
        country="RU",
        timezone="Europe/Moscow",
        created_at=now,
        retired_at=None,
    )
    target = TargetNumber(id=uuid.uuid4(), site_id=site.id, number=TARGET, created_at=now)
    pool = Pool(
        id=uuid.uuid4(),
        site_id=site.id,
        target_number_id=target.id,
        idle_timeout_s=300,
        cooldown_s=900,
        max_lease_s=14400,
        created_at=now,
        retired_at=None,
    )
    secret = new_webhook_secret()
    integration = PbxIntegration(
        id=uuid.uuid4(),
        site_id=site.id,
        provider="generic",
        name="bench",
        credentials={"secret": secret},
        settings={},
        created_at=now,
        retired_at=None,
    )
    e164 = [f"+7495{n:07d}" for n in range(1, numbers + 1)]
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as db:
        # No ORM relationships tie these together, so flush them parent first.
        for row in (site, target, pool, integration):
            db.add(row)
            await db.flush()
        rows = [
            {
                "id": uuid.uuid4(),
                "site_id": site.id,
                "number": number,
                "kind": "dynamic",
                "pool_id": pool.id,
                "target_number_id": target.id,
                "created_at": now,
                "retired_at": None,
            }
            for number in e164
        ]
        # Bulk insert: the admin API caps a pool at 1,000 numbers per request.
        await db.execute(insert(TrackingNumber), rows)
        await db.commit()
    await engine.dispose()
    return Seeded(url, site.public_key, integration.id, secret, e164)


def prepare(numbers: int) -> Seeded:
    url = asyncio.run(_fresh_database(DATABASE_NAME))
    migrations.upgrade(url)
    Redis.from_url(REDIS_URL).flushdb()
    crypto.configure(crypto.Keyring(SECRET_KEY))
    return asyncio.run(_seed(url, numbers))


@contextmanager
def server(database_url: str, *, workers: int = 1) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "CALLSOURCE_DATABASE_URL": database_url,
        "CALLSOURCE_REDIS_URL": REDIS_URL,
        "CALLSOURCE_ADMIN_TOKEN": new_admin_token(),
        "CALLSOURCE_SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start")
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_mib(pid: int) -> float:
    """Resident memory of the server and its worker processes, in MiB."""
    total = 0
    pids = [pid] + [int(p) for p in _children(pid)]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total / 1024, 1)


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {"cpu": cpu, "cores": str(os.cpu_count()), "date": datetime.now(UTC).date().isoformat()}


async def _served_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        counts = {
            name: int(await connection.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("sessions", TrackingSession),
                ("dynamic_leases", NumberAssignment),
                ("fallbacks", NumberFallback),
            )
        }
    await engine.dispose()
    return counts


def served_counts(url: str) -> dict[str, int]:
    """How the sessions were served: pool leases, and fallbacks once the pool ran out."""
    return asyncio.run(_served_counts(url))


_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _redis_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _own_cpu_s() -> float:
    spent = os.times()
    return spent.user + spent.system


def _machine_busy_s() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / _TICKS  # all but idle and iowait


@dataclass
class CpuMeter:
    """CPU seconds spent per request during a run, by the server, PostgreSQL, Redis, the load
    generator (this process) and the whole machine: steadier than rates on a shared VM, and it
    says where the time went."""

    server_pid: int
    _start: dict[str, float] | None = None
    _pg: dict[int, float] | None = None

    def _server_s(self) -> float:
        pids = [self.server_pid, *(int(p) for p in _children(self.server_pid))]
        return sum(_process_cpu_s(pid) for pid in pids)

    def start(self) -> None:
        self._pg = {pid: _process_cpu_s(pid) for pid in _postgres_pids()}
        self._start = {
            "server": self._server_s(),
            "redis": sum(_process_cpu_s(pid) for pid in _redis_pids()),
            "load_generator": _own_cpu_s(),
            "machine": _machine_busy_s(),
        }

    def per_request_ms(self, requests: int) -> dict[str, float]:
        if self._start is None or self._pg is None:
            raise RuntimeError("CpuMeter.start() first")
        # PostgreSQL forks a process per connection: count new ones from zero.
        postgres = sum(_process_cpu_s(pid) - self._pg.get(pid, 0.0) for pid in _postgres_pids())
        spent = {
            "server": self._server_s() - self._start["server"],
            "postgres": postgres,
            "redis": sum(_process_cpu_s(pid) for pid in _redis_pids()) - self._start["redis"],
            "load_generator": _own_cpu_s() - self._start["load_generator"],
            "machine": _machine_busy_s() - self._start["machine"],
        }
        return {name: round(1000 * s / max(requests, 1), 2) for name, s in spent.items()}
