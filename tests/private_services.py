"""A PostgreSQL and a Redis of a test's own, on free ports, to stop, kill and restart at will.

Fault tests must never touch the machine's services (5432, 6379 serve every other test): each
`PrivatePostgres` / `PrivateRedis` runs its own server on a free loopback port with a temporary
directory of its own, and is stopped or killed by its own pids only. Both start again on the
same port and data, so clients that kept the URL reconnect as they would to a production
server coming back.

    require_private_postgres()           # skip, or fail under CI=true, without the binaries
    with PrivatePostgres() as pg:        # initdb + start; everything removed at exit
        pg.url                           # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
        pg.stop()                        # fast shutdown; stop_immediate() is a crash-like stop,
        pg.kill()                        # kill() is SIGKILL to every server process
        pg.start()                       # same data directory, same port

PostgreSQL refuses to run as root: under root, initdb and pg_ctl run as the `postgres` OS user
(`runuser`), in a directory given to that user outside pytest's root-only temporary tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.backends import IN_CI
from tests.cli_processes import free_port

PG_BIN = Path(os.environ.get("CALLSOURCE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"


def _require(what: str, missing: list[str]) -> None:
    """The rule of tests/backends.py: skip with the reason, but under CI=true fail."""
    if not missing:
        return
    message = f"cannot start a private {what}: missing {', '.join(missing)}"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true these tests must run", pytrace=False)
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


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class _PrivateServer:
    """Context-manager use: start on entry; stop and remove everything on exit."""

    running = False

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
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
        raise NotImplementedError


class PrivatePostgres(_PrivateServer):
    """`initdb` once, then start / stop (fast) / stop_immediate / kill (-9) / start again, same
    data and port. fsync is off: a test database needs no durability against power loss, and a
    crash of the server processes alone (what we cause) loses nothing committed even so, as
    the operating system still has every write. synchronous_commit stays on: without it a
    commit is answered before its WAL is written, and an immediate stop loses the last ones.

    By default the superuser `postgres` is trusted on loopback; with `password`, `user` must
    give it (scram-sha-256), as a production server asks."""

    @staticmethod
    def available() -> bool:
        return not PrivatePostgres._missing()

    @staticmethod
    def _missing() -> list[str]:
        missing = [
            str(path)
            for path in (PG_BIN / "initdb", PG_BIN / "pg_ctl")
            if not os.access(path, os.X_OK)
        ]
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            missing.append("runuser")
        return missing

    def __init__(self, *, user: str = "postgres", password: str | None = None) -> None:
        self.user = user
        self.dir = Path(tempfile.mkdtemp(prefix="callsource-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        try:
            self._initdb(password)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _initdb(self, password: str | None) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, user=PG_OS_USER, group=PG_OS_USER)
        auth = ["--auth=trust"]
        if password is not None:
            password_file = self.dir / "password"
            password_file.write_text(password)
            if os.geteuid() == 0:
                shutil.chown(password_file, user=PG_OS_USER, group=PG_OS_USER)
            auth = ["--auth=scram-sha-256", f"--pwfile={password_file}"]
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", self.user, *auth),
            *("--encoding=UTF8", "--locale=C", "--no-sync"),
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/postgres"

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

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients are disconnected."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

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
        return _tail(self.log, lines)

    def close(self) -> None:
        if self.running:
            try:
                self.stop_immediate()
            except RuntimeError:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis(_PrivateServer):
    """redis-server on a free port: stop (graceful), kill (-9), start or restart again on the
    same port and directory.

    Without `persistent` it writes nothing by itself, so a restart comes back empty (a cache
    node replaced, a restart without persistence) unless a test SAVEd a snapshot (dump.rdb),
    which the next start loads. With `persistent`, an append-only file synced on every write
    survives even a kill. `restart(empty=True)` drops whatever is on disk either way."""

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def __init__(self, *, persistent: bool = False, extra_args: Sequence[str] = ()) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="callsource-redis-"))
        self.log = self.dir / "redis.log"
        self.port = free_port()
        self.persistent = persistent
        # More server options (cluster mode, replicaof): see tests/redis_topologies.py.
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout_s: float = 20) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = [
            "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *(persistence if self.persistent else ["--appendonly", "no"]),
            *("--dir", str(self.dir), "--dbfilename", "dump.rdb"),
            *("--logfile", str(self.log)),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.running = True
        # PING, not a bare connect: a server loading its data accepts but answers LOADING.
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
                    raise RuntimeError(
                        f"redis-server did not start on {self.port}\n{self.log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _signal_and_wait(self, signum: int) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            self.process.wait(timeout=30)
        self.process = None
        self.running = False

    def stop(self) -> None:
        """A graceful shutdown (SIGTERM); clients' connections are closed by the server."""
        self._signal_and_wait(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would."""
        self._signal_and_wait(signal.SIGKILL)

    def restart(self, *, empty: bool = False) -> None:
        """Kill (if running) and start again; `empty` drops whatever it had on disk."""
        self.kill()
        if empty:
            for entry in self.dir.iterdir():
                if entry != self.log:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log, lines)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def require_private_postgres() -> None:
    """Skip (fail under CI=true) when a private PostgreSQL cannot be started here."""
    _require("PostgreSQL", PrivatePostgres._missing())


def require_private_redis() -> None:
    """Skip (fail under CI=true) when a private Redis cannot be started here."""
    _require("Redis", [] if PrivateRedis.available() else ["redis-server"])


def require_private_services() -> None:
    """Both, for the tests that break the whole stack."""
    missing = PrivatePostgres._missing()
    if not PrivateRedis.available():
        missing.append("redis-server")
    _require("PostgreSQL and Redis", missing)
