"""`callsource pbx replay`: stored events whose processing failed are folded into their calls,
once, in received order; refused bodies stay failing with their error. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls import service as calls_service
from app.cli import main
from app.config import Settings, get_settings
from app.kit import crypto
from app.models import Call, PbxEvent
from pbx_webhooks import inbox
from pbx_webhooks.events import MalformedEvent
from pbx_webhooks.providers.generic import GenericProvider
from pbx_webhooks.replay import ReplayReport, replay_failed_events
from tests.calls.test_attribution import World, world
from tests.conftest import TEST_SECRET_KEY

__all__ = ["world"]
NUMBER = "+74950000001"


@pytest.fixture
def cli_settings(settings: Settings) -> Iterator[None]:
    """The command's environment: the test database and the tests' credentials key (a patch
    of its own, which a test's `monkeypatch.undo()` leaves in place)."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CALLSOURCE_DATABASE_URL", settings.database_url)
        environment.setenv("CALLSOURCE_REDIS_URL", "")
        environment.setenv("CALLSOURCE_SECRET_KEY", TEST_SECRET_KEY)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """`callsource pbx replay ...` as an operator runs it (its own event loop, in a thread)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["pbx", "replay", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else captured.err


def processing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> uuid.UUID:
        raise RuntimeError("a bug in the merge")

    monkeypatch.setattr(calls_service, "record_event", broken)


async def stored_events(sessionmaker: async_sessionmaker[AsyncSession]) -> list[PbxEvent]:
    async with sessionmaker() as db:
        return list((await db.execute(select(PbxEvent).order_by(PbxEvent.received_at))).scalars())


async def calls(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Call]:
    async with sessionmaker() as db:
        return list((await db.execute(select(Call).order_by(Call.provider_call_id))).scalars())


async def test_a_failed_event_is_replayed_into_its_call_and_a_second_replay_changes_nothing(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_settings: None,
) -> None:
    processing_fails(monkeypatch)
    assert (await world.hook("call.started", "c-bug", called=NUMBER)).status_code == 200
    world.clock.advance(seconds=40)
    ended = await world.hook(
        "call.ended", "c-bug", called=NUMBER, status="answered", duration=40, talk_duration=30
    )
    assert ended.status_code == 200
    monkeypatch.undo()  # the bug is fixed
    assert await calls(sessionmaker) == []

    code, summary = await run_cli(capsys)

    assert (code, summary) == (0, {"replayed": 2, "failed": 0, "errors": []})
    [call] = await calls(sessionmaker)
    # Both events folded in: the call ended as the PBX said, with its duration.
    assert (call.provider_call_id, call.status, call.duration) == ("c-bug", "ended", 40)
    events = await stored_events(sessionmaker)
    assert [(e.processed_at is not None, e.error, e.call_id) for e in events] == [
        (True, None, call.id),
        (True, None, call.id),
    ]

    again, summary = await run_cli(capsys)

    assert (again, summary) == (0, {"replayed": 0, "failed": 0, "errors": []})
    [same] = await calls(sessionmaker)
    assert (same.updated_at, same.status, same.duration) == (call.updated_at, "ended", 40)


async def test_an_event_an_outage_left_without_an_error_is_replayed_even_if_retired(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def database_gone(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionRefusedError("the database went away after the event was stored")

    monkeypatch.setattr(inbox, "process", database_gone)
    # The PBX is answered 503; the stored event waits with no error written.
    assert (await world.hook("call.started", "c-outage", called=NUMBER)).status_code == 503
    monkeypatch.undo()
    [stored] = await stored_events(sessionmaker)
    assert (stored.processed_at, stored.error) == (None, None)
    # Retired since: the event arrived while it was live, so its call is still real.
    retired = await world.client.delete(f"/api/v1/sites/{world.site['id']}/pbx/{world.pbx['id']}")
    assert retired.status_code == 200

    report = await replay_failed_events(sessionmaker, now=world.clock.advance(hours=1))

    assert report.summary() == {"replayed": 1, "failed": 0, "errors": []}
    [call] = await calls(sessionmaker)
    assert call.provider_call_id == "c-outage"


async def test_since_and_integration_choose_the_events_replayed(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_settings: None,
) -> None:
    first_pbx = world.pbx
    second_pbx = (
        await world.client.post(
            f"/api/v1/sites/{world.site['id']}/pbx", json={"provider": "generic"}
        )
    ).json()
    processing_fails(monkeypatch)
    await world.hook("call.started", "c-early", called=NUMBER)  # 2026-11-02 09:30 UTC
    world.clock.advance(days=1)
    await world.hook("call.started", "c-late", called=NUMBER)
    world.pbx = second_pbx
    await world.hook("call.started", "c-other", called=NUMBER)
    monkeypatch.undo()

    code, summary = await run_cli(capsys, "--since", "2026-11-03", "--integration", first_pbx["id"])

    assert (code, summary["replayed"]) == (0, 1)
    assert [c.provider_call_id for c in await calls(sessionmaker)] == ["c-late"]

    # A naive time is UTC: 09:30 is when the early one arrived, so it is included.
    code, summary = await run_cli(capsys, "--since", "2026-11-02T09:30:00")

    assert (code, summary["replayed"]) == (0, 2)
    assert [c.provider_call_id for c in await calls(sessionmaker)] == [
        "c-early",
        "c-late",
        "c-other",
    ]


async def test_a_body_still_refused_stays_failing_with_its_error_updated(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_settings: None,
) -> None:
    assert (await world.hook("call.exploded", "c-bad", called=NUMBER)).status_code == 422
    far = await world.hook("call.started", "c-far", called=NUMBER, timestamp="9999-12-31T00:00:00Z")
    assert far.status_code == 422
    processing_fails(monkeypatch)
    await world.hook("call.started", "c-good", called=NUMBER)
    monkeypatch.undo()
    async with sessionmaker() as db:
        await db.execute(update(PbxEvent).values(error="an error of an older release"))
        await db.commit()
    exploded, out_of_range, good = await stored_events(sessionmaker)

    code, summary = await run_cli(capsys)

    assert code == 1
    assert summary["replayed"] == 1
    assert summary["failed"] == 2
    errors = {e["event_id"]: e["error"] for e in summary["errors"]}
    assert errors[str(exploded.id)].startswith("event: must be one of")
    assert errors[str(out_of_range.id)].startswith(
        "timestamp: 9999-12-31T00:00:00+00:00 is more than 1 day ahead of the time received"
    )
    assert str(good.id) not in errors
    after = {e.id: e for e in await stored_events(sessionmaker)}
    for refused in (exploded, out_of_range):
        assert after[refused.id].processed_at is None
        assert after[refused.id].error == errors[str(refused.id)]
    assert [c.provider_call_id for c in await calls(sessionmaker)] == ["c-good"]


async def test_a_body_refused_by_a_mapping_bug_is_read_again_and_makes_its_call(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise MalformedEvent("called", "a bug in the mapping")

    monkeypatch.setattr(GenericProvider, "parse", refuse)
    assert (await world.hook("call.started", "c-fixed", called=NUMBER)).status_code == 422
    monkeypatch.undo()
    [rejected] = await stored_events(sessionmaker)
    assert rejected.dedup_key.startswith("rejected:")

    report = await replay_failed_events(sessionmaker, now=world.clock.advance(hours=1))

    assert report.summary() == {"replayed": 1, "failed": 0, "errors": []}
    [call] = await calls(sessionmaker)
    assert call.provider_call_id == "c-fixed"
    events = {e.id: e for e in await stored_events(sessionmaker)}
    assert len(events) == 2
    assert events[rejected.id].processed_at is not None
    [event] = [e for e in events.values() if e.id != rejected.id]
    assert (event.received_at, event.call_id, event.error) == (rejected.received_at, call.id, None)
    # Read once: a second replay finds nothing left.
    again = await replay_failed_events(sessionmaker, now=world.clock.advance(hours=1))
    assert again.summary() == {"replayed": 0, "failed": 0, "errors": []}
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(PbxEvent)) == 2


async def test_an_unknown_integration_is_a_one_line_configuration_error(
    world: World, capsys: pytest.CaptureFixture[str], cli_settings: None
) -> None:
    missing = uuid.uuid4()

    code, error = await run_cli(capsys, "--integration", str(missing))

    assert code == 2
    assert error.strip().splitlines() == [f"callsource pbx: no PBX integration {missing}"]


def test_the_reported_errors_are_bounded_but_counted() -> None:
    report = ReplayReport(failures={uuid.uuid4(): f"error {n}" for n in range(150)})

    summary = report.summary()

    assert summary["failed"] == 150
    assert isinstance(summary["errors"], list)
    assert len(summary["errors"]) == 100


async def test_a_key_that_did_not_seal_the_credentials_is_a_configuration_error(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_settings: None,
) -> None:
    processing_fails(monkeypatch)
    await world.hook("call.started", "c-locked", called=NUMBER)
    monkeypatch.undo()

    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CALLSOURCE_SECRET_KEY", "not-the-key-that-sealed-them-3f8a1c")
        get_settings.cache_clear()
        try:
            code, error = await run_cli(capsys)
        finally:
            # The command configures the process's keyring; the other tests need the right one.
            crypto.configure(crypto.Keyring(TEST_SECRET_KEY))
            get_settings.cache_clear()

    assert code == 2
    [line] = error.strip().splitlines()
    assert line.startswith(
        "callsource pbx: stored credentials do not open with CALLSOURCE_SECRET_KEY"
    )
    assert "not-the-key" not in line  # the key itself is never printed
    [stored] = await stored_events(sessionmaker)
    assert stored.processed_at is None
    assert await calls(sessionmaker) == []


async def test_an_event_whose_processing_fails_again_is_reported_with_that_error(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processing_fails(monkeypatch)
    await world.hook("call.started", "c-still-buggy", called=NUMBER)
    [stored] = await stored_events(sessionmaker)

    # Not fixed yet: the replay must say so, not count it as replayed.
    report = await replay_failed_events(sessionmaker, now=world.clock.advance(hours=1))

    assert report.replayed == 0
    assert list(report.failures) == [stored.id]
    assert "a bug in the merge" in report.failures[stored.id]
    [after] = await stored_events(sessionmaker)
    assert (after.processed_at, after.error) == (None, report.failures[stored.id])
