"""`callsource serve | migrate | demo | worker | partitions ... | pool ... | pbx replay ...`"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError

from app import migrations, partitions
from app.config import ConfigError, Settings, get_settings
from app.costs.accounts.schedule import import_due as import_ad_costs
from app.database_check import check_database
from app.kit import dialect
from app.reports.rollups import keep_rollups
from app.retention import apply_retention
from crm_push.cli import add_worker_command
from numberpool.cli import add_pool_commands
from pbx_webhooks.cli import add_pbx_commands

if TYPE_CHECKING:
    from fastapi import FastAPI


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool, workers: int = 1) -> int:
    from app import serving
    from app.log_config import uvicorn_log_config
    from app.main import create_app, tune_gc_for_serving

    if workers > 1 and not settings.redis_url:
        # The embedded pool and rate limits live in one process: two would lease one number twice.
        raise ConfigError("--workers above 1 needs CALLSOURCE_REDIS_URL: a pool they all share")

    def build(index: int) -> FastAPI:
        # One CRM worker is enough; the others would only compete for the same outbox rows.
        application = create_app(settings, with_worker=with_worker and index == 0)
        tune_gc_for_serving()
        return application

    return serving.serve(
        build,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(settings.log_format),
        # Forwarded headers are handled by app.proxies, from CALLSOURCE_TRUSTED_PROXIES only:
        # uvicorn's own handling would believe them from any loopback peer.
        proxy_headers=False,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        settings.require_admin_token()
        settings.trusted_proxy_networks()  # a bad entry stops here, not in every worker
        use_secret_key(settings)
        # Not a silent start that then answers every request with a 500.
        check_database(settings.database_url)
        if dialect.migrates_itself(settings.database_url):
            # The embedded default migrates itself; production runs `callsource migrate`.
            migrations.upgrade_or_explain(settings.database_url)
    except ConfigError as exc:
        print(f"callsource serve: {exc}", file=sys.stderr)
        return 2
    try:
        return _serve(
            settings, args.host, args.port, with_worker=args.with_worker, workers=args.workers
        )
    except ConfigError as exc:
        print(f"callsource serve: {exc}", file=sys.stderr)
        return 2


def use_secret_key(settings: Settings) -> None:
    """Configure this process's credentials keyring; ConfigError without a usable key."""
    from app.kit import crypto

    crypto.configure(crypto.Keyring(settings.require_secret_key()))


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.secret_key is not None:
        # The migration that seals plaintext credentials needs it; without one it says so.
        use_secret_key(settings)
    check_database(settings.database_url)
    migrations.upgrade_or_explain(settings.database_url)
    print("database is at the latest revision")
    return 0


