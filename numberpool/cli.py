"""`callsource pool size` and `callsource pool simulate`: JSON on stdout, as the contract says."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore
from numberpool.rules import PoolSettings
from numberpool.simulate import simulate
from numberpool.sizing import PoolSize, size_for_profile, size_pool
from numberpool.store import PoolStore, StoreUnavailable
from numberpool.traffic import PROFILES, RateProfile, read_rate_csv


def add_pool_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `pool size` and `pool simulate`; the parser's `handler` default runs them."""
    pool = subparsers.add_parser("pool", help="size a number pool, or simulate one")
    commands = pool.add_subparsers(dest="pool_command", required=True)
    pool.set_defaults(handler=run_pool_command)

    size = commands.add_parser(
        "size", help="the smallest pool whose Erlang B loss is at most 1 - coverage"
    )
    _traffic_arguments(size)
    size.add_argument(
        "--coverage",
        type=float,
        required=True,
        help="share of sessions that should get a dynamic number, e.g. 0.99",
    )

    sim = commands.add_parser(
        "simulate", help="run the real pool engine on a simulated clock; compare with Erlang B"
    )
    sim.add_argument("--numbers", type=int, required=True, help="numbers in the pool")
    _traffic_arguments(sim)
    sim.add_argument("--hours", type=float, required=True, help="simulated hours counted")
    sim.add_argument("--seed", type=int, default=1, help="random seed (same seed, same result)")
    sim.add_argument(
        "--store",
        choices=("embedded", "redis"),
        default="embedded",
        help="redis uses CALLSOURCE_REDIS_URL",
    )


def _traffic_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sessions-per-hour",
        type=float,
        help="arrival rate; with --profile, the day's mean (required unless --rate-csv)",
    )
    varying = parser.add_mutually_exclusive_group()
    varying.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="a built-in day whose rate changes by the quarter hour (ad-burst: ads in bursts)",
    )
    varying.add_argument(
        "--rate-csv",
        metavar="FILE",
        help="sessions_per_hour for each quarter hour from 00:00 (header start,sessions_per_hour)",
    )
    parser.add_argument("--session-minutes", type=float, required=True, help="mean visit length")
    parser.add_argument("--idle-timeout-s", type=float, default=300)
    parser.add_argument("--cooldown-s", type=float, default=900)
    parser.add_argument("--ping-s", type=float, default=60, help="keep-alive interval")


def run_pool_command(args: argparse.Namespace) -> int:
    try:
        command = _size if args.pool_command == "size" else _run_simulation
        result = command(args)
    except (ValueError, StoreUnavailable) as exc:
        print(f"callsource pool {args.pool_command}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def _profile(args: argparse.Namespace) -> RateProfile | None:
    """The varying rate asked for, if any; ValueError for a missing or clashing rate."""
    if args.rate_csv is not None:
        if args.sessions_per_hour is not None:
            raise ValueError("give --sessions-per-hour or --rate-csv, not both")
        try:
            with open(args.rate_csv, encoding="utf-8") as file:
                return read_rate_csv(file.read())
        except OSError as exc:
            raise ValueError(f"--rate-csv {args.rate_csv}: {exc.strerror}") from exc
    if args.sessions_per_hour is None:
        raise ValueError("--sessions-per-hour is required (or --rate-csv)")
    if args.profile is not None:
        if args.sessions_per_hour <= 0:
            raise ValueError("sessions_per_hour must be positive")
        return PROFILES[args.profile](args.sessions_per_hour)
    return None


def _size(args: argparse.Namespace) -> dict[str, Any]:
    timings = {
        "session_minutes": args.session_minutes,
        "coverage": args.coverage,
        "idle_timeout_s": args.idle_timeout_s,
        "cooldown_s": args.cooldown_s,
        "ping_s": args.ping_s,
    }
    profile = _profile(args)
    if profile is None:
        return _size_fields(size_pool(sessions_per_hour=args.sessions_per_hour, **timings))
    # A varying rate is sized for its busiest quarter hour, not for its busiest hour's mean.
    peak = size_for_profile(profile, **timings)
    return {
        **_size_fields(peak.advice),
        "peak_sessions_per_hour": _round(peak.peak_sessions_per_hour),
        "mean_sessions_per_hour": _round(profile.mean),
        "busiest_hour_sessions_per_hour": _round(peak.busiest_hour_sessions_per_hour),
        "numbers_for_busiest_hour_mean": peak.busiest_hour.numbers,
    }


def _size_fields(size: PoolSize) -> dict[str, Any]:
    return {
        "numbers": size.numbers,
        "offered_load": _round(size.offered_load),
        "loss": _round(size.loss),
        "mean_holding_s": _round(size.mean_holding_s),
    }


def _run_simulation(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> dict[str, Any]:
    profile = _profile(args)
    store = _store(args.store)
    try:
        result = await simulate(
            store,
            numbers=args.numbers,
            sessions_per_hour=profile.mean if profile else args.sessions_per_hour,
            profile=profile,
            session_minutes=args.session_minutes,
            hours=args.hours,
            settings=PoolSettings(idle_timeout_s=args.idle_timeout_s, cooldown_s=args.cooldown_s),
            ping_s=args.ping_s,
            seed=args.seed,
        )
    finally:
        await store.close()
    return {
        "sessions": result.sessions,
        "fallback_sessions": result.fallback_sessions,
        "fallback_share": _round(result.fallback_share),
        "erlang_b": _round(result.erlang_b),
        "offered_load": _round(result.offered_load),
        "mean_holding_s": _round(result.mean_holding_s),
        "peak_in_use": result.peak_in_use,
        **(
            {
                "mean_sessions_per_hour": _round(profile.mean),
                "peak_sessions_per_hour": _round(profile.peak),
                "peak_offered_load": _round(result.peak_offered_load),
                "erlang_b_peak": _round(result.erlang_b_peak),
            }
            if profile
            else {}
        ),
    }


def _store(kind: str) -> PoolStore:
    if kind == "embedded":
        return EmbeddedStore()
    from app.config import get_settings

    url = get_settings().redis_url
    if not url:
        raise ValueError("--store redis needs CALLSOURCE_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    # A simulation is a batch job: wait for a slow server rather than count it as an outage.
    return RedisStore(url, timeout_s=5.0)


def _round(value: float) -> float:
    """Six significant digits: enough to compare, short enough to read."""
    return float(f"{value:.6g}")
