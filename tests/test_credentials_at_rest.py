"""Stored credentials are sealed: no plaintext in the column, a migration that seals the old
plaintext rows (and unseals them on the way down), and no sealing without a key."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrations
from app.cli import main
from app.config import ConfigError, get_settings
from app.db import create_engine
from app.demo.seed import ensure_demo_site
from app.kit import crypto
from app.models import CrmConnector, PbxIntegration
from tests.conftest import TEST_SECRET_KEY

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
BEFORE_SEALING = "5b1e7c2a9d40"
TABLES = ("pbx_integrations", "crm_connectors")


async def _raw(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            raw = {}
            for table in TABLES:
                rows = await connection.execute(text(f"SELECT credentials FROM {table}"))  # noqa: S608
                raw[table] = [v if isinstance(v, str) else json.dumps(v) for (v,) in rows]
            return raw
    finally:
        await engine.dispose()


async def _secrets(db: AsyncSession) -> list[str]:
    await ensure_demo_site(db, now=NOW, public_url="https://calls.example.test")
    await db.commit()
    pbx = (await db.execute(text("SELECT id FROM pbx_integrations"))).scalars().all()
    crm = (await db.execute(text("SELECT id FROM crm_connectors"))).scalars().all()
    assert len(pbx) == len(crm) == 1
    integration = (await db.execute(select(PbxIntegration))).scalar_one()
    connector = (await db.execute(select(CrmConnector))).scalar_one()
    return [str(integration.credentials["secret"]), str(connector.credentials["secret"])]


async def test_the_column_holds_no_plaintext(db: AsyncSession, database_url: str) -> None:
    secrets = await _secrets(db)

    raw = await _raw(database_url)

    for table in TABLES:
        [token] = raw[table]
        assert token.startswith("gAAAA")  # a Fernet token
        assert not any(secret in token for secret in secrets)
        assert not any(secret.removeprefix("whsec_") in token for secret in secrets)
        assert crypto.Keyring(TEST_SECRET_KEY).open(token)["secret"] in secrets


async def test_the_migration_seals_plaintext_rows_and_unseals_them_going_down(
    db: AsyncSession, database_url: str
) -> None:
    secrets = await _secrets(db)
    await db.close()
    try:
        await asyncio.to_thread(migrations.downgrade, database_url, BEFORE_SEALING)
        plain = await _raw(database_url)
        for table, secret in zip(TABLES, secrets, strict=True):
            [value] = plain[table]
            assert json.loads(value)["secret"] == secret

        await asyncio.to_thread(migrations.upgrade, database_url)
    finally:
        await asyncio.to_thread(migrations.upgrade, database_url)

    sealed = await _raw(database_url)
    for table, secret in zip(TABLES, secrets, strict=True):
        [token] = sealed[table]
        assert secret not in token
        assert crypto.Keyring(TEST_SECRET_KEY).open(token)["secret"] == secret


async def test_the_migration_refuses_rows_without_a_key(
    db: AsyncSession, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _secrets(db)
    await db.close()
    await asyncio.to_thread(migrations.downgrade, database_url, BEFORE_SEALING)
    kept = crypto.current()
    monkeypatch.delenv("CALLSOURCE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    crypto.configure(None)
    try:
        with pytest.raises(ConfigError, match="2 stored credentials need sealing and no key"):
            await asyncio.to_thread(migrations.upgrade, database_url)
        plain = await _raw(database_url)
        assert all(json.loads(v) for values in plain.values() for v in values)  # untouched
    finally:
        crypto.configure(kept)
        get_settings.cache_clear()
        await asyncio.to_thread(migrations.upgrade, database_url)


NEW_KEY = "N3w-kEy7Qp2Lm9Xv4Rt8Ws1Hy6Bf0GjZe5C"


def _rotate(
    database_url: str, monkeypatch: pytest.MonkeyPatch, *, old: str, new: str
) -> tuple[int, dict[str, int] | None]:
    monkeypatch.setenv("CALLSOURCE_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLSOURCE_SECRET_KEY", new)
    monkeypatch.setenv("CALLSOURCE_OLD_SECRET_KEY", old)
    get_settings.cache_clear()
    try:
        code = main(["secrets", "rotate"])
    finally:
        get_settings.cache_clear()
    return code, None


async def test_secrets_rotate_reseals_everything_once(
    db: AsyncSession,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets = await _secrets(db)
    await db.close()

    code, _ = await asyncio.to_thread(
        _rotate, database_url, monkeypatch, old=TEST_SECRET_KEY, new=NEW_KEY
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"rotated": 2, "already_current": 0}
    for table, secret in zip(TABLES, secrets, strict=True):
        [token] = (await _raw(database_url))[table]
        assert crypto.Keyring(NEW_KEY).open(token)["secret"] == secret
        with pytest.raises(crypto.CredentialsLocked):
            crypto.Keyring(TEST_SECRET_KEY).open(token)

    # Again: nothing left under the old key, nothing rewritten.
    before = await _raw(database_url)
    code, _ = await asyncio.to_thread(
        _rotate, database_url, monkeypatch, old=TEST_SECRET_KEY, new=NEW_KEY
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"rotated": 0, "already_current": 2}
    assert await _raw(database_url) == before


async def test_secrets_rotate_with_a_wrong_old_key_changes_nothing(
    db: AsyncSession,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _secrets(db)
    await db.close()
    before = await _raw(database_url)

    code, _ = await asyncio.to_thread(
        _rotate, database_url, monkeypatch, old="Wr0ng-oLd7Qp2Lm9Xv4Rt8Ws1Hy6Bf0GjZe", new=NEW_KEY
    )

    assert code == 2
    assert "do not open with CALLSOURCE_SECRET_KEY" in capsys.readouterr().err
    assert await _raw(database_url) == before
