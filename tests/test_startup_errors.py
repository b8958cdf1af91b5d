"""A wrong database URL or an unreachable database: `serve`, `migrate` and `worker` print one
line naming the problem and exit 2, instead of a long traceback or a silent start that answers
every request with a 500."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli_processes import CLI, cli_env, free_port
from tests.conftest import TEST_SECRET_KEY

TOKEN = "startup-test-token-0123456789abcdef"
PASSWORD = "s3cret-pw-never-logged"


def _run(command: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, command],
        cwd=cwd,
        env=cli_env(
            CALLSOURCE_DATABASE_URL=url,
            CALLSOURCE_ADMIN_TOKEN=TOKEN,
            CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], command: str, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"callsource {command}: "), lines
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", ["not a database URL", "postgresql+asyncpg://"]),
        (f"postgresql://u:{PASSWORD}@127.0.0.1/x", ["postgresql://", "postgresql+asyncpg://"]),
        (f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:port/x", ["not a database URL"]),
        (f"postgresql+asyncpg://u:{PASSWORD}@no-such-host.invalid/x", ["no-such-host.invalid"]),
        ("postgresql+asyncpg://postgres@127.0.0.1:{port}/x", ["connection refused"]),
        ("mysql+aiomysql://u@127.0.0.1/x", ["mysql is not supported"]),
        ("sqlite:///x.db", ["sqlite+aiosqlite:///"]),
        ("sqlite+aiosqlite:////no/such/folder/x.db", ["/no/such/folder"]),
    ],
)
def test_serve_names_a_bad_database_url(tmp_path: Path, url: str, words: list[str]) -> None:
    result = _run("serve", url.replace("{port}", str(free_port())), tmp_path)
    _assert_one_line(result, "serve", *words)


def test_serve_names_a_missing_database(tmp_path: Path) -> None:
    from tests.backends import TEST_POSTGRES_URL, require_postgres

    require_postgres()
    url = TEST_POSTGRES_URL.rsplit("/", 1)[0] + "/callsource_no_such_database"
    _assert_one_line(_run("serve", url, tmp_path), "serve", "does not exist")


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_migrate_and_worker_name_an_unreachable_database(tmp_path: Path, command: str) -> None:
    url = f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{free_port()}/x"
    _assert_one_line(_run(command, url, tmp_path), command, "connection refused")


def test_migrate_names_a_revision_this_release_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as db:  # as a later release would have left it
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('0123456789ab')")
    result = _run("migrate", f"sqlite+aiosqlite:///{path}", tmp_path)
    _assert_one_line(result, "migrate", "the migrations cannot run", "0123456789ab")
