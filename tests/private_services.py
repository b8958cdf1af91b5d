"""PostgreSQL and Redis servers of a test's own, to stop, kill and restart under it.

Fault tests must never touch the machine's services: each `PrivatePostgres` / `PrivateRedis`
runs its own server process on a free loopback port with a data directory of its own, and is
stopped (or killed) by its pid only. Both restart on the same port and data, so clients that
kept the URL reconnect as they would to a production server coming back.

    with PrivatePostgres() as pg:       # initdb + start; removed at exit
        url = pg.url                     # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
        pg.stop()                        # fast shutdown (SIGINT); pg.kill() is SIGKILL
        pg.start()                       # same data directory, same port

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user (the data
directory is given to it). `available()` says whether the binaries are there; callers skip
without them, except under CI=true, where the fault tests must run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class _PrivateServer:
    """A server process of this test's own: start, stop (graceful), kill (SIGKILL)."""

    process: subprocess.Popen[bytes] | None = None
    port: int

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait_ready(self, ready: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.05)
        name = type(self).__name__
        raise RuntimeError(f"{name} on port {self.port} did not start")

    def _signal_and_wait(self, signum: int) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
        self.process.wait(timeout=30)
        self.process = None
        deadline = time.monotonic() + 10
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        """A graceful shutdown; clients' connections are closed by the server."""
        self._signal_and_wait(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would."""
        self._signal_and_wait(signal.SIGKILL)


class PrivateRedis(_PrivateServer):
    """redis-server on a free port, without persistence unless it is saved explicitly (SAVE
    writes dump.rdb in `directory`, which a restart loads)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--dir", str(self.directory), "--dbfilename", "dump.rdb"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready(lambda: _accepts(self.port))


class PrivatePostgres(_PrivateServer):
    """A PostgreSQL 15 cluster of its own (initdb, trust auth on loopback, fsync off: a test
    server, not a durable one), on a free port, started with `postgres -D` so that its pid is
    the postmaster's."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="callsource-pg-"))
        self.data = self.directory / "data"
        self._user: str | None = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._initialised = False

    @staticmethod
    def available() -> bool:
        return (POSTGRES_BIN / "initdb").exists() and (POSTGRES_BIN / "postgres").exists()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            user=self._user,
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=options.pop("stderr", subprocess.DEVNULL),
            **options,
        )

    def _initdb(self) -> None:
        command = [
            str(POSTGRES_BIN / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("--no-sync", "--encoding", "UTF8", "--locale", "C"),
        ]
        process = self._run_as(command, stderr=subprocess.PIPE)
        _, errors = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"initdb failed: {errors.decode(errors='replace')}")
        self._initialised = True

    def start(self) -> None:
        if not self._initialised:
            self._initdb()
        command = [
            str(POSTGRES_BIN / "postgres"),
            *("-D", str(self.data), "-p", str(self.port), "-k", str(self.directory)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
            *("-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
        ]
        # After a kill -9 the old backends may hold the shared memory for a moment: retry.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self.process = self._run_as(command)
            try:
                self._wait_ready(self._ready)
                return
            except RuntimeError:
                self._signal_and_wait(signal.SIGKILL)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _ready(self) -> bool:
        check = subprocess.run(
            [str(POSTGRES_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return check.returncode == 0

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients are disconnected."""
        self._signal_and_wait(signal.SIGINT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
