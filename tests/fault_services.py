"""A PostgreSQL and a Redis of a test's own, on free ports, to kill and restart at will.

The fault tests break the services under a running server; the machine's own PostgreSQL (5432)
and Redis (6379) serve every other helper's tests and are never touched. Each service here
lives in a temporary directory of its own and is gone with it.

PostgreSQL refuses to run as root: under root, initdb and pg_ctl run as the `postgres` OS user
(`runuser`), in a directory given to that user outside pytest's root-only temporary tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.backends import IN_CI

PG_BIN = Path(os.environ.get("CALLSOURCE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_private_services() -> None:
    """Skip (fail under CI=true) when the binaries to start private services are missing."""
    missing = [
        str(path) for path in (PG_BIN / "initdb", PG_BIN / "pg_ctl") if not os.access(path, os.X_OK)
    ]
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    if not missing:
        return
    message = f"cannot start private services: missing {', '.join(missing)}"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true the fault tests must run", pytrace=False)
    pytest.skip(message)


def _alive(pid: int) -> bool:
    """Running, and not merely waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_gone(pids: list[int], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} outlived SIGKILL for {timeout_s} s")
        time.sleep(0.05)


class PrivatePostgres:
    """`initdb` once, then start / stop (immediate) / kill (-9) / start again, same data and
    port. fsync is off: a test database needs no durability against power loss, and a crash
    of the server processes alone (what we cause) loses nothing committed even so, as the
    operating system still has every write. synchronous_commit stays on: without it a commit
    is answered before its WAL is written, and an immediate stop loses the last ones."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="callsource-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.dir, user=PG_OS_USER, group=PG_OS_USER)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout_s: float = 60) -> None:
        command = [str(PG_BIN / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_OS_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )

    def start(self) -> None:
        # TCP only: a socket file's lock would outlive a killed postmaster just as its pid does.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            " -c fsync=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        pg_ctl = ("-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60")
        self._run("pg_ctl", *pg_ctl, "start")
        self.running = True

    def stop_immediate(self) -> None:
        """Stop without a shutdown checkpoint: every process exits at once, as in a crash;
        the next start runs crash recovery."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.running = False

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend, as the OOM killer would."""
        pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids = [pid, *(int(child) for child in children)]
        for one in pids:
            os.kill(one, signal.SIGKILL)
        _wait_gone(pids, timeout_s=10)
        # The postmaster may linger as a zombie nobody reaps (a container without an init),
        # and PostgreSQL reads any process with that pid as a live owner of the lock file.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        self.running = False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        if self.running:
            try:
                self.stop_immediate()
            except RuntimeError:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """redis-server on a free port, killed with -9 and started again on the same port.

    Without `persistent` it keeps nothing on disk, so every restart comes back empty (a cache
    node replaced, a restart without persistence). With it, an append-only file synced on
    every write survives a kill, unless the restart asks for `empty`."""

    def __init__(self, *, persistent: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="callsource-redis-"))
        self.port = free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout_s: float = 20) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *(persistence if self.persistent else ["--appendonly", "no"]),
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return
                except RedisError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on {self.port}")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        assert self.process is not None, "start() first"
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self, *, empty: bool = False) -> None:
        """Kill (if running) and start again; `empty` drops whatever it had persisted."""
        if self.process is not None:
            self.kill()
        if empty:
            for entry in self.dir.iterdir():
                if entry.name != "redis.log":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        self.start()

    def close(self) -> None:
        if self.process is not None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
