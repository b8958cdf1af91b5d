"""A client that hangs up halfway through its request body is one warning line in the log of
the real server, not an "Exception in ASGI application" traceback."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_processes import CLI, cli_env, free_port
from tests.conftest import TEST_SECRET_KEY

TOKEN = "disconnect-test-token-0123456789abcdef"


@pytest.mark.slow
def test_a_client_hanging_up_mid_body_is_one_warning(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_ADMIN_TOKEN=TOKEN, CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        site = httpx.post(
            f"{base}/api/v1/sites",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"name": "S", "domains": ["shop.example"], "country": "RU", "timezone": "UTC"},
            timeout=10,
        ).json()
        with socket.create_connection(("127.0.0.1", port)) as visitor:
            visitor.sendall(
                f"POST /t/{site['public_key']}/sessions?token=s3cret HTTP/1.1\r\n"
                "Host: shop.example\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
                '{"url": "https://shop.example/'.encode()
            )
            time.sleep(0.5)  # the server is now waiting for the rest of the body
        time.sleep(1.0)
    finally:
        server.terminate()
        log, _err = server.communicate(timeout=30)

    warnings = [line for line in log.splitlines() if "hung up" in line]
    assert len(warnings) == 1, log
    assert "WARNING" in warnings[0]
    assert f"/t/{site['public_key']}/sessions" in warnings[0]
    assert "s3cret" not in log
    assert "Traceback" not in log
