"""The attribution models on hand-made journeys, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.reports.attribution_models import (
    NO_ATTRIBUTION,
    CallTouch,
    Channel,
    GroupBy,
    Model,
    Visit,
    call_channel,
    credit,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
GOOGLE = Channel.of("google", "cpc", "brand", "sofa")
YANDEX = Channel.of("yandex", "cpc", "sofas")
VK = Channel.of("vk", "social")
DIRECT = Channel.of("(direct)", "(none)")
OFFLINE = Channel.of("offline", "offline", "metro-flyers")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def visits(visitor: uuid.UUID, *journey: tuple[float, Channel]) -> list[Visit]:
    return [Visit(visitor_id=visitor, started_at=at(h), channel=c) for h, c in journey]


def call(visitor: uuid.UUID | None, hours: float, own: Channel) -> CallTouch:
    return CallTouch(call_id=uuid.uuid4(), visitor_id=visitor, started_at=at(hours), channel=own)


def test_channel_normalises_case_and_empty_values() -> None:
    assert Channel.of("Google", "CPC", "", None) == Channel("google", "cpc", None, None)
    assert Channel.of(None) == Channel("(none)")
    # Campaign names keep their case: utm_campaign is kept as written.
    assert Channel.of("google", "cpc", "Brand").campaign == "Brand"


def test_channel_levels() -> None:
    assert GOOGLE.at(GroupBy.SOURCE) == Channel("google")
    assert GOOGLE.at(GroupBy.MEDIUM) == Channel("google", "cpc")
    assert GOOGLE.at(GroupBy.CAMPAIGN) == Channel("google", "cpc", "brand")
    assert GOOGLE.at(GroupBy.TERM) == GOOGLE


def test_call_channel_of_an_unattributed_call_is_none() -> None:
    assert (
        call_channel("none", None, None, None, None)
        == NO_ATTRIBUTION
        == Channel.of("(none)", "(none)")
    )
    assert call_channel("offline", "offline", "offline", "metro-flyers", None) == OFFLINE


def test_last_non_direct_keeps_a_non_direct_own_visit() -> None:
    v = uuid.uuid4()
    # A later google visit exists before the call, but the call came from the vk visit.
    journey = visits(v, (0, YANDEX), (1, VK), (2, GOOGLE))
    c = call(v, 3, VK)
    assert credit([c], journey, Model.LAST_NON_DIRECT)[c.call_id] == [(VK, 1.0)]


def test_last_non_direct_looks_past_a_direct_visit() -> None:
    v = uuid.uuid4()
    journey = visits(v, (0, YANDEX), (1, GOOGLE), (2, DIRECT), (5, VK))
    c = call(v, 3, DIRECT)
    # The vk visit came after the call: it cannot have caused it.
    assert credit([c], journey, Model.LAST_NON_DIRECT)[c.call_id] == [(GOOGLE, 1.0)]


def test_last_non_direct_stays_direct_without_a_non_direct_visit() -> None:
    v = uuid.uuid4()
    c = call(v, 3, DIRECT)
    shares = credit([c], visits(v, (0, DIRECT), (2, DIRECT)), Model.LAST_NON_DIRECT)
    assert shares[c.call_id] == [(DIRECT, 1.0)]


def test_first_touch_is_the_first_visit() -> None:
    v = uuid.uuid4()
    journey = visits(v, (1, GOOGLE), (0, YANDEX), (2, VK))  # any order in, time order used
    early, late = call(v, 0.5, YANDEX), call(v, 3, VK)
    shares = credit([late, early], journey, Model.FIRST_TOUCH)
    assert shares[early.call_id] == [(YANDEX, 1.0)]
    assert shares[late.call_id] == [(YANDEX, 1.0)]


def test_linear_splits_over_the_visits_before_each_call() -> None:
    v = uuid.uuid4()
    journey = visits(v, (0, YANDEX), (1, VK), (2, YANDEX), (4, GOOGLE))
    first, second, third = call(v, 1.5, VK), call(v, 3, YANDEX), call(v, 5, GOOGLE)
    shares = credit([first, second, third], journey, Model.LINEAR)
    assert dict(shares[first.call_id]) == {YANDEX: 0.5, VK: 0.5}
    assert dict(shares[second.call_id]) == pytest.approx({YANDEX: 2 / 3, VK: 1 / 3})
    assert dict(shares[third.call_id]) == {YANDEX: 0.5, VK: 0.25, GOOGLE: 0.25}
    for call_shares in shares.values():
        assert sum(weight for _, weight in call_shares) == pytest.approx(1.0)


@pytest.mark.parametrize("model", list(Model))
def test_calls_without_a_visitor_keep_their_own_channel(model: Model) -> None:
    v = uuid.uuid4()
    offline, unattributed = call(None, 1, OFFLINE), call(None, 1, NO_ATTRIBUTION)
    shares = credit([offline, unattributed], visits(v, (0, GOOGLE)), model)
    assert shares[offline.call_id] == [(OFFLINE, 1.0)]
    assert shares[unattributed.call_id] == [(NO_ATTRIBUTION, 1.0)]


@pytest.mark.parametrize("model", list(Model))
def test_a_visitor_whose_visits_are_gone_keeps_the_call_snapshot(model: Model) -> None:
    c = call(uuid.uuid4(), 1, DIRECT)
    assert credit([c], [], model)[c.call_id] == [(DIRECT, 1.0)]


def test_visitors_do_not_share_journeys() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    journey = visits(a, (0, GOOGLE)) + visits(b, (0, YANDEX), (1, DIRECT))
    c = call(b, 2, DIRECT)
    assert credit([c], journey, Model.LAST_NON_DIRECT)[c.call_id] == [(YANDEX, 1.0)]
    assert credit([c], journey, Model.FIRST_TOUCH)[c.call_id] == [(YANDEX, 1.0)]
