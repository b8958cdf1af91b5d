"""`callsource serve --workers N`: real processes, each with a listening socket of its own."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import TEST_REDIS_URL, require_redis
from tests.cli_processes import CLI, cli_env, free_port
from tests.conftest import TEST_SECRET_KEY

TOKEN = "serving-test-token-0123456789abcdef"


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def _wait_healthy(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} never answered /healthz")


def _listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on the port (state 0A in /proc/net/tcp)."""
    listening = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                listening += 1
    return listening


def _wait_listening(port: int, sockets: int, deadline: float) -> None:
    # One worker answering /healthz says nothing of the other: a worker listens only once its
    # app has started, and on a loaded machine the second may start seconds later.
    while time.monotonic() < deadline:
        if _listening_sockets(port) >= sockets:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {sockets} sockets ever listened on port {port}")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Served]:
    require_redis()
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=cli_env(
            CALLSOURCE_ADMIN_TOKEN=TOKEN,
            CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY,
            CALLSOURCE_REDIS_URL=TEST_REDIS_URL,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, port)
    try:
        _wait_healthy(served.base, time.monotonic() + 60)
        _wait_listening(port, 2, time.monotonic() + 60)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def _established_by_process(port: int, pids: list[int]) -> dict[int, int]:
    """How many established connections to `port` each process holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, server side
                inodes.add(fields[9])
    counts = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


def test_two_workers_share_a_burst_of_connections(two_workers: Served) -> None:
    workers = two_workers.workers()
    assert len(workers) == 2
    # 32 keep-alive connections opened at once, as a load balancer or a benchmark does; each
    # socket of its own gets its share from the kernel, whatever the processes are busy with.
    connections = [socket.create_connection(("127.0.0.1", two_workers.port)) for _ in range(32)]
    try:
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        for connection in connections:
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        counts = _established_by_process(two_workers.port, workers)
    finally:
        for connection in connections:
            connection.close()
    assert sum(counts.values()) == 32, counts
    # The kernel hashes each connection to a socket: fewer than 6 of 32 on one side happens
    # about once in 10,000 runs by chance.
    assert min(counts.values()) >= 6, counts


def test_a_worker_that_dies_is_replaced(two_workers: Served) -> None:
    first, second = two_workers.workers()
    subprocess.run(["kill", "-9", str(first)], check=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = two_workers.workers()
        if len(workers) == 2 and first not in workers:
            break
        time.sleep(0.1)
    assert len(workers) == 2
    assert first not in workers
    assert second in workers
    for _ in range(10):
        assert httpx.get(f"{two_workers.base}/healthz", timeout=5).status_code == 200


def test_sigterm_stops_every_worker(two_workers: Served) -> None:
    workers = two_workers.workers()
    two_workers.process.send_signal(signal.SIGTERM)
    assert two_workers.process.wait(timeout=30) == 0
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    """Alive and not merely waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_several_workers_need_redis(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_ADMIN_TOKEN=TOKEN, CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers above 1 needs CALLSOURCE_REDIS_URL" in result.stderr


def test_several_workers_refuse_a_port_in_use(tmp_path: Path) -> None:
    require_redis()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=cli_env(
                CALLSOURCE_ADMIN_TOKEN=TOKEN,
                CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY,
                CALLSOURCE_REDIS_URL=TEST_REDIS_URL,
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_workers_stop_when_the_supervisor_is_killed_outright(two_workers: Served) -> None:
    workers = two_workers.workers()
    two_workers.process.kill()
    two_workers.process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.1)
    # Left running, they would hold the port against the next start.
    assert not any(_running(pid) for pid in workers)
