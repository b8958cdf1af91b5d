"""Which calls a conversion destination receives, decided when the call ends (and again when
one of its deals is won): the destination's own rule, and the click or visit id its platform
ties a conversion to. A call that does not qualify gets no delivery row at all, so the
destination's deliveries list only what was meant to go out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from app.models import Call

DESTINATION_KINDS = frozenset({"ga4", "yandex_metrika", "google_ads"})
CRM_KINDS = frozenset({"amocrm", "bitrix24", "webhook"})

# The ids each platform attributes a conversion by; a call needs one of them (the visit's
# analytics client ids are read from its session, so a session is what the call must have).
_NEEDS: dict[str, tuple[str, ...]] = {
    "ga4": ("session_id",),
    "yandex_metrika": ("yclid", "session_id"),
    "google_ads": ("gclid",),
}


@dataclass(frozen=True, slots=True)
class Rule:
    # The defaults a marketer expects: answered, real conversations, no robocalls.
    min_talk_s: int = 0
    first_time_only: bool = False
    answered_only: bool = True
    exclude_spam: bool = True
    # Send a won deal's revenue as the value (again when a deal is won after the call went out).
    send_value: bool = True

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Rule:
        stored = config.get("rule") or {}
        return cls(**{k: v for k, v in stored.items() if k in cls.__dataclass_fields__})

    def as_config(self) -> dict[str, Any]:
        return asdict(self)


def call_facts(call: Call) -> dict[str, Any]:
    """The columns the rule reads, from an ORM call (the PBX path hands its row dict)."""
    return {name: getattr(call, name) for name in _FACTS}


_FACTS = (
    "outcome",
    "talk_duration",
    "duration",
    "first_time_caller",
    "possible_spam",
    "gclid",
    "yclid",
    "session_id",
)


def talk_seconds(facts: Mapping[str, Any]) -> int:
    talk = facts.get("talk_duration")
    if talk is None:
        talk = facts.get("duration") or 0
    return int(talk)


def qualifies(kind: str, config: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    rule = Rule.of(config)
    if rule.answered_only and facts.get("outcome") != "answered":
        return False
    if talk_seconds(facts) < rule.min_talk_s:
        return False
    if rule.first_time_only and not facts.get("first_time_caller"):
        return False
    if rule.exclude_spam and facts.get("possible_spam"):
        return False
    return any(facts.get(name) for name in _NEEDS.get(kind, ()))
