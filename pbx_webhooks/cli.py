"""`callsource pbx replay [--since ISO] [--integration ID]`: re-process failed PBX events.

Wired into app.cli by `add_pbx_commands(commands)`. Prints a JSON summary; exits 0 when every
event was replayed, 1 when some still fail, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime

from app import migrations
from app.config import ConfigError, Settings, get_settings
from app.database_check import check_database
from app.db import create_engine, create_sessionmaker
from app.exceptions import NotFound
from app.kit import crypto, dialect
from app.kit.clock import utcnow
from pbx_webhooks.replay import ReplayReport, replay_failed_events


def add_pbx_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pbx = subparsers.add_parser("pbx", help="manage stored PBX webhook events")
    pbx_commands = pbx.add_subparsers(dest="pbx_command", required=True)
    replay = pbx_commands.add_parser(
        "replay", help="re-process the stored PBX events whose processing failed"
    )
    replay.add_argument(
        "--since",
        type=_moment,
        help="only events received at or after this ISO date or time (UTC when without offset)",
    )
    replay.add_argument(
        "--integration", type=_integration_id, help="only the events of this PBX integration id"
    )
    replay.set_defaults(handler=cmd_replay)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _integration_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integration id: {text!r}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    settings = get_settings()
    # Each event is read again with its integration's sealed credentials.
    try:
        crypto.configure(crypto.Keyring(settings.require_secret_key()))
    except crypto.CredentialsLocked as exc:
        raise ConfigError(str(exc)) from exc
    check_database(settings.database_url)  # a ConfigError: app.cli prints it in one line
    if dialect.migrates_itself(settings.database_url):
        # Like `serve`: the embedded default migrates itself.
        migrations.upgrade_or_explain(settings.database_url)
    try:
        report = asyncio.run(_run(settings, since=args.since, integration_id=args.integration))
    except NotFound as exc:
        raise ConfigError(exc.detail) from exc
    except crypto.CredentialsLocked as exc:  # not the key that sealed the credentials
        raise ConfigError(str(exc)) from exc
    print(json.dumps(report.summary()))
    return 1 if report.failures else 0


async def _run(
    settings: Settings, *, since: datetime | None, integration_id: uuid.UUID | None
) -> ReplayReport:
    engine = create_engine(settings.database_url)
    try:
        return await replay_failed_events(
            create_sessionmaker(engine), now=utcnow(), since=since, integration_id=integration_id
        )
    finally:
        await engine.dispose()
