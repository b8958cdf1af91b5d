"""The command line as a user runs it: real processes, real ports."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_processes import CLI, cli_env, free_port


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve"], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "CALLSOURCE_ADMIN_TOKEN is not set" in result.stderr


def test_serve_refuses_a_placeholder_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_ADMIN_TOKEN="changeme"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "placeholder" in result.stderr


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_ADMIN_TOKEN="q8Vf3kLz0PwX7mNs2RtY"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "callsource serve: CALLSOURCE_SECRET_KEY is not set: generate one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    ]


def test_serve_refuses_a_bad_trusted_proxy_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        cwd=tmp_path,
        env=cli_env(
            CALLSOURCE_ADMIN_TOKEN="a-real-token-8c1f4e2b9d",
            CALLSOURCE_SECRET_KEY="a-real-secret-key-5b0e9c4d7a2f6e1b8c3d",
            CALLSOURCE_TRUSTED_PROXIES="10.0.0.0/8, proxy.example",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CALLSOURCE_TRUSTED_PROXIES: 'proxy.example'" in result.stderr


def test_migrate_applies_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = subprocess.run(
        [*CLI, "migrate"],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh.db").stat().st_size > 0


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`callsource demo` in an empty folder: the base URL and the admin token it printed."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "demo", "--port", str(port)],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    output = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        token = None
        while token is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output += line
            match = re.search(r"admin token: (\S+)", line)
            token = match.group(1) if match else None
        assert token, output
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_serves_the_admin_api_with_its_printed_token(demo: tuple[str, str]) -> None:
    base, token = demo
    auth = {"Authorization": f"Bearer {token}"}

    sites = httpx.get(f"{base}/api/v1/sites", headers=auth, timeout=10).json()["items"]
    # Exactly the README's curl: `-d` without a content type labels the JSON as a form.
    created = httpx.post(
        f"{base}/api/v1/sites",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        content=json.dumps(
            {
                "name": "Shop",
                "domains": ["shop.example"],
                "country": "RU",
                "timezone": "Europe/Moscow",
            }
        ),
        timeout=10,
    )

    assert [s["name"] for s in sites] == ["Demo shop"]
    demo_pools = httpx.get(f"{base}/api/v1/sites/{sites[0]['id']}/pools", headers=auth, timeout=10)
    assert len(demo_pools.json()["items"][0]["numbers"]) == 5
    assert created.status_code == 201
    assert created.json()["public_key"]
    assert "<script" in created.json()["snippet"]
    assert httpx.get(f"{base}/api/v1/sites", timeout=10).status_code == 401


def test_the_server_believes_no_forwarded_for_from_a_loopback_peer(
    demo: tuple[str, str],
) -> None:
    """uvicorn believed X-Forwarded-For from any loopback peer: one script on the host (or
    behind a local proxy) passed for any number of visitors and took every number."""
    base, token = demo
    [site] = httpx.get(
        f"{base}/api/v1/sites", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["items"]
    kinds = []
    for n in range(4):
        answer = httpx.post(
            f"{base}/t/{site['public_key']}/sessions",
            content=json.dumps({"url": f"{base}/demo"}),
            headers={
                "Content-Type": "text/plain",
                "Origin": base,
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
                "X-Forwarded-For": f"198.51.{n}.1",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        kinds.append(answer.json()["numbers"][0]["kind"])
    assert kinds[:3] == ["dynamic"] * 3
    assert kinds[3] != "dynamic"


def test_demo_runs_the_crm_worker_so_a_test_call_reaches_the_inbox(
    demo: tuple[str, str],
) -> None:
    base, _token = demo
    with httpx.Client(base_url=base, timeout=10) as browser:
        page = browser.get("/demo/").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf, page
        placed = browser.post(
            "/demo/call",
            data={"csrf_token": csrf.group(1), "called": "+74951234567", "caller": "+79161234567"},
        )
        assert placed.status_code == 200, placed.text
        # Only the worker `demo` runs delivers the lead; nothing else writes to the inbox.
        deadline = time.monotonic() + 30
        inbox = ""
        while time.monotonic() < deadline:
            inbox = browser.get("/demo/crm-inbox").text
            if "data-call=" in inbox:
                break
            time.sleep(0.5)
    assert 'data-call="' in inbox, inbox[-2000:]


def test_demo_keeps_its_generated_secret_key_beside_its_database(
    demo: tuple[str, str], tmp_path: Path
) -> None:
    # The demo database (and its sealed credentials) outlives the run: so must the key.
    key_file = tmp_path / ".callsource-demo-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key_file.read_text().strip()) >= 32