def cmd_secrets_rotate(_args: argparse.Namespace) -> int:
    from app.config import require_old_secret_key
    from app.kit.crypto import CredentialsLocked
    from app.secrets_rotation import rotate

    settings = get_settings()
    try:
        new_key = settings.require_secret_key()
        old_key = require_old_secret_key(os.environ.get("CALLSOURCE_OLD_SECRET_KEY"))
        counts = asyncio.run(rotate(settings.database_url, new_key=new_key, old_key=old_key))
    except (ConfigError, CredentialsLocked) as exc:
        print(f"callsource secrets rotate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


async def _partitions(database_url: str, detach_before: date | None) -> list[str]:
    from app.db import create_engine
    from app.kit.clock import utcnow

    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            if dialect.name_of(connection) != dialect.POSTGRESQL:
                raise ConfigError(
                    "partitions are a PostgreSQL feature: CALLSOURCE_DATABASE_URL is not PostgreSQL"
                )
            if detach_before is None:
                return [
                    f"{p.name}\t{p.month:%Y-%m}\t~{p.rows} rows"
                    if p.month
                    else f"{p.name}\tdefault\t~{p.rows} rows"
                    for p in await partitions.list_partitions(connection)
                ]
            detached = await partitions.detach_before(connection, detach_before, now=utcnow())
            return [
                f"detached {name}: archive it with `pg_dump -t {name}`, then DROP TABLE {name}"
                for name in detached
            ] or [f"no month before {detach_before:%Y-%m} is attached"]
    finally:
        await engine.dispose()


def _month_argument(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a month as YYYY-MM") from None


def cmd_partitions(args: argparse.Namespace) -> int:
    settings = get_settings()
    before = getattr(args, "before", None)
    try:
        lines = asyncio.run(_partitions(settings.database_url, before))
    except partitions.DetachRefused as exc:
        print(f"callsource partitions: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo.seed import allow_own_inbox
    from app.kit.secrets import new_admin_token

    settings = get_settings()
    try:
        settings.require_admin_token()
    except ConfigError:
        settings = settings.model_copy(update={"admin_token": SecretStr(new_admin_token())})
    token = settings.require_admin_token()
    try:
        settings.require_secret_key()
    except ConfigError:
        settings = settings.model_copy(update={"secret_key": SecretStr(_demo_secret_key(settings))})
    use_secret_key(settings)
    base = f"http://{args.host}:{args.port}"
    if "public_url" not in settings.model_fields_set:
        # Snippet and webhook URLs must point where this demo actually listens.
        settings = settings.model_copy(update={"public_url": base})
    settings = allow_own_inbox(settings)
    if dialect.migrates_itself(settings.database_url):
        migrations.upgrade(settings.database_url)
    site = asyncio.run(_seed_demo(settings))
    print(
        "\nCallsource demo is running\n"
        f"  dashboard:   {base}/  (first visit: /setup makes your account with the token)\n"
        f"  demo shop:   {base}/demo  (the snippet, test calls, the CRM inbox)\n"
        f"  admin token: {token}\n"
        f"  demo site:   {site}\n"
        f"  API docs:    {base}/docs\n"
        f"  try:         curl -H 'Authorization: Bearer {token}' {base}/api/v1/sites\n",
        flush=True,
    )
    # The demo shows the whole chain, CRM included, from one command.
    return _serve(settings, args.host, args.port, with_worker=True)


DEMO_KEY_FILE = ".callsource-demo-key"


def _demo_secret_key(settings: Settings) -> str:
    """The demo's credentials key, kept in a 0600 file beside its SQLite database.

    The demo database outlives a run and its credentials stay sealed, so the key must too; a
    fresh admin token is printed each run, so the key cannot be derived from it. A key file
    readable by its owner only is what a secrets store would give the demo, without one.
    """
    from pathlib import Path

    from app.kit.secrets import new_admin_token

    database = dialect.database_file(settings.database_url)
    path = (Path(database).resolve().parent if database else Path.cwd()) / DEMO_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = new_admin_token()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


async def _seed_demo(settings: Settings) -> str:
    from app.db import create_engine, create_sessionmaker
    from app.demo.seed import ensure_demo_site
    from app.kit.clock import utcnow

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as db:
            site, _created = await ensure_demo_site(
                db, now=utcnow(), public_url=settings.public_url
            )
            await db.commit()
            return f"{site.name} (id {site.id}, public key {site.public_key})"
    finally:
        await engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callsource", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API, tracker endpoints, webhooks, dashboard")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--with-worker",
        action="store_true",
        help="also run the CRM outbox worker in this process (else run `callsource worker`)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="serving processes, each accepting its share of connections (needs Redis above 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply the migrations to CALLSOURCE_DATABASE_URL")
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser(
        "demo", help="run everything on the embedded defaults with a demo site"
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(handler=cmd_demo)

    secrets = commands.add_parser("secrets", help="manage the key that seals stored credentials")
    secrets_commands = secrets.add_subparsers(dest="secrets_command", required=True)
    rotate = secrets_commands.add_parser(
        "rotate",
        help="re-seal stored credentials from CALLSOURCE_OLD_SECRET_KEY to CALLSOURCE_SECRET_KEY",
    )
    rotate.set_defaults(handler=cmd_secrets_rotate)

    parts = commands.add_parser(
        "partitions", help="list the monthly partitions of calls and visits (PostgreSQL)"
    )
    parts.set_defaults(handler=cmd_partitions)
    parts_commands = parts.add_subparsers(dest="partitions_command")
    detach = parts_commands.add_parser(
        "detach", help="detach the months before --before, to archive and drop them"
    )
    detach.add_argument("--before", type=_month_argument, required=True, metavar="YYYY-MM")
    detach.set_defaults(handler=cmd_partitions)

    add_worker_command(
        commands, steps=(import_ad_costs, partitions.keep_partitions, keep_rollups, apply_retention)
    )
    add_pool_commands(commands)
    add_pbx_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        # What the operator must fix, in one line (a traceback would bury it).
        print(f"callsource {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a CALLSOURCE_ variable the settings refuse
        problems = "; ".join(
            f"CALLSOURCE_{'_'.join(map(str, e['loc'])).upper()}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        print(f"callsource {args.command}: {problems}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
