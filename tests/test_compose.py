"""docker-compose.yml with a POSTGRES_PASSWORD containing @, : or /: it once went into the URL
as it was, which broke the URL. Now the URL carries no password and the driver takes it from
PGPASSWORD; this is tested against a PostgreSQL of the test's own that asks for a password."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.cli_processes import CLI, ROOT, cli_env
from tests.private_services import PrivatePostgres, require_private_postgres

PASSWORD = "p@ss:w/rd%40?#"


def _compose_env() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env: dict[str, str] = compose["services"]["app"]["environment"]
    assert compose["services"]["worker"]["environment"] == env
    return env


def test_compose_keeps_the_password_out_of_the_database_url() -> None:
    env = _compose_env()

    assert "POSTGRES_PASSWORD" not in env["CALLSOURCE_DATABASE_URL"]
    assert (
        env["CALLSOURCE_DATABASE_URL"] == "postgresql+asyncpg://callsource@postgres:5432/callsource"
    )
    assert env["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_compose_requires_the_public_url() -> None:
    assert _compose_env()["CALLSOURCE_PUBLIC_URL"].startswith("${CALLSOURCE_PUBLIC_URL:?")


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[int]:
    """A PostgreSQL of our own that takes user `callsource` with PASSWORD only (scram)."""
    require_private_postgres()
    with PrivatePostgres(user="callsource", password=PASSWORD) as server:
        yield server.port


def _migrate(port: int, password: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    url = f"postgresql+asyncpg://callsource@127.0.0.1:{port}/postgres"  # compose's form
    return subprocess.run(
        [*CLI, "migrate"],
        cwd=tmp_path,
        env=cli_env(CALLSOURCE_DATABASE_URL=url, PGPASSWORD=password),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_a_password_with_url_characters_reaches_postgresql(
    password_postgres: int, tmp_path: Path
) -> None:
    result = _migrate(password_postgres, PASSWORD, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_a_wrong_password_is_one_line(password_postgres: int, tmp_path: Path) -> None:
    result = _migrate(password_postgres, "not-the-password", tmp_path)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"callsource migrate: PostgreSQL at 127.0.0.1:{password_postgres}/postgres "
        "refused the password of user 'callsource'"
    ]
