"""`callsource serve | migrate | demo | pool ...`"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import SecretStr

from app import migrations
from app.config import ConfigError, Settings, get_settings
from crm_push.cli import add_worker_command
from numberpool.cli import add_pool_commands


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    import uvicorn

    from app.log_redaction import uvicorn_log_config
    from app.main import create_app, freeze_startup_objects

    application = create_app(settings, with_worker=with_worker)
    freeze_startup_objects()
    uvicorn.run(
        application,
        host=host,
        port=port,
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
    _serve(settings, args.host, args.port, with_worker=args.with_worker)
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrations.upgrade(get_settings().database_url)
    print("database is at the latest revision")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
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
    _serve(settings, args.host, args.port, with_worker=True)
    return 0


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
