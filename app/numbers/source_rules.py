"""Which source-level static number a visit of a given source sees in place of a target."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from app.models import TrackingNumber


def pick_source_number(
    numbers: Iterable[TrackingNumber],
    *,
    target_id: uuid.UUID,
    source: str,
    medium: str | None,
    campaign: str | None,
) -> TrackingNumber | None:
    """The most specific matching rule: source + medium + campaign beats source + medium beats
    source alone. An empty medium or campaign on a rule matches any."""
    best: tuple[int, TrackingNumber] | None = None
    for number in numbers:
        if number.kind != "source" or number.retired_at is not None:
            continue
        if number.target_number_id != target_id or (number.source or "").lower() != source.lower():
            continue
        if number.medium is not None and number.medium.lower() != (medium or "").lower():
            continue
        if number.campaign is not None and number.campaign != campaign:
            continue
        score = (number.medium is not None) + 2 * (number.campaign is not None)
        if best is None or score > best[0]:
            best = (score, number)
    return best[1] if best else None
