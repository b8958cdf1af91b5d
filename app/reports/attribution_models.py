"""Attribution models: which of the caller's visits get the credit for a call.

`credit` is the specification, in plain Python over plain values: it splits every call into
(channel, weight) shares whose weights add up to 1, and a call, its deals and its revenue go
where its shares say. Reports run the same models inside the database (app.reports.credits),
which is what keeps a month of 100,000 calls fast; the tests hold the SQL to this code on
random journeys. Use `credit` directly for a handful of calls (a call's page, say).

Calls without a visitor (a source or offline number, a visit without consent, no attribution)
have no journey to look at: every model leaves them on their own, call-level channel.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DIRECT = "(direct)"
NONE = "(none)"


class Model(StrEnum):
    LAST_NON_DIRECT = "last_non_direct"
    FIRST_TOUCH = "first_touch"
    LINEAR = "linear"


class GroupBy(StrEnum):
    """How fine the report's rows are; each level adds one column to the previous one."""

    SOURCE = "source"
    MEDIUM = "medium"
    CAMPAIGN = "campaign"
    TERM = "term"

    @property
    def depth(self) -> int:
        """How many of source, medium, campaign, term the level keeps."""
        return _DEPTH[self]


_DEPTH = {GroupBy.SOURCE: 1, GroupBy.MEDIUM: 2, GroupBy.CAMPAIGN: 3, GroupBy.TERM: 4}


def _clean(value: str | None) -> str | None:
    # Ad costs store "no campaign" as "" (for their unique key), visits as NULL: one meaning.
    return value if value else None


@dataclass(frozen=True, slots=True, order=True)
class Channel:
    """Where traffic came from, at some grouping level (the finer fields left empty)."""

    source: str
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None

    @classmethod
    def of(
        cls,
        source: str | None,
        medium: str | None = None,
        campaign: str | None = None,
        term: str | None = None,
    ) -> Channel:
        # Visits are classified in lower case; costs and static-number rules typed by people
        # may not be, and "Google" must meet "google".
        medium = _clean(medium)
        return cls(
            source=(source or NONE).lower(),
            medium=medium.lower() if medium else None,
            campaign=_clean(campaign),
            term=_clean(term),
        )

    @property
    def is_direct(self) -> bool:
        return self.source == DIRECT

    def at(self, level: GroupBy) -> Channel:
        depth = level.depth
        return Channel(
            source=self.source,
            medium=self.medium if depth >= 2 else None,
            campaign=self.campaign if depth >= 3 else None,
            term=self.term if depth >= 4 else None,
        )


NO_ATTRIBUTION = Channel(source=NONE, medium=NONE)


def call_channel(
    method: str, source: str | None, medium: str | None, campaign: str | None, term: str | None
) -> Channel:
    """The channel a call's own attribution snapshot names."""
    if method == "none":
        return NO_ATTRIBUTION
    return Channel.of(source, medium, campaign, term)


@dataclass(frozen=True, slots=True)
class Visit:
    visitor_id: uuid.UUID
    started_at: datetime
    channel: Channel


@dataclass(frozen=True, slots=True)
class CallTouch:
    call_id: uuid.UUID
    visitor_id: uuid.UUID | None
    started_at: datetime
    channel: Channel  # the call's own snapshot: its session's channel, or its number's


Share = tuple[Channel, float]


def credit(
    calls: Iterable[CallTouch], visits: Iterable[Visit], model: Model
) -> dict[uuid.UUID, list[Share]]:
    """Each call's shares under `model`.

    Linear time in calls + visits (plus sorting): each visitor's visits and calls are walked
    once, side by side, in time order.
    """
    journeys: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for visit in visits:
        journeys[visit.visitor_id].append(visit)
    by_visitor: dict[uuid.UUID, list[CallTouch]] = defaultdict(list)
    shares: dict[uuid.UUID, list[Share]] = {}
    for call in calls:
        if call.visitor_id is None:
            shares[call.call_id] = [(call.channel, 1.0)]
        else:
            by_visitor[call.visitor_id].append(call)
    walk = _WALKS[model]
    for visitor_id, own in by_visitor.items():
        own.sort(key=lambda c: c.started_at)
        journey = sorted(journeys.get(visitor_id, ()), key=lambda v: v.started_at)
        shares.update(walk(own, journey))
    return shares


def _last_non_direct(
    calls: Sequence[CallTouch], journey: Sequence[Visit]
) -> Iterable[tuple[uuid.UUID, list[Share]]]:
    """The call's own visit unless it was direct; then the latest non-direct visit before the
    call; with none, direct after all (a direct visit says "they already knew us")."""
    latest: Channel | None = None
    i = 0
    for call in calls:
        while i < len(journey) and journey[i].started_at <= call.started_at:
            if not journey[i].channel.is_direct:
                latest = journey[i].channel
            i += 1
        if not call.channel.is_direct or latest is None:
            yield call.call_id, [(call.channel, 1.0)]
        else:
            yield call.call_id, [(latest, 1.0)]


def _first_touch(
    calls: Sequence[CallTouch], journey: Sequence[Visit]
) -> Iterable[tuple[uuid.UUID, list[Share]]]:
    first = journey[0] if journey else None
    for call in calls:
        if first is not None and first.started_at <= call.started_at:
            yield call.call_id, [(first.channel, 1.0)]
        else:
            # The visits were purged or arrived out of order: the snapshot still knows.
            yield call.call_id, [(call.channel, 1.0)]


def _linear(
    calls: Sequence[CallTouch], journey: Sequence[Visit]
) -> Iterable[tuple[uuid.UUID, list[Share]]]:
    """Equal shares for every visit up to the call. A running count per channel keeps this
    linear: a call costs as many steps as its visitor has distinct channels, not visits."""
    seen: Counter[Channel] = Counter()
    i = 0
    for call in calls:
        while i < len(journey) and journey[i].started_at <= call.started_at:
            seen[journey[i].channel] += 1
            i += 1
        if i == 0:
            yield call.call_id, [(call.channel, 1.0)]
        else:
            yield call.call_id, [(channel, n / i) for channel, n in seen.items()]


_WALKS = {
    Model.LAST_NON_DIRECT: _last_non_direct,
    Model.FIRST_TOUCH: _first_touch,
    Model.LINEAR: _linear,
}
