"""The reports' precomputed rows (app.reports.rollups) give what the direct computation gives.

Random visits and calls are written as rows, the worker step builds the credits and rolls the
days up; then calls arrive late (started days ago, through the call path), deals are won,
corrected, set by hand and removed later (through the deal paths), and visits keep coming
today. After each round every model, level and period (whole local days, partial edges, a DST
change, today) is reported twice, from the rollups and directly, and the two must agree.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls import service as calls_service
from app.calls.events import CallEvent
from app.models import (
    Call,
    CallCredit,
    CreditChange,
    ReportRollupState,
    Site,
    TrackingSession,
    VisitRollup,
)
from app.reports import rollups
from app.reports import service as reports_service
from app.reports.attribution_models import GroupBy, Model
from app.reports.local_days import start_of_day
from crm_push import deals as deals_service
from tests.reports.rows import (
    create_call,
    create_deal,
    create_integration,
    create_session,
    create_site,
    create_visitor,
    record_deal,
)

CHANNELS = [
    ("(direct)", "(none)", None, None),
    ("(direct)", "(none)", None, None),
    ("google", "cpc", "brand", "sofa"),
    ("google", "cpc", "brand", None),
    ("Google", "CPC", "brand", None),
    ("yandex", "cpc", "sofas", "sofa"),
    ("yandex", "organic", None, None),
    ("vk", "social", None, None),
]
# New York leaves summer time on 2026-11-01 (a 25-hour day); Kathmandu is UTC+05:45.
ZONES = ["America/New_York", "Asia/Kathmandu"]
START = datetime(2026, 10, 27, tzinfo=UTC)
DAYS = 10
NOW = START + timedelta(days=DAYS, hours=15)


def _moment(rng: random.Random, taken: set[datetime], *, days: float = DAYS) -> datetime:
    while True:  # distinct times: a tie leaves "the first visit" to an arbitrary order
        moment = START + timedelta(seconds=rng.randrange(int(days * 86400)))
        if moment not in taken:
            taken.add(moment)
            return moment


class World:
    def __init__(self, site: Site, rng: random.Random) -> None:
        self.site, self.rng = site, rng
        self.taken: set[datetime] = set()
        self.calls: list[Call] = []


async def _build_world(db: AsyncSession, zone: str, rng: random.Random) -> World:
    site = await create_site(db, timezone=zone)
    world = World(site, rng)
    pbx = await create_integration(db, site=site)
    for _ in range(25):
        visitor = await create_visitor(db, site=site)
        journey = []
        for _ in range(rng.randrange(1, 5)):
            source, medium, campaign, term = rng.choice(CHANNELS)
            journey.append(
                await create_session(
                    db,
                    site=site,
                    visitor=visitor,
                    at=_moment(rng, world.taken),
                    source=source,
                    medium=medium,
                    campaign=campaign,
                    term=term,
                )
            )
        for _ in range(rng.randrange(0, 3)):
            own = rng.choice(journey)
            at = _moment(rng, world.taken)
            if at < own.started_at:
                continue
            world.calls.append(
                await create_call(
                    db,
                    site=site,
                    integration=pbx,
                    at=at,
                    session=own,
                    outcome=rng.choice(["answered", "missed"]),
                    first_time_caller=rng.random() < 0.5,
                    possible_spam=rng.random() < 0.2,
                )
            )
    for method, label in [("offline", "offline"), ("source", "Google"), ("none", None)]:
        world.calls.append(
            await create_call(
                db,
                site=site,
                integration=pbx,
                at=_moment(rng, world.taken),
                method=method,
                source=label,
                medium=label,
                campaign="flyers" if label else None,
            )
        )
    bot = await create_session(
        db, site=site, at=_moment(rng, world.taken), source="google", medium="organic"
    )
    bot.is_bot = True
    for call in rng.sample(world.calls, len(world.calls) // 3):
        currency = rng.choice(["RUB", "RUB", "USD"])
        await create_deal(
            db,
            site=site,
            call=call,
            revenue=str(rng.randrange(1, 900) * 100),
            status=rng.choice(["won", "won", "lost", "open"]),
            currency=currency,
        )
    await db.commit()
    return world


def _periods(zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    local = START.astimezone(zone).date()
    whole = [
        (
            start_of_day(local + timedelta(days=a), zone),
            start_of_day(local + timedelta(days=b), zone),
        )
        for a, b in [(0, DAYS + 1), (2, 7), (5, 6), (4, 6), (1, DAYS + 1)]
    ]
    partial = [
        (START + timedelta(days=2, hours=5, minutes=10), START + timedelta(days=6, hours=7)),
        (START + timedelta(hours=3), NOW),
        (START + timedelta(days=DAYS - 1, hours=20), NOW + timedelta(hours=2)),
    ]
    return whole + partial


async def _reports(sessionmaker: async_sessionmaker[AsyncSession], site_id: uuid.UUID) -> list[Any]:
    found: list[Any] = []
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        for since, until in _periods(ZoneInfo(site.timezone)):
            for model in Model:
                for level in GroupBy:
                    report = await reports_service.sources_report(
                        db, site=site, since=since, until=until, group_by=level, model=model
                    )
                    found.append(((since, until, model, level), report))
                for model in Model:
                    by_day = await reports_service.calls_by_day(
                        db, site=site, since=since, until=until, model=model
                    )
                    found.append(((since, until, model, "by day"), by_day))
    return found


def _figures(report: Any) -> Any:
    if hasattr(report, "rows"):
        rows = {
            (r.source, r.medium, r.campaign, r.term): r.model_dump(
                exclude={"source", "medium", "campaign", "term"}
            )
            for r in report.rows
        }
        return rows, report.totals.model_dump(), report.set_apart
    return {(d.day, d.source): d.calls for d in report.days}


async def _assert_rollups_agree(
    sessionmaker: async_sessionmaker[AsyncSession], site_id: uuid.UUID
) -> None:
    """Every report from the rollups equals the same report computed directly."""
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        usable = await rollups.usable(db, site)
        # Else both sides would be the direct computation and prove nothing.
        assert usable.credits
        assert usable.visits_until is not None
        state = await db.get(ReportRollupState, site_id)
        assert state is not None
        kept = {
            name: getattr(state, name)
            for name in (
                "calls_currency",
                "calls_zone",
                "visits_zone",
                "visits_until",
                "updated_at",
            )
        }
    rolled = await _reports(sessionmaker, site_id)
    # Without a state the reports compute directly; then the state comes back as it was.
    async with sessionmaker() as db, db.begin():
        await db.execute(delete(ReportRollupState).where(ReportRollupState.site_id == site_id))
    direct = await _reports(sessionmaker, site_id)
    async with sessionmaker() as db, db.begin():
        db.add(ReportRollupState(site_id=site_id, **kept))
    assert len(rolled) == len(direct)
    for (case, fast), (_, slow) in zip(rolled, direct, strict=True):
        _assert_same(_figures(fast), _figures(slow), case)


def _assert_same(a: Any, b: Any, case: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), case
        assert all(a[k] == pytest.approx(b[k]) for k in a), case
        return
    (rows_a, totals_a, apart_a), (rows_b, totals_b, apart_b) = a, b
    assert rows_a.keys() == rows_b.keys(), case
    for key in rows_a:
        for name, value in rows_a[key].items():
            assert value == pytest.approx(rows_b[key][name]), (case, key, name)
    for name, value in totals_a.items():
        assert value == pytest.approx(totals_b[name]), (case, name)
    assert apart_a == apart_b, case


async def _late_changes(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    """Days after the build: late calls, deals won and corrected, a manual deal, new visits."""
    rng, site_id = world.rng, world.site.id
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        pbx = (
            await db.execute(select(Call.integration_id).where(Call.site_id == site_id))
        ).scalar()
        assert pbx is not None
        journeys = (
            (
                await db.execute(
                    select(TrackingSession).where(
                        TrackingSession.site_id == site_id, TrackingSession.visitor_id.is_not(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        # A PBX posting calls that started days ago (a replayed backlog): through the call path.
        for n in range(4):
            at = _moment(rng, world.taken, days=DAYS - 1)
            for kind in ("started", "ended"):
                await calls_service.record_event(
                    db,
                    integration_id=pbx,
                    site_id=site_id,
                    country=site.country,
                    event=CallEvent(
                        provider_call_id=f"late-{n}",
                        kind=kind,
                        occurred_at=at + timedelta(minutes=2 if kind == "ended" else 0),
                        caller=f"+7900555000{n}",
                        called="+74950000001",
                        outcome="answered" if kind == "ended" else None,
                        duration_s=90 if kind == "ended" else None,
                        started_at=at,
                    ),
                    now=NOW,
                )
        # Deals won later, a won one corrected, one moved to a manual "lost" and back.
        calls = (await db.execute(select(Call).where(Call.site_id == site_id))).scalars().all()
        for call in rng.sample(list(calls), 6):
            await record_deal(
                db,
                site=site,
                call_id=call.id,
                revenue=Decimal(rng.randrange(1, 50) * 1000),
                now=NOW,
            )
        corrected = calls[0]
        for revenue in (Decimal("777.70"), Decimal("12345.00")):
            await record_deal(db, site=site, call_id=corrected.id, revenue=revenue, now=NOW)
        manual, restored = calls[1], calls[2]
        for call in (manual, restored):
            await deals_service.set_manual_deal(
                db,
                site=site,
                call=call,
                status="lost",
                revenue=Decimal(0),
                currency="RUB",
                now=NOW,
            )
        await deals_service.remove_manual_deal(db, site=site, call=restored)
        # Visits of today, not rolled up yet: counted from the visits.
        for _ in range(5):
            source, medium, campaign, term = rng.choice(CHANNELS)
            await create_session(
                db,
                site=site,
                at=NOW - timedelta(minutes=rng.randrange(1, 600)),
                source=source,
                medium=medium,
                campaign=campaign,
                term=term,
                visitor=None,
            )
        assert journeys
        await db.commit()


@pytest.mark.parametrize(("zone", "seed"), [(ZONES[0], 1), (ZONES[1], 2), (ZONES[0], 3)])
async def test_rollups_match_the_direct_computation(
    sessionmaker: async_sessionmaker[AsyncSession], zone: str, seed: int
) -> None:
    async with sessionmaker() as db:
        world = await _build_world(db, zone, random.Random(seed))
    site_id = world.site.id

    done = await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    async with sessionmaker() as db:
        credits = await db.scalar(select(func.count()).select_from(CallCredit))
        days = await db.scalar(select(func.count(func.distinct(VisitRollup.day))))
    assert credits
    assert credits >= 3 * len(world.calls)
    assert days == DAYS or days == DAYS + 1  # the local days before today that had visits
    assert done >= len(world.calls)
    # Nothing is behind any more: a second round does nothing.
    assert await rollups.keep_rollups(sessionmaker, None, NOW, None) == 0  # type: ignore[arg-type]
    await _assert_rollups_agree(sessionmaker, site_id)

    await _late_changes(sessionmaker, world)
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        stale = (await rollups.pending(db, site)).days
    assert stale  # the late calls' and deals' days: their changed calls counted directly
    await _assert_rollups_agree(sessionmaker, site_id)
    # Too many pending calls to name: their days are counted directly, whole.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollups, "PENDING_CALLS_NAMED", 0)
        await _assert_rollups_agree(sessionmaker, site_id)
        # Too many changes to read: the whole period is counted directly.
        patch.setattr(rollups, "PENDING_CHANGES_READ", 0)
        await _assert_rollups_agree(sessionmaker, site_id)
    # The worker rewrites those days' rollups and forgets the changes.
    assert await rollups.keep_rollups(sessionmaker, None, NOW, None) >= len(stale)  # type: ignore[arg-type]
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(CreditChange)) == 0
    await _assert_rollups_agree(sessionmaker, site_id)


async def test_a_changed_currency_or_zone_reads_directly_until_rebuilt(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        world = await _build_world(db, ZONES[0], random.Random(5))
    site_id = world.site.id
    await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        assert await rollups.usable(db, site) == rollups.Usable(
            credits=True,
            visits_until=(NOW - rollups.VISITS_SETTLE).astimezone(ZoneInfo(site.timezone)).date(),
        )
        site.currency, site.timezone = "USD", "Asia/Kathmandu"
        await db.commit()
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        assert await rollups.usable(db, site) == rollups.Usable(credits=False, visits_until=None)
    await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        usable = await rollups.usable(db, site)
        assert usable.credits
        assert usable.visits_until is not None
    # Rebuilt in dollars and Kathmandu days, and agreeing with the direct computation again.
    await _assert_rollups_agree(sessionmaker, site_id)


async def _credits_after_the_worker(
    sessionmaker: async_sessionmaker[AsyncSession], db: AsyncSession
) -> list[CallCredit]:
    await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    fresh = select(CallCredit).execution_options(populate_existing=True)
    return list((await db.execute(fresh)).scalars().all())


async def _changes(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(CreditChange)) or 0)


async def test_a_deal_notes_its_call_and_the_worker_writes_the_credits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        site = await create_site(db)
        pbx = await create_integration(db, site=site)
        await db.commit()
        assert await _credits_after_the_worker(sessionmaker, db) == []  # built, empty
        call = await create_call(db, site=site, integration=pbx, at=START, outcome="missed")
        await record_deal(db, site=site, call_id=call.id, revenue=Decimal("500.00"), now=NOW)
        await db.commit()
        assert await _changes(db) == 1
        credits = await _credits_after_the_worker(sessionmaker, db)
        assert await _changes(db) == 0
        assert {c.model for c in credits} == {m.value for m in Model}
        assert all(
            (c.deals_won, c.revenue, c.weight) == (1, Decimal("500.00"), 1.0) for c in credits
        )
        assert all(c.missed == 1 and c.answered == 0 for c in credits)


async def test_each_call_event_that_changes_a_figure_is_noted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        site = await create_site(db)
        pbx = await create_integration(db, site=site)
        await db.commit()
        await _credits_after_the_worker(sessionmaker, db)

        async def post(kind: str, minutes: int, outcome: str | None = None) -> int:
            await calls_service.record_event(
                db,
                integration_id=pbx.id,
                site_id=site.id,
                country=site.country,
                event=CallEvent(
                    provider_call_id="c-1",
                    kind=kind,  # type: ignore[arg-type]
                    occurred_at=START + timedelta(minutes=minutes),
                    caller="+79005550001",
                    called="+74950000001",
                    outcome=outcome,  # type: ignore[arg-type]
                    duration_s=120 if kind == "ended" else None,
                ),
                now=START + timedelta(minutes=minutes),
            )
            await db.commit()
            return await _changes(db)

        assert await post("started", 0) == 1
        ringing = await _credits_after_the_worker(sessionmaker, db)
        assert len(ringing) == len(Model)
        assert all((c.answered, c.missed, c.lead) == (0, 0, 0) for c in ringing)
        assert await post("answered", 1) == 1
        answered = await _credits_after_the_worker(sessionmaker, db)
        assert all((c.answered, c.missed, c.lead) == (1, 0, 1) for c in answered)
        assert await post("ended", 3, outcome="answered") == 1
        ended = await _credits_after_the_worker(sessionmaker, db)
        assert all((c.answered, c.missed, c.lead, c.first_time) == (1, 0, 1, 1) for c in ended)
        assert {c.channel for c in ended} == {c.channel for c in ringing}
        # A repeated event changes nothing: nothing is noted.
        assert await post("ended", 3, outcome="answered") == 0


@pytest.mark.only_on("postgresql")
async def test_changes_racing_the_worker_leave_the_rollups_exact(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Deals written on four connections while the worker rolls: whatever the interleaving, a
    day whose rollup missed a change is still named by that change, so the reports agree with
    the direct computation as soon as the writers stop, and again once the worker caught up."""
    async with sessionmaker() as db:
        world = await _build_world(db, ZONES[0], random.Random(11))
    site_id = world.site.id
    await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    call_ids = [call.id for call in world.calls]
    stop = asyncio.Event()

    async def write(seed: int) -> int:
        rng, written = random.Random(seed), 0
        while not stop.is_set() or written < 5:
            async with sessionmaker() as db:
                site = await db.get(Site, site_id)
                assert site is not None
                call_id = rng.choice(call_ids)
                await record_deal(
                    db,
                    site=site,
                    call_id=call_id,
                    revenue=Decimal(rng.randrange(1, 90) * 100),
                    now=NOW,
                    external_id=f"race-{call_id}",
                    won=rng.random() < 0.5,
                )
                await db.commit()
            written += 1
        return written

    async def roll() -> int:
        rounds = 0
        while not stop.is_set():
            await rollups.roll_calls(sessionmaker, site_id, now=NOW)
            rounds += 1
        return rounds

    tasks = [asyncio.create_task(write(seed)) for seed in range(4)]
    worker = asyncio.create_task(roll())
    await asyncio.sleep(1.0)
    stop.set()
    written = await asyncio.gather(*tasks)
    assert await worker > 0
    assert sum(written) >= 20
    # Whatever the last round left pending is counted directly; the rest from the rollups.
    await _assert_rollups_agree(sessionmaker, site_id)
    await rollups.roll_calls(sessionmaker, site_id, now=NOW)
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(CreditChange)) == 0
    await _assert_rollups_agree(sessionmaker, site_id)
