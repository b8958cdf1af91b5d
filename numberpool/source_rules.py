"""Which source-level static number a visit of a given source sees in place of a target."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from app.models import NumberKind, TrackingNumber


@dataclass(frozen=True, slots=True)
class SourceRule:
    """A live source-level number: shown to visits of `source` (and of `medium` and `campaign`
    when the rule names them) in place of its target number."""

    id: uuid.UUID
    number: str  # E.164
    target_number_id: uuid.UUID | None
    source: str
    medium: str | None
    campaign: str | None

    @classmethod
    def of(cls, number: TrackingNumber) -> SourceRule:
        return cls(
            id=number.id,
            number=number.number,
            target_number_id=number.target_number_id,
            source=number.source or "",
            medium=number.medium or None,
            campaign=number.campaign or None,
        )


def live_rules(numbers: Iterable[TrackingNumber]) -> list[SourceRule]:
    return [
        SourceRule.of(n) for n in numbers if n.kind == NumberKind.SOURCE and n.retired_at is None
    ]


def pick_source_number(
    rules: Iterable[SourceRule],
    *,
    target_id: uuid.UUID,
    source: str,
    medium: str | None,
    campaign: str | None,
) -> SourceRule | None:
    """The most specific matching rule: source + medium + campaign beats source + medium beats
    source alone. An empty medium or campaign on a rule matches any; case is ignored, because
    rules are typed by people and sources come from the classifier."""
    best: tuple[int, SourceRule] | None = None
    for rule in rules:
        if rule.target_number_id != target_id or rule.source.lower() != source.lower():
            continue
        if rule.medium is not None and rule.medium.lower() != (medium or "").lower():
            continue
        if rule.campaign is not None and rule.campaign.lower() != (campaign or "").lower():
            continue
        score = (rule.medium is not None) + 2 * (rule.campaign is not None)
        if best is None or score > best[0]:
            best = (score, rule)
    return best[1] if best else None
