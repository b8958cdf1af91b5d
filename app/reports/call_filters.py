"""The filters of a list of calls, as the dashboard's call list, its CSV and the API's calls
export share them: one definition, applied in SQL, so a page of 50 and a download of 50,000
hold the same calls.

Part of the repository layer (it builds SQL conditions); here rather than in app.calls because
the exports (a domain beside calls) filter the same way and may not import app.calls.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from app.models import Call, CallTag

METHODS = ("dynamic", "source", "offline", "none")
OUTCOMES = ("answered", "missed")


@dataclass(frozen=True, slots=True)
class CallFilters:
    source: str = ""
    method: str = ""  # dynamic | source | offline | none
    outcome: str = ""  # answered | missed
    first_time: bool = False
    hide_spam: bool = False
    caller: str = ""  # digits found anywhere in the caller's number
    min_duration: int | None = None
    tag: str = ""  # one of the call's tags (lower case, as stored)
    lead_status: str = ""  # new | in_progress | qualified | spam

    @property
    def caller_digits(self) -> str:
        return "".join(c for c in self.caller if c.isdigit())

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.source:
            found.append(Call.source == self.source)
        if self.method:
            found.append(Call.attribution_method == self.method)
        if self.outcome == "missed":
            # The reports' rule: ended without being answered.
            found.append(
                and_(
                    Call.status == "ended",
                    or_(Call.outcome.is_(None), Call.outcome != "answered"),
                )
            )
        elif self.outcome == "answered":
            found.append(Call.outcome == "answered")
        if self.first_time:
            found.append(Call.first_time_caller.is_(True))
        if self.hide_spam:
            found.append(Call.possible_spam.is_(False))
        if self.caller_digits:
            # Numbers are stored in E.164 ("+" and digits): the digits match as a substring.
            found.append(Call.caller.contains(self.caller_digits, autoescape=True))
        if self.min_duration:
            found.append(Call.duration >= self.min_duration)
        if self.tag:
            tagged = select(CallTag.call_id).where(CallTag.tag == self.tag.strip().lower())
            found.append(Call.id.in_(tagged))
        if self.lead_status == "new":
            # "new" is stored as no status: every call starts there without a write.
            found.append(or_(Call.lead_status.is_(None), Call.lead_status == "new"))
        elif self.lead_status:
            found.append(Call.lead_status == self.lead_status)
        return found

    def params(self) -> list[tuple[str, str]]:
        """The filters that are set, as query parameters (for links that keep them)."""
        out: list[tuple[str, str]] = []
        for item in fields(self):
            value: Any = getattr(self, item.name)
            if value is None or value is False or value == "":
                continue
            out.append((item.name, "true" if value is True else str(value)))
        return out
