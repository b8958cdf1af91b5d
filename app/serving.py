"""Serving the app from one process or from several.

Several processes each accept on a listening socket of their own, bound to the same address with
SO_REUSEPORT, so the kernel spreads new connections evenly over them. With one shared listening
socket (uvicorn's own `--workers`), whichever process woke first accepted the connection, and
the split of a burst was up to chance: in one of three tracker benchmark runs one process held
nearly all 32 keep-alive connections, and the run served 730 sessions/s with the machine 58 %
busy instead of about 1,000/s with both cores busy. A proxy keeping a few keep-alive
connections open upstream would meet the same imbalance in production.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Any

import uvicorn

from app.config import ConfigError

log = logging.getLogger("callsource.serving")

# Builds the app in the serving process; told which of the processes it is (0 for the first).
AppFactory = Callable[[int], Any]

# A process that dies this soon after it started is failing, not crashing now and then:
# starting it again and again would only hide why.
_QUICK_DEATH_S = 5.0
_QUICK_DEATHS_ALLOWED = 3


def serve(
    factory: AppFactory, *, host: str, port: int, workers: int = 1, **uvicorn_options: Any
) -> int:
    """Run the app until told to stop (SIGINT or SIGTERM); the exit status for the command."""
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        uvicorn.run(partial(factory, 0), factory=True, host=host, port=port, **uvicorn_options)
        return 0
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise ConfigError("several workers need SO_REUSEPORT and fork (Linux or a BSD)")
    address = _free_address(host, port)
    start = partial(_run_worker, factory, address, uvicorn_options)
    return _Supervisor(start, workers).run()


def _free_address(host: str, port: int) -> tuple[Any, ...]:
    """The address to bind, checked free first: SO_REUSEPORT alone would let this server share
    a port with another one already listening there instead of failing. SO_REUSEADDR, as
    uvicorn sets it, lets a restart bind while the last run's connections sit in TIME_WAIT."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        return tuple(probe.getsockname())  # port 0 resolved, so every worker shares one port


def _bound_socket(address: tuple[Any, ...]) -> socket.socket:
    """Bound, not listening: uvicorn starts listening once the app has started, so a worker
    that is still starting (or fails to) is given no connections by the kernel."""
    family = socket.AF_INET6 if len(address) == 4 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _run_worker(
    factory: AppFactory, address: tuple[Any, ...], uvicorn_options: dict[str, Any], index: int
) -> int:
    sock = _bound_socket(address)
    config = uvicorn.Config(partial(factory, index), factory=True, **uvicorn_options)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 3  # uvicorn's own exit status for a failed start-up


def _die_with_supervisor(supervisor: int) -> None:
    """A worker whose supervisor was killed outright (SIGKILL, OOM) stops too, instead of
    holding the port against the next start."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request above took effect
        os._exit(1)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class _Supervisor:
    """Forks the workers, starts a new one when one dies, and passes SIGINT and SIGTERM on."""

    start_worker: Callable[[int], int]
    workers: int
    _children: dict[int, tuple[int, float]] = field(default_factory=dict)  # pid: index, start
    _stopping: bool = False
    _quick_deaths: int = 0  # in a row

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for index in range(self.workers):
            if not self._stopping:
                self._fork(index)
        status = 0
        while self._children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid not in self._children:
                continue  # an orphan this process adopted (it may run as PID 1 in a container)
            index, started = self._children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if self._stopping:
                continue
            log.error("worker %d (pid %d) exited with status %d", index, pid, code)
            quick = time.monotonic() - started < _QUICK_DEATH_S
            self._quick_deaths = self._quick_deaths + 1 if quick else 0
            if self._quick_deaths > _QUICK_DEATHS_ALLOWED:
                log.error("workers keep dying right after they start; stopping")
                status = 1
                self._stop(signal.SIGTERM, None)
                continue
            self._fork(index)
        return status

    def _fork(self, index: int) -> None:
        supervisor = os.getpid()
        # A stop signal must find every child in _children: hold signals until it is there.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._become_worker(index, supervisor)
            self._children[pid] = (index, time.monotonic())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def _become_worker(self, index: int, supervisor: int) -> None:
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            _die_with_supervisor(supervisor)
            code = self.start_worker(index)
        except SystemExit as exc:  # uvicorn exits with 3 when the app fails to start
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        # The first signal asks every worker for a graceful stop (SIGTERM: a Ctrl-C also
        # reaches them from the terminal, and two SIGINTs would make uvicorn cut requests
        # off); a second one means it, as uvicorn's own second Ctrl-C does.
        forward = signal.SIGINT if self._stopping else signal.SIGTERM
        self._stopping = True
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, forward)
