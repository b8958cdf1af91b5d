"""Log lines carry timestamps; CALLSOURCE_LOG_FORMAT=json makes each one a JSON object."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time

import httpx
import pytest

from app.log_config import JsonFormatter
from tests.cli_processes import CLI, cli_env, free_port
from tests.conftest import TEST_SECRET_KEY

TOKEN = "log-config-test-token-0123456789abcdef"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def test_a_json_record_is_one_line_with_its_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "callsource.x", logging.ERROR, "f", 1, "failed %s", ("it",), None
        )
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "error"
    assert entry["logger"] == "callsource.x"
    assert entry["message"] == "failed it"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert "ValueError: boom" in entry["exception"]


def _serve_and_log(tmp_path: object, log_format: str) -> list[str]:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=str(tmp_path),
        env=cli_env(
            CALLSOURCE_ADMIN_TOKEN=TOKEN,
            CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY,
            CALLSOURCE_LOG_FORMAT=log_format,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # uvicorn's access lines go to stdout, the others to stderr
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz?token=hook-secret", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        server.terminate()
        log, _err = server.communicate(timeout=30)
    return log.strip().splitlines()


@pytest.mark.slow
def test_serve_logs_one_json_object_per_line(tmp_path: object) -> None:
    lines = _serve_and_log(tmp_path, "json")

    entries = [json.loads(line) for line in lines]
    assert any(e["message"].startswith("Application startup complete") for e in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert access, lines
    assert "token=[redacted]" in access[0]["message"]
    assert "hook-secret" not in "\n".join(lines)


@pytest.mark.slow
def test_serve_logs_text_lines_with_timestamps(tmp_path: object) -> None:
    lines = _serve_and_log(tmp_path, "text")

    assert lines
    assert all(TIMESTAMP.match(line) for line in lines), lines
    assert "hook-secret" not in "\n".join(lines)


def test_an_unknown_log_format_is_one_line(tmp_path: object) -> None:
    result = subprocess.run(
        [*CLI, "migrate"],
        cwd=str(tmp_path),
        env=cli_env(CALLSOURCE_LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "callsource migrate: CALLSOURCE_LOG_FORMAT: must be text or json, not 'xml'"
    ]
