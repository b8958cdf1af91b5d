"""Folding a call's PBX events: any order, any repeats, the same call.

Calls are generated as a PBX would report them (start, maybe an answer, an end with its figures,
maybe a recording), some events lost on the way, then delivered shuffled and duplicated.
Pure and deterministic: no database, no clock, no conftest fixtures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.calls.events import CallEvent, CallOutcome
from app.calls.merge import STATE_RANK, CallFacts, facts_from, final_outcome, fold

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
FAST = settings(derandomize=True, max_examples=200, deadline=None, database=None)


@dataclass(frozen=True)
class Scenario:
    """One call as it happened, and the events that made it to us (at least the final one)."""

    events: tuple[CallEvent, ...]
    start: datetime
    answered: bool
    end: datetime
    duration: int | None  # None: the PBX did not send figures
    talk: int | None
    outcome: CallOutcome | None  # what the PBX said, if anything
    recording_url: str | None


def fold_all(events: Sequence[CallEvent]) -> CallFacts:
    call = facts_from(events[0])
    for event in events[1:]:
        call = fold(call, event)
    return call


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    call_id = draw(st.sampled_from(["c-1", "1705314598.42", "a84b4c76e66710@pbx.example.com"]))
    start = T0 + timedelta(seconds=draw(st.integers(0, 86_400)))
    ring = draw(st.integers(0, 120))
    answered = draw(st.booleans())
    talk = draw(st.integers(0, 3_600)) if answered else 0
    answer_at = start + timedelta(seconds=ring)
    end = answer_at + timedelta(seconds=talk)
    outcome: CallOutcome | None
    if answered:
        outcome = draw(st.sampled_from(["answered", None]))
    else:
        outcome = draw(st.sampled_from(["missed", "busy", "failed", None]))
    with_figures = draw(st.booleans())
    duration = ring + talk if with_figures else None
    talk_s = talk if with_figures else None
    # Numbers as sent: some events carry them, some do not (withheld, or not in that event).
    caller = draw(st.sampled_from(["+79001234567", "79001234567", "anonymous"]))
    called = "+74951234567"

    def maybe(value: str) -> str | None:
        return value if draw(st.booleans()) else None

    recording = "https://pbx.example.com/rec/1.wav" if answered and draw(st.booleans()) else None
    # The final event may restate the call's times (Mango summary; Telnyx hangup, sometimes
    # with the end only), and then it may be sent a little after the call ended.
    restates = draw(st.sampled_from(["nothing", "end", "everything"]))
    lag = timedelta(seconds=draw(st.integers(0, 30))) if restates != "nothing" else timedelta()
    sequenced = draw(st.booleans())  # Mango seq / Twilio SequenceNumber
    seq = iter(range(1, 10))

    def event(kind: str, at: datetime, **fields: object) -> CallEvent:
        return CallEvent(
            provider_call_id=call_id,
            kind=kind,  # type: ignore[arg-type]
            occurred_at=at,
            caller=maybe(caller),
            called=maybe(called),
            sequence=next(seq) if sequenced else None,
            dedup_key=f"{call_id}:{kind}",
            **fields,  # type: ignore[arg-type]
        )

    started = event("started", start)
    answer = event("answered", answer_at) if answered else None
    recording_separately = recording is not None and draw(st.booleans())
    ended = event(
        "ended",
        end + lag,
        outcome=outcome,
        duration_s=duration,
        talk_duration_s=talk_s,
        recording_url=None if recording_separately else recording,
        started_at=start if restates == "everything" else None,
        answered_at=answer_at if restates == "everything" and answered else None,
        ended_at=end if restates != "nothing" else None,
    )
    events: list[CallEvent] = []
    if draw(st.booleans()):  # the start can be lost
        events.append(started)
    if answer is not None and draw(st.booleans()):  # so can the answer
        events.append(answer)
    events.append(ended)  # the final event always comes
    if recording_separately:
        delay = timedelta(seconds=draw(st.integers(1, 600)))
        events.append(event("recording", end + delay, recording_url=recording))
    return Scenario(
        events=tuple(events),
        start=start,
        answered=answered,
        end=end,
        duration=duration,
        talk=talk_s,
        outcome=outcome,
        recording_url=recording,
    )


@st.composite
def deliveries(draw: st.DrawFn, events: Sequence[CallEvent]) -> list[CallEvent]:
    """The events shuffled, with some of them delivered more than once."""
    delivered = list(draw(st.permutations(list(events))))
    for _ in range(draw(st.integers(0, 4))):
        repeat = draw(st.sampled_from(list(events)))
        delivered.insert(draw(st.integers(0, len(delivered))), repeat)
    return delivered


@FAST
@given(data=st.data(), scenario=scenarios())
def test_any_order_and_repeats_give_the_same_call(data: st.DataObject, scenario: Scenario) -> None:
    in_order = fold_all(scenario.events)
    delivered = data.draw(deliveries(scenario.events))
    assert fold_all(delivered) == in_order


@FAST
@given(data=st.data(), scenario=scenarios())
def test_state_never_moves_backward(data: st.DataObject, scenario: Scenario) -> None:
    delivered = data.draw(deliveries(scenario.events))
    call = facts_from(delivered[0])
    for event in delivered[1:]:
        after = fold(call, event)
        assert STATE_RANK[after.status] >= STATE_RANK[call.status]
        # The other merged facts only move one way too.
        assert after.started_at <= call.started_at
        if call.ended_at is not None:
            assert after.ended_at is not None
            assert after.ended_at >= call.ended_at
        if call.answered_at is not None:
            assert after.answered_at is not None
            assert after.answered_at <= call.answered_at
        call = after
    assert call.status == "ended"
    assert call.ended_at is not None
    assert call.started_at <= call.ended_at


@FAST
@given(scenario=scenarios())
def test_the_folded_call_tells_what_happened(scenario: Scenario) -> None:
    call = fold_all(scenario.events)
    kinds = {event.kind for event in scenario.events}
    assert call.status == "ended"
    assert call.ended_at == scenario.end
    assert call.duration == scenario.duration
    assert call.talk_duration == scenario.talk
    assert call.outcome == scenario.outcome
    assert call.recording_url == scenario.recording_url
    assert call.started_at <= call.ended_at
    assert call.called in (None, "+74951234567")
    # The start: the PBX's own figures, else the earliest moment any event shows.
    summary = any(event.started_at is not None for event in scenario.events)
    if "started" in kinds or scenario.duration is not None or summary:
        assert call.started_at == scenario.start
    else:  # only the answer or the end tell: the earliest of them
        assert scenario.start <= call.started_at <= scenario.end
    answer_reported = "answered" in kinds or any(e.answered_at for e in scenario.events)
    assert (call.answered_at is not None) == answer_reported
    expected = scenario.outcome
    if expected is None:
        talked = answer_reported or (scenario.talk or 0) > 0
        expected = "answered" if talked else "missed"
    assert final_outcome(call) == expected


# ---- the final event alone -------------------------------------------------------------------


def _ended(**fields: object) -> CallEvent:
    base = CallEvent(
        provider_call_id="c-1",
        kind="ended",
        occurred_at=T0,
        caller="+79001234567",
        called="+74951234567",
        dedup_key="c-1:ended",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@FAST
@given(duration=st.integers(0, 86_400), talk=st.integers(0, 3_600))
def test_final_event_alone_makes_a_complete_call(duration: int, talk: int) -> None:
    talk = min(talk, duration)
    call = facts_from(_ended(duration_s=duration, talk_duration_s=talk))
    assert call.status == "ended"
    assert call.ended_at == T0
    assert call.started_at == T0 - timedelta(seconds=duration)
    assert (call.duration, call.talk_duration) == (duration, talk)
    assert call.caller == "+79001234567"
    assert call.called == "+74951234567"


def test_final_event_alone_prefers_its_own_times() -> None:
    started, ended = T0 - timedelta(seconds=95), T0 - timedelta(seconds=2)
    call = facts_from(_ended(duration_s=90, started_at=started, ended_at=ended))
    assert call.started_at == started  # the PBX's start, not ended_at - duration
    assert call.ended_at == ended  # when the call ended, not when the event was sent


def test_final_event_alone_without_figures_starts_when_it_ends() -> None:
    call = facts_from(_ended())
    assert call.status == "ended"
    assert call.started_at == call.ended_at == T0
    assert final_outcome(call) == "missed"


def test_ended_at_without_duration_is_the_start_too() -> None:
    ended = T0 - timedelta(seconds=5)
    call = facts_from(_ended(ended_at=ended))
    assert call.started_at == call.ended_at == ended


# ---- final_outcome ---------------------------------------------------------------------------


def _event(kind: str, seconds: int, **fields: object) -> CallEvent:
    return CallEvent(
        provider_call_id="c-1",
        kind=kind,  # type: ignore[arg-type]
        occurred_at=T0 + timedelta(seconds=seconds),
        caller="+79001234567",
        called="+74951234567",
        dedup_key=f"c-1:{kind}",
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([_event("started", 0)], None, id="still-ringing"),
        pytest.param([_event("started", 0), _event("answered", 5)], None, id="still-talking"),
        pytest.param([_event("started", 0), _event("ended", 30)], "missed", id="never-answered"),
        pytest.param(
            [_event("started", 0), _event("ended", 30, duration_s=30, talk_duration_s=0)],
            "missed",
            id="never-answered-zero-talk",
        ),
        pytest.param(
            [_event("started", 0), _event("answered", 5), _event("ended", 65)],
            "answered",
            id="answer-event",
        ),
        pytest.param(
            [_event("ended", 65, duration_s=65, talk_duration_s=60)],
            "answered",
            id="talk-time-alone",
        ),
        pytest.param(
            [_event("started", 0), _event("ended", 10, outcome="busy")], "busy", id="pbx-busy"
        ),
        pytest.param(
            [_event("ended", 3, outcome="failed", duration_s=3)], "failed", id="pbx-failed"
        ),
        pytest.param(
            [_event("answered", 5), _event("ended", 65, outcome="missed")],
            "missed",
            id="pbx-outcome-wins-over-answer-event",
        ),
        pytest.param(
            [_event("ended", 65, outcome="missed", duration_s=65, talk_duration_s=60)],
            "missed",
            id="pbx-outcome-wins-over-talk-time",
        ),
        pytest.param(
            [_event("started", 0), _event("answered", 5, outcome="busy"), _event("ended", 65)],
            "answered",
            id="outcome-only-counts-on-the-final-event",
        ),
    ],
)
def test_final_outcome(events: list[CallEvent], expected: str | None) -> None:
    for order in (events, events[::-1]):
        assert final_outcome(fold_all(order)) == expected


def test_repeated_final_events_disagreeing_settle_the_same_way_in_any_order() -> None:
    """Two copies of the final event that disagree (a retry after the PBX updated its figures):
    whichever comes first, the result is the same."""
    first = _event("ended", 60, outcome="missed", duration_s=60, talk_duration_s=0)
    second = _event("ended", 62, outcome="answered", duration_s=62, talk_duration_s=40)
    a, b = fold_all([first, second]), fold_all([second, first])
    assert a == b
    assert final_outcome(a) == "answered"
    assert (a.duration, a.talk_duration) == (62, 40)
