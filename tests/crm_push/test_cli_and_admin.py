"""`callsource worker --once` and rotating a connector's credentials."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from httpx import AsyncClient

from app import migrations
from app.config import get_settings
from crm_push.cli import add_worker_command
from tests.conftest import TEST_SECRET_KEY
from tests.crm_push.conftest import World
from tests.crm_push.fake_crm import FakeCrmServer


def test_worker_once_delivers_what_is_due_and_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(url)
    monkeypatch.setenv("CALLSOURCE_DATABASE_URL", url)
    monkeypatch.setenv("CALLSOURCE_REDIS_URL", "")
    monkeypatch.setenv("CALLSOURCE_SECRET_KEY", TEST_SECRET_KEY)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="callsource")
    add_worker_command(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["worker", "--once"])
        assert args.handler(args) == 0
    finally:
        get_settings.cache_clear()

    assert json.loads(capsys.readouterr().out) == {"delivered": 0}


async def test_credentials_can_be_rotated_but_never_read(
    world: World, crm: FakeCrmServer, client: AsyncClient
) -> None:
    bitrix = await world.connector("bitrix24", webhook_url=crm.bitrix_url)
    amo = await world.amocrm(crm)
    base = f"/api/v1/sites/{world.site['id']}/crm"

    rotated = await client.patch(
        f"{base}/{bitrix['id']}",
        json={"application_token": "new-app-token-1", "webhook_url": f"{crm.url}/rest/2/abc123/"},
    )
    wrong_kind = await client.patch(f"{base}/{amo['id']}", json={"webhook_url": crm.bitrix_url})
    renewed = await client.patch(f"{base}/{amo['id']}", json={"token": "renewed-token-42"})

    assert rotated.status_code == 200
    assert "new-app-token-1" not in rotated.text
    assert "abc123" not in rotated.text
    assert wrong_kind.status_code == 422
    assert "webhook_url" in wrong_kind.json()["detail"]
    assert renewed.status_code == 200
    assert "renewed-token-42" not in renewed.text


def test_worker_refuses_to_start_without_the_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLSOURCE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CALLSOURCE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="callsource")
    add_worker_command(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["worker", "--once"])
        assert args.handler(args) == 2
    finally:
        get_settings.cache_clear()

    assert "CALLSOURCE_SECRET_KEY is not set" in capsys.readouterr().err
