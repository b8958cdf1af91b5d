"""The attribution models run in SQL (app.reports.credits); their specification is the Python
in app.reports.attribution_models. On random journeys both must credit the same calls to the
same channels, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, Site, TrackingSession
from app.reports import repository
from app.reports.attribution_models import (
    CallTouch,
    Channel,
    GroupBy,
    Model,
    Visit,
    call_channel,
    credit,
)
from tests.reports.rows import (
    create_call,
    create_integration,
    create_session,
    create_site,
    create_visitor,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
SINCE, UNTIL = START + timedelta(days=3), START + timedelta(days=9)
CHANNELS = [
    ("(direct)", "(none)", None, None),
    ("(direct)", "(none)", None, None),
    ("google", "cpc", "brand", "sofa"),
    ("google", "cpc", "brand", "bed"),
    ("Google", "CPC", "brand", None),  # typed by hand somewhere: the same channel
    ("yandex", "cpc", "sofas", None),
    ("yandex", "organic", None, None),
    ("vk", "social", None, None),
    ("t.me", "referral", None, None),
]


def _moment(rng: random.Random, taken: set[datetime]) -> datetime:
    # Distinct times: ties would leave "the latest visit" to an arbitrary order.
    while True:
        moment = START + timedelta(seconds=rng.randrange(10 * 86400))
        if moment not in taken:
            taken.add(moment)
            return moment


async def _random_world(
    db: AsyncSession, rng: random.Random
) -> tuple[Site, list[Call], list[TrackingSession]]:
    site = await create_site(db)
    pbx = await create_integration(db, site=site)
    taken: set[datetime] = set()
    calls: list[Call] = []
    visits: list[TrackingSession] = []
    for _ in range(14):
        visitor = await create_visitor(db, site=site)
        journey = []
        for _ in range(rng.randrange(1, 6)):
            source, medium, campaign, term = rng.choice(CHANNELS)
            visit = await create_session(
                db, site=site, visitor=visitor, at=_moment(rng, taken), source=source,
                medium=medium, campaign=campaign, term=term,
            )  # fmt: skip
            journey.append(visit)
        visits += journey
        for _ in range(rng.randrange(0, 4)):
            own = rng.choice(journey)
            at = _moment(rng, taken)
            if at < own.started_at:
                continue
            calls.append(
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
    static: list[tuple[str, str | None]] = [
        ("offline", "offline"),
        ("source", "Google"),
        ("none", None),
    ]
    for method, label in static:
        for _ in range(2):
            calls.append(
                await create_call(
                    db,
                    site=site,
                    integration=pbx,
                    at=_moment(rng, taken),
                    method=method,
                    source=label,
                    medium=label,
                    campaign="flyers" if label else None,
                )
            )
    # A visit without consent (no visitor) that called.
    anonymous = await create_session(
        db, site=site, at=_moment(rng, taken), source="vk", medium="social"
    )
    calls.append(
        await create_call(
            db,
            site=site,
            integration=pbx,
            at=anonymous.started_at + timedelta(seconds=1),
            session=anonymous,
        )
    )
    return site, calls, visits


def _expected(
    calls: list[Call], visits: list[TrackingSession], model: Model, level: GroupBy
) -> dict[Channel, tuple[float, ...]]:
    in_period = [c for c in calls if SINCE <= c.started_at < UNTIL]
    touches = [
        CallTouch(
            call_id=c.id,
            visitor_id=c.visitor_id,
            started_at=c.started_at,
            channel=call_channel(c.attribution_method, c.source, c.medium, c.campaign, c.term),
        )
        for c in in_period
    ]
    journeys = [
        Visit(
            visitor_id=v.visitor_id,
            started_at=v.started_at,
            channel=Channel.of(v.source, v.medium, v.campaign, v.term),
        )
        for v in visits
        if v.visitor_id is not None
    ]
    shares = credit(touches, journeys, model)
    sums: dict[Channel, list[float]] = defaultdict(lambda: [0.0] * 5)
    for call in in_period:
        answered = call.outcome == "answered"
        flags = (
            1,
            call.first_time_caller,
            answered,
            not answered,
            answered and not call.possible_spam,
        )
        for channel, weight in shares[call.id]:
            row = sums[channel.at(level)]
            for i, flag in enumerate(flags):
                row[i] += weight * flag
    return {channel: tuple(values) for channel, values in sums.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sql_credits_calls_as_the_python_models_do(db: AsyncSession, seed: int) -> None:
    rng = random.Random(seed)
    site, calls, visits = await _random_world(db, rng)

    for model in Model:
        for level in GroupBy:
            got = await repository.calls_by_channel(
                db,
                site_id=site.id,
                since=SINCE,
                until=UNTIL,
                level=level,
                model=model,
                currency=site.currency,
            )
            actual = {
                channel: (f.calls, f.first_time_calls, f.answered, f.missed, f.leads)
                for channel, f in got.items()
            }
            expected = _expected(calls, visits, model, level)
            assert set(actual) == set(expected), (model, level)
            for channel, figures in expected.items():
                assert actual[channel] == pytest.approx(figures), (model, level, channel)
