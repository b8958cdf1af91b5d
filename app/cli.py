"""`callsource serve | migrate | demo | pool ...`"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from app import migrations
from app.config import ConfigError, Settings, get_settings
from crm_push.cli import add_worker_command
from numberpool.cli import add_pool_commands

if TYPE_CHECKING:
    from fastapi import FastAPI


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool, workers: int = 1) -> int:
    from app import serving
    from app.log_redaction import uvicorn_log_config
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
        log_config=uvicorn_log_config(),
        proxy_headers=True,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        settings.require_admin_token()
    except ConfigError as exc:
        print(f"callsource serve: {exc}", file=sys.stderr)
        return 2
    if settings.is_sqlite:
        # The embedded default migrates itself; production runs `callsource migrate` on deploy.
        migrations.upgrade(settings.database_url)
    try:
        return _serve(
            settings, args.host, args.port, with_worker=args.with_worker, workers=args.workers
        )
    except ConfigError as exc:
        print(f"callsource serve: {exc}", file=sys.stderr)
        return 2


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrations.upgrade(get_settings().database_url)
    print("database is at the latest revision")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import allow_own_inbox
    from app.kit.secrets import new_admin_token

    settings = get_settings()
    try:
        settings.require_admin_token()
    except ConfigError:
        settings = settings.model_copy(update={"admin_token": SecretStr(new_admin_token())})
    token = settings.require_admin_token()
    base = f"http://{args.host}:{args.port}"
    if "public_url" not in settings.model_fields_set:
        # Snippet and webhook URLs must point where this demo actually listens.
        settings = settings.model_copy(update={"public_url": base})
    settings = allow_own_inbox(settings)
    if settings.is_sqlite:
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


async def _seed_demo(settings: Settings) -> str:
    from app.db import create_engine, create_sessionmaker
    from app.demo import ensure_demo_site
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

    add_worker_command(commands)
    add_pool_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
