"""Running `callsource` as a user does, in a process of its own: the tests of the command line
and of the serving processes share these."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "app.cli"]
ROOT = Path(__file__).resolve().parent.parent


def cli_env(**overrides: str) -> dict[str, str]:
    """This environment without any CALLSOURCE_ setting, plus the overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSOURCE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
