"""`callsource pool size` and `callsource pool simulate` print the contract's JSON."""

from __future__ import annotations

import argparse
import json

import pytest

from numberpool.cli import add_pool_commands
from numberpool.sizing import erlang_b


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    """Exit code and the JSON printed; on an error, the body is {"stderr": message}."""
    parser = argparse.ArgumentParser(prog="callsource")
    add_pool_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else {"stderr": err})


def test_pool_size(capsys: pytest.CaptureFixture[str]) -> None:
    code, body = run(
        [
            "pool",
            "size",
            "--sessions-per-hour",
            "100",
            "--session-minutes",
            "5",
            "--coverage",
            "0.99",
        ],
        capsys,
    )
    assert code == 0
    assert set(body) == {"numbers", "offered_load", "loss", "mean_holding_s"}
    numbers, load = body["numbers"], body["offered_load"]
    assert isinstance(numbers, int)
    assert isinstance(load, float)
    assert erlang_b(numbers, load) <= 0.01 < erlang_b(numbers - 1, load)
    assert body["mean_holding_s"] == pytest.approx(1470.9, abs=0.1)


def test_pool_size_takes_the_pool_settings(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pool", "size", "--sessions-per-hour", "100", "--session-minutes", "5"]
    argv += ["--idle-timeout-s", "120", "--cooldown-s", "300", "--ping-s", "0", "--coverage", "0.9"]
    code, body = run(argv, capsys)
    assert code == 0
    assert body["mean_holding_s"] == 300 + 120 + 300


def test_pool_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pool", "simulate", "--numbers", "5", "--sessions-per-hour", "15"]
    argv += ["--session-minutes", "3", "--hours", "100", "--seed", "2"]
    code, body = run(argv, capsys)
    assert code == 0
    assert set(body) == {
        "sessions",
        "fallback_sessions",
        "fallback_share",
        "erlang_b",
        "offered_load",
        "mean_holding_s",
        "peak_in_use",
    }
    assert body["peak_in_use"] == 5
    sessions, fallbacks = body["sessions"], body["fallback_sessions"]
    assert isinstance(sessions, int)
    assert isinstance(fallbacks, int)
    assert body["fallback_share"] == pytest.approx(fallbacks / sessions, rel=1e-5)


def test_pool_simulate_on_redis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("CALLSOURCE_REDIS_URL", redis_url)
    get_settings.cache_clear()
    argv = ["pool", "simulate", "--numbers", "3", "--sessions-per-hour", "10"]
    argv += ["--session-minutes", "3", "--hours", "20", "--store", "redis"]
    try:
        code, redis_body = run(argv, capsys)
        assert code == 0
        code, embedded_body = run([*argv[:-2], "--store", "embedded"], capsys)
    finally:
        get_settings.cache_clear()
    assert redis_body == embedded_body


def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pool", "size", "--sessions-per-hour", "100", "--session-minutes", "5"]
    code, body = run([*argv, "--coverage", "1.5"], capsys)
    assert code == 2
    assert "coverage must be between 0 and 1" in str(body["stderr"])
