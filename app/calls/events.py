"""The normalized call event: what every PBX webhook turns into, whichever provider sent it.

Pure data, below both the PBX webhooks that produce it and the call merge that consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

CallEventKind = Literal["started", "answered", "ended", "recording"]
CallOutcome = Literal["answered", "missed", "busy", "failed"]
Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True, slots=True)
class CallEvent:
    provider_call_id: str  # one id for the whole call
    kind: CallEventKind
    occurred_at: datetime  # timezone-aware UTC
    caller: str | None  # as sent (normalisation to E.164 happens later)
    called: str | None  # the tracking number dialled, as sent
    outcome: CallOutcome | None = None
    duration_s: int | None = None
    talk_duration_s: int | None = None
    recording_url: str | None = None
    sequence: int | None = None  # provider ordering hint (Mango seq, Twilio SequenceNumber)
    dedup_key: str = ""  # a repeat of the same event gives the same key
    started_at: datetime | None = None  # when the final/summary event tells the call start
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    direction: Direction = "inbound"
