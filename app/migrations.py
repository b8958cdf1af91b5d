"""Running the Alembic migrations from the CLI and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from app.bundled import migrations_dir
from app.config import ConfigError


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser treats % as interpolation; URLs may contain percent-encoded passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def upgrade_or_explain(database_url: str) -> None:
    """`upgrade`, a failure being a ConfigError of one line (the CLI prints it and exits 2)."""
    try:
        upgrade(database_url)
    except CommandError as exc:  # no migrations found, a revision this release does not know
        raise ConfigError(f"the migrations cannot run: {exc}") from None
    except SQLAlchemyError as exc:
        raise ConfigError(f"a migration failed: {str(exc).splitlines()[0]}") from None
