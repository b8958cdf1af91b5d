"""What the alert channels say: a missed call, a call, a form lead, the daily digest, a test.

Each message is written once as lines of (label, value, link) and rendered three ways: plain
text and HTML for e-mail, and Telegram's HTML subset (only <b>, <a> and entities; every other
`<`, `>` and `&` escaped). Telegram gets the caller's number as plain E.164, which its apps
turn into a call link themselves; its HTML parser takes only web and tg: links, and an
unparsable entity is a 400 that would kill the delivery.

The words go through `_`, the gettext-style marker the translation sweep collects; until the
i18n module lands it returns the English text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.models import Call, Site
from crm_push.connectors.base import FormLeadFacts, Job

# Telegram's limit on one message, after entities are parsed.
TELEGRAM_MAX_CHARS = 4096
TOP_SOURCES = 5


def _(text: str) -> str:
    """The translation marker (identity until the site's language is known here)."""
    return text


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    value: str
    link: str | None = None  # tel:, mailto: or https: (e-mail); https only in Telegram


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    headline: str
    lines: list[Line] = field(default_factory=list)
    # The dashboard page the message is about, if any.
    url: str | None = None

    def text(self) -> str:
        out = [self.headline, ""]
        for line in self.lines:
            value = line.value
            if line.link and line.link != line.value and not line.link.startswith("mailto:"):
                value = f"{value} ({line.link})"
            out.append(f"{line.label}: {value}" if line.label else value)
        if self.url:
            out += ["", self.url]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        rows = []
        for line in self.lines:
            value = html.escape(line.value)
            if line.link:
                value = f'<a href="{html.escape(line.link)}">{value}</a>'
            label = f"<th align=left>{html.escape(line.label)}</th>" if line.label else "<th></th>"
            rows.append(f"<tr>{label}<td>{value}</td></tr>")
        link = ""
        if self.url:
            words = html.escape(_("Open in Callsource"))
            link = f'<p><a href="{html.escape(self.url)}">{words}</a></p>'
        return (
            f"<p><strong>{html.escape(self.headline)}</strong></p>"
            f"<table>{''.join(rows)}</table>{link}"
        )

    def telegram(self) -> str:
        out = [f"<b>{_tg(self.headline)}</b>"]
        for line in self.lines:
            value = _tg(line.value)
            if line.link and line.link.startswith("https://"):
                value = f'<a href="{html.escape(line.link)}">{value}</a>'
            out.append(f"{_tg(line.label)}: {value}" if line.label else value)
        if self.url and self.url.startswith("https://"):
            out.append(f'<a href="{html.escape(self.url)}">{_tg(_("Open in Callsource"))}</a>')
        text = "\n".join(out)
        return text if len(text) <= TELEGRAM_MAX_CHARS else text[: TELEGRAM_MAX_CHARS - 1] + "…"


def _tg(text: str) -> str:
    return html.escape(text, quote=False)


def _local(moment: datetime, site: Site | None) -> str:
    zone = ZoneInfo(site.timezone) if site is not None else None
    shown = moment.astimezone(zone) if zone is not None else moment
    return shown.strftime("%Y-%m-%d %H:%M") + (f" ({site.timezone})" if site else " UTC")


def _source(source: str | None, medium: str | None, campaign: str | None) -> str:
    parts = [p for p in (source, medium, campaign) if p]
    return " / ".join(parts) if parts else _("(direct or unknown)")


def _site_name(site: Site | None) -> str:
    return site.name if site is not None else "Callsource"


def _duration(seconds: int | None) -> str:
    if not seconds:
        return "0 s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _call_url(public_url: str, call: Call) -> str | None:
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/sites/{call.site_id}/calls/{call.id}"


def call_message(call: Call, *, site: Site | None, public_url: str) -> Message:
    """A missed call (with the number to call back) or any other call, as it ended."""
    missed = call.outcome != "answered"
    caller = call.caller or _("a withheld number")
    site_name = _site_name(site)
    if missed:
        headline = _("Missed call from %(caller)s") % {"caller": caller}
    else:
        headline = _("Call from %(caller)s") % {"caller": caller}
    lines: list[Line] = []
    if missed and call.caller and call.caller.startswith("+"):
        lines.append(Line(_("Call back"), call.caller, f"tel:{call.caller}"))
    elif call.caller:
        lines.append(Line(_("Caller"), call.caller, f"tel:{call.caller}"))
    outcome = {
        "answered": _("answered"),
        "missed": _("missed"),
        "busy": _("busy"),
        "failed": _("failed"),
    }.get(call.outcome or "", call.outcome or _("unknown"))
    lines.append(Line(_("Outcome"), outcome))
    if not missed:
        lines.append(Line(_("Talked"), _duration(call.talk_duration or call.duration)))
    lines.append(Line(_("When"), _local(call.started_at, site)))
    if call.called:
        lines.append(Line(_("Number called"), call.called))
    lines.append(Line(_("Source"), _source(call.source, call.medium, call.campaign)))
    if call.first_time_caller:
        lines.append(Line("", _("First-time caller")))
    subject = f"{headline} · {site_name}"
    return Message(subject=subject, headline=headline, lines=lines, url=_call_url(public_url, call))


def lead_message(lead: FormLeadFacts, *, site: Site | None) -> Message:
    who = lead.name or lead.phone or lead.email or _("a visitor")
    headline = _("New form lead from %(who)s") % {"who": who}
    lines: list[Line] = []
    if lead.name:
        lines.append(Line(_("Name"), lead.name))
    if lead.phone:
        lines.append(Line(_("Phone"), lead.phone, f"tel:{lead.phone}"))
    if lead.email:
        lines.append(Line(_("E-mail"), lead.email, f"mailto:{lead.email}"))
    for key, value in lead.fields.items():
        if key not in ("name", "phone", "email") and value not in (None, ""):
            lines.append(Line(str(key), str(value)))
    lines.append(Line(_("Page"), lead.url))
    lines.append(Line(_("When"), _local(lead.created_at, site)))
    lines.append(Line(_("Source"), _source(lead.source, lead.medium, lead.campaign)))
    return Message(subject=f"{headline} · {_site_name(site)}", headline=headline, lines=lines)


def _money(amount: Any, currency: str) -> str:
    return f"{float(amount):,.2f} {currency}".replace(",", " ")


def _count(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.1f}"


def digest_message(payload: dict[str, Any], *, site: Site | None) -> Message:
    """Yesterday in figures: `payload` as `crm_push.alerts.digest_payload` wrote it."""
    day = date.fromisoformat(str(payload["day"]))
    headline = _("%(site)s on %(day)s") % {"site": _site_name(site), "day": day.isoformat()}
    currency = str(payload.get("currency") or "")
    lines = [
        Line(_("Calls"), _count(payload["calls"])),
        Line(_("Missed"), _count(payload["missed"])),
        Line(_("Leads"), _count(payload["leads"])),
    ]
    if payload.get("form_leads") is not None:
        lines.append(Line(_("Form leads"), _count(payload["form_leads"])))
    cost = payload.get("cost")
    lines.append(Line(_("Ad cost"), _money(cost, currency) if cost is not None else _("not known")))
    cost_per_lead = payload.get("cost_per_lead")
    lines.append(
        Line(
            _("Cost per lead"),
            _money(cost_per_lead, currency) if cost_per_lead is not None else "—",
        )
    )
    top = payload.get("top_sources") or []
    if top:
        lines.append(Line("", _("Top sources:")))
        for row in top:
            lines.append(
                Line(
                    str(row["source"]),
                    _("%(calls)s calls, %(leads)s leads")
                    % {"calls": _count(row["calls"]), "leads": _count(row["leads"])},
                )
            )
    else:
        lines.append(Line("", _("No calls yesterday.")))
    subject = _("Daily digest: %(site)s, %(day)s") % {
        "site": _site_name(site),
        "day": day.isoformat(),
    }
    return Message(subject=subject, headline=headline, lines=lines)


def test_message(*, site: Site | None, channel: str) -> Message:
    headline = _("Callsource test message")
    line = _("Alerts of %(site)s reach this %(channel)s.") % {
        "site": _site_name(site),
        "channel": _("chat") if channel == "telegram" else _("mailbox"),
    }
    return Message(
        subject=f"{headline} · {_site_name(site)}", headline=headline, lines=[Line("", line)]
    )


# --- what a rule's events mean in the outbox -------------------------------------------------

ALERT_EVENTS = ("missed_call", "call", "form_lead", "daily_digest")
DIGEST_EVENT = "digest.daily"
# The form leads' outbox event (crm_push.outbox, with the form leads).
FORM_EVENT = "form"
TEST_EVENT = "alert.test"


def outbox_events(events: list[str]) -> frozenset[str]:
    """The outbox events a rule's alert events ask for. "call" covers the missed ones too
    (its message says missed, with the call-back number): one message per call, never two."""
    wanted = set(events)
    out: set[str] = set()
    if "call" in wanted:
        out.add("call.attributed")
    elif "missed_call" in wanted:
        out.add("call.missed")
    if "form_lead" in wanted:
        out.add(FORM_EVENT)
    if "daily_digest" in wanted:
        out.add(DIGEST_EVENT)
    return frozenset(out)


def message_for(job: Job, *, public_url: str) -> Message:
    if job.event == TEST_EVENT:
        return test_message(site=job.site, channel=job.connector.kind)
    if job.event == DIGEST_EVENT:
        if job.payload is None:
            raise ValueError(f"digest delivery {job.delivery_id} has no figures")
        return digest_message(job.payload, site=job.site)
    if job.event == FORM_EVENT:
        if job.lead is None:
            raise ValueError(f"form delivery {job.delivery_id} has no lead")
        return lead_message(job.lead, site=job.site)
    return call_message(job.the_call, site=job.site, public_url=public_url)
