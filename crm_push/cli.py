"""`callsource worker [--once]`: the CRM outbox worker as its own process.

Wired into app.cli by `add_worker_command(commands)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence

from app import migrations
from app.config import ConfigError, Settings, get_settings
from app.database_check import check_database
from app.db import create_engine, create_sessionmaker
from app.kit import crypto, dialect
from app.log_redaction import RedactSecrets
from crm_push.redaction import RedactingFilter
from crm_push.worker import WorkerStep, run_worker


def add_worker_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    steps: Sequence[WorkerStep] = (),
) -> None:
    """`steps`: the other domains' periodic jobs the worker runs too (app.cli hands them in)."""
    worker = subparsers.add_parser(
        "worker", help="run the CRM outbox worker (deliveries and deal outcomes)"
    )
    worker.add_argument(
        "--once", action="store_true", help="deliver everything due now, poll what is due, exit"
    )
    worker.set_defaults(handler=cmd_worker, steps=tuple(steps))


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        # Every delivery reads its connector's sealed credentials.
        crypto.configure(crypto.Keyring(settings.require_secret_key()))
    except ConfigError as exc:
        print(f"callsource worker: {exc}", file=sys.stderr)
        return 2
    _configure_logging()
    check_database(settings.database_url)  # a ConfigError: app.cli prints it in one line
    if dialect.migrates_itself(settings.database_url):
        # Like `serve`: the embedded default migrates itself.
        migrations.upgrade_or_explain(settings.database_url)
    delivered = asyncio.run(_run(settings, once=bool(args.once), steps=args.steps))
    if args.once:
        print(json.dumps({"delivered": delivered}))
    return 0


async def _run(settings: Settings, *, once: bool, steps: Sequence[WorkerStep] = ()) -> int:
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Finish the deliveries in flight, then exit: a lease would cover them anyway.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        return await run_worker(
            create_sessionmaker(engine), settings, stop_event=stop, once=once, steps=steps
        )
    finally:
        await engine.dispose()


def _configure_logging() -> None:
    root = logging.getLogger()
    if root.handlers:  # configured by whoever runs us (a test runner, a supervisor's wrapper)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs every request line at INFO; a delivery's outcome is logged by us.
    logging.getLogger("httpx").setLevel(logging.WARNING)
