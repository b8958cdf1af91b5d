"""Folding a call's PBX events into one call, whatever order or how often they arrive.

Pure: the same set of events gives the same call in any order and with any repeats, because
every field is merged by a rule that is commutative and idempotent (earliest start, state only
moving forward, first non-empty value, the final event's figures).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.calls.events import CallEvent

STATE_RANK = {"ringing": 1, "answered": 2, "ended": 3}
_STATE_OF = {"started": "ringing", "answered": "answered", "ended": "ended"}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the events have told about a call so far."""

    provider_call_id: str
    status: str  # ringing | answered | ended
    started_at: datetime
    caller: str | None = None
    called: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    duration: int | None = None
    talk_duration: int | None = None
    recording_url: str | None = None
    last_sequence: int | None = None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _start_of(event: CallEvent) -> datetime:
    """When the call began, as far as this event can tell."""
    if event.started_at is not None:
        return event.started_at
    if event.kind == "ended":
        # A final event that tells no duration still tells when the call ended: no call can
        # start after that (its occurred_at may be when it was sent, later than the end).
        return (event.ended_at or event.occurred_at) - timedelta(seconds=event.duration_s or 0)
    return event.occurred_at


def _state(event: CallEvent) -> str:
    if event.kind == "recording":
        # A recording exists only for a finished call; it says nothing about when it ended.
        return "ringing"
    return _STATE_OF[event.kind]


def _answered_at(event: CallEvent) -> datetime | None:
    if event.answered_at is not None:
        return event.answered_at
    if event.kind == "answered":
        return event.occurred_at
    return None


def _ended_at(event: CallEvent) -> datetime | None:
    if event.kind != "ended":
        return None
    return event.ended_at or event.occurred_at


def facts_from(event: CallEvent) -> CallFacts:
    """The call as its first-seen event describes it."""
    return fold(
        CallFacts(
            provider_call_id=event.provider_call_id, status="ringing", started_at=_start_of(event)
        ),
        event,
    )


def fold(call: CallFacts, event: CallEvent) -> CallFacts:
    """`call` with `event` merged in."""
    state = _state(event)
    final = event.kind == "ended"
    status = state if STATE_RANK[state] > STATE_RANK[call.status] else call.status
    # The final event's figures win, and among final events (a repeat) the larger, so that
    # the result does not depend on which copy came last.
    duration, talk = call.duration, call.talk_duration
    outcome = call.outcome
    if final:
        duration = _max(duration, event.duration_s)
        talk = _max(talk, event.talk_duration_s)
        outcome = _stronger_outcome(outcome, event.outcome)
    sequence = _max(call.last_sequence, event.sequence)
    return replace(
        call,
        status=status,
        started_at=_earliest(call.started_at, _start_of(event)) or call.started_at,
        caller=_pick(call.caller, event.caller),
        called=_pick(call.called, event.called),
        answered_at=_earliest(call.answered_at, _answered_at(event)),
        ended_at=_latest(call.ended_at, _ended_at(event)),
        outcome=outcome,
        duration=duration,
        talk_duration=talk,
        recording_url=_pick(call.recording_url, event.recording_url),
        last_sequence=sequence,
    )


def final_outcome(call: CallFacts) -> str | None:
    """The outcome of an ended call: what the PBX said, else whether it was ever answered."""
    if call.status != "ended":
        return None
    if call.outcome is not None:
        return call.outcome
    return "answered" if call.answered_at is not None or (call.talk_duration or 0) > 0 else "missed"


_OUTCOME_RANK = {"failed": 0, "busy": 1, "missed": 2, "answered": 3}


def _stronger_outcome(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _OUTCOME_RANK.get(a, -1) >= _OUTCOME_RANK.get(b, -1) else b


def _pick(a: str | None, b: str | None) -> str | None:
    """The one value events agree on; should two disagree, the same one whatever the order."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
