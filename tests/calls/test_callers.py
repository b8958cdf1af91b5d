"""Who called: withheld and non-numeric callers are nobody in particular, and numbers written
with `00` or a national trunk prefix are read for the site's country. Through the PBX webhook
and the calls API on SQLite and PostgreSQL and both pool stores, and on the phone helpers."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from app.exceptions import InvalidField
from app.kit.phones import is_identifiable, to_e164
from tests.calls.stores import settings  # noqa: F401 (the app on both pool stores)
from tests.calls.test_attribution import World, pool_number
from tests.clock import ManualClock

WITHHELD = ["anonymous", "restricted", "unknown", "unavailable", "Anonymous", "101"]


@pytest.fixture
async def world(anonymous: AsyncClient, client: AsyncClient, clock: ManualClock) -> World:
    return await World(anonymous, client, clock).build()


@pytest.mark.parametrize("caller", WITHHELD)
async def test_two_withheld_callers_are_not_one_repeat_caller(world: World, caller: str) -> None:
    first = await world.visit()
    before = await world.call(pool_number(first), caller=caller)
    world.clock.advance(hours=2)
    second = await world.visit(visitor_id=None)

    call = await world.call(pool_number(second), caller=caller)

    assert call["caller"] == caller  # kept as the PBX sent it
    attribution = call["attribution"]
    assert attribution["session_id"] == second["session_id"]
    assert attribution["conflict"] is False
    assert first["visitor_id"] not in attribution["reason"]
    assert call["first_time_caller"] is True
    assert before["first_time_caller"] is True


async def test_short_calls_from_withheld_numbers_are_not_one_callers_repeats(
    world: World,
) -> None:
    # Three 20-second calls from one real number in a day are spam; from "anonymous" they are
    # three different people, each just short.
    calls = []
    for _ in range(3):
        calls.append(await world.call("+74950000101", caller="anonymous", duration=20))
        world.clock.advance(minutes=10)
    assert [c["possible_spam"] for c in calls] == [False, False, False]
    real = []
    for _ in range(3):
        real.append(await world.call("+74950000101", caller="+79005550000", duration=20))
        world.clock.advance(minutes=10)
    assert [c["possible_spam"] for c in real] == [False, False, True]


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("0049 30 1234567", "+49301234567"),  # "00" dials out of Russia too, for PBXs
        ("00 7 916 123-45-67", "+79161234567"),
        ("8 916 123-45-67", "+79161234567"),  # the Russian trunk prefix
        ("8 10 49 30 1234567", "+49301234567"),  # Russia's own international prefix
        ("79161234567", "+79161234567"),
    ],
)
async def test_callers_are_read_for_the_sites_country(
    world: World, written: str, e164: str
) -> None:
    call = await world.call("+74950000101", caller=written)

    assert call["caller"] == e164


async def test_a_called_number_written_with_00_finds_its_visit(world: World) -> None:
    visit = await world.visit()
    number = pool_number(visit)

    call = await world.call("00" + number.removeprefix("+"))

    assert call["called"] == number
    assert call["attribution"]["session_id"] == visit["session_id"]


async def test_a_repeat_caller_is_one_person_however_the_pbx_writes_the_number(
    world: World,
) -> None:
    first = await world.visit()
    await world.call(pool_number(first), caller="0079161234567")
    world.clock.advance(hours=2)
    second = await world.visit(visitor_id=None)

    call = await world.call(pool_number(second), caller="8 916 123 45 67")

    assert call["first_time_caller"] is False
    assert call["attribution"]["conflict"] is True


@pytest.mark.parametrize(
    ("written", "country", "e164"),
    [
        ("0049301234567", "RU", "+49301234567"),
        ("004930 1234567", "DE", "+49301234567"),
        ("0 30 1234567", "DE", "+49301234567"),  # the German trunk prefix
        ("00 44 20 7946 0958", "US", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+7 495 123-45-67", "DE", "+74951234567"),
    ],
)
def test_to_e164_reads_international_and_trunk_prefixes(
    written: str, country: str, e164: str
) -> None:
    assert to_e164(written, country, field="caller") == e164


@pytest.mark.parametrize("written", ["00", "007", "anonymous", "0049"])
def test_to_e164_refuses_what_is_no_number_naming_the_field(written: str) -> None:
    with pytest.raises(InvalidField, match=r"^caller: "):
        to_e164(written, "RU", field="caller")


def test_only_an_e164_number_identifies_a_caller() -> None:
    assert is_identifiable("+79161234567")
    for caller in [*WITHHELD, None, "", "+", "+101", "+7916abc", "79161234567"]:
        assert not is_identifiable(caller), caller
