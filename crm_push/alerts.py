"""Notification rules: who is told about a site's missed calls, calls, form leads and day.

A rule is a connector of kind `email` or `telegram` (config: the events, the addresses or chat;
credentials: the bot token, sealed), so its messages go through the one outbox with its
retries and dead letters. The daily digest is the worker's scheduled step: once the site's
day has turned (at `digest_hour` local time), yesterday's figures are written into one
delivery per rule; its derived key makes a second pass, or a second worker, add nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import Conflict, InvalidField
from app.kit.clock import Clock
from app.kit.outbound import OutboundPolicy
from app.models import CrmConnector, Site
from app.reports import service as reports_service
from app.reports.attribution_models import GroupBy
from crm_push import outbox, repository
from crm_push.alerts_schemas import NotificationCreate, NotificationOut, TestResult
from crm_push.connectors import get_connector
from crm_push.connectors.base import ConnectorData, Job
from crm_push.connectors.messages import DIGEST_EVENT, TEST_EVENT, TOP_SOURCES
from crm_push.service import check_address
from crm_push.transport import CrmFailure, CrmHttp, Mailer, RateDeferred, SleepUntil, secrets_of

MAIL_OFF = (
    "e-mail is off on this server: set CALLSOURCE_SMTP_URL and CALLSOURCE_MAIL_FROM, or choose "
    "telegram"
)


def _checked(data: NotificationCreate, *, mail_on: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule's config and credentials; a 422 naming the field that is missing or misplaced."""
    config: dict[str, Any] = {"events": list(data.events)}
    if data.channel == "email":
        for field in ("chat_id", "bot_token", "api_base"):
            if getattr(data, field) is not None:
                raise InvalidField(field, "only telegram rules take it")
        if not data.to:
            raise InvalidField("to", "an e-mail rule needs the address(es) to send to")
        if not mail_on:
            raise InvalidField("channel", MAIL_OFF)
        config["to"] = list(data.to)
        return config, {}
    if data.to is not None:
        raise InvalidField("to", "only e-mail rules take addresses")
    if data.chat_id is None:
        raise InvalidField("chat_id", "a telegram rule needs the chat to write to")
    if data.bot_token is None:
        raise InvalidField("bot_token", "a telegram rule needs the bot's token from @BotFather")
    config["chat_id"] = data.chat_id
    if data.api_base:
        config["api_base"] = data.api_base
    return config, {"bot_token": data.bot_token.get_secret_value()}


async def create_rule(
    db: AsyncSession,
    site: Site,
    data: NotificationCreate,
    *,
    now: datetime,
    outbound: OutboundPolicy,
    mail_on: bool,
) -> CrmConnector:
    config, credentials = _checked(data, mail_on=mail_on)
    if data.api_base:
        await check_address(outbound, "api_base", data.api_base)
    return await repository.ALERT_RULES.create(
        db,
        site_id=site.id,
        now=now,
        kind=data.channel,
        name=data.name,
        config=config,
        credentials=credentials,
    )


async def get_rule(db: AsyncSession, *, site_id: uuid.UUID, rule_id: uuid.UUID) -> CrmConnector:
    return await repository.ALERT_RULES.get_on_site_or_404(db, site_id=site_id, row_id=rule_id)


async def list_rules(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[CrmConnector]:
    return await repository.ALERT_RULES.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


async def retire_rule(
    db: AsyncSession, *, site_id: uuid.UUID, rule_id: uuid.UUID, now: datetime
) -> CrmConnector:
    return await repository.ALERT_RULES.retire_on_site(db, site_id=site_id, row_id=rule_id, now=now)


async def described(db: AsyncSession, rules: list[CrmConnector]) -> list[NotificationOut]:
    """The rules as the API shows them, with each channel's health."""
    counts = await repository.delivery_counts(db, (r.id for r in rules))
    out = []
    for rule in rules:
        failure = await repository.last_error(db, connector_id=rule.id)
        out.append(
            NotificationOut(
                id=rule.id,
                site_id=rule.site_id,
                channel=rule.kind,  # type: ignore[arg-type]
                name=rule.name,
                events=list(rule.config.get("events") or ()),
                to=rule.config.get("to"),
                chat_id=rule.config.get("chat_id"),
                api_base=rule.config.get("api_base"),
                created_at=rule.created_at,
                retired_at=rule.retired_at,
                last_error=failure[0] if failure else None,
                last_error_at=failure[1] if failure else None,
                dead=counts.get((rule.id, "dead"), 0),
                pending=counts.get((rule.id, "pending"), 0),
            )
        )
    return out


# --- a test message, now -------------------------------------------------------------------


async def send_test(
    rule: CrmConnector,
    site: Site,
    *,
    http: httpx.AsyncClient,
    mailer: Mailer | None,
    public_url: str,
    clock: Clock,
    sleep_until: SleepUntil,
) -> TestResult:
    """One test message through the rule's channel, outside the outbox: the answer is shown
    at once (and a failed test queues nothing to retry)."""
    if rule.retired_at is not None:
        raise Conflict(f"notification rule {rule.id} is retired")
    data = ConnectorData.of(rule)
    job = Job(
        delivery_id=uuid.uuid4(),
        idempotency_key=f"test_{uuid.uuid4().hex}",
        event=TEST_EVENT,
        connector=data,
        call=None,
        site=site,
    )
    crm = CrmHttp(
        client=http,
        clock=clock,
        sleep_until=sleep_until,
        secrets=secrets_of(dict(rule.credentials)),
        mailer=mailer,
        public_url=public_url,
        timeout=httpx.Timeout(10.0, connect=5.0),
    )
    try:
        await get_connector(rule.kind).push(crm, job)
    except CrmFailure as failure:
        return TestResult(ok=False, detail=failure.message)
    except RateDeferred:
        return TestResult(ok=False, detail="rate limited: try again in a minute")
    return TestResult(ok=True, detail=crm.last.excerpt or "sent")


# --- the daily digest ----------------------------------------------------------------------


def digest_day(site: Site, *, now: datetime, hour: int) -> date | None:
    """The local day whose digest is due at `now`: yesterday, once today's `hour` has come."""
    local = now.astimezone(ZoneInfo(site.timezone))
    if local.time() < time(hour):
        return None
    return local.date() - timedelta(days=1)


async def digest_payload(db: AsyncSession, *, site: Site, day: date) -> dict[str, Any]:
    """The day's figures as the sources report counts them (its definitions of calls, leads
    and cost hold), by source, the busiest first."""
    zone = ZoneInfo(site.timezone)
    since = datetime.combine(day, time(), tzinfo=zone)
    until = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    report = await reports_service.sources_report(
        db, site=site, since=since, until=until, group_by=GroupBy.SOURCE
    )
    totals = report.totals
    cost = totals.cost
    rows = [r for r in report.rows if r.calls > 0 or r.leads > 0]
    rows.sort(key=lambda r: (-r.leads, -r.calls, r.source))
    # Form leads are counted apart once the report has them (they are among `leads` too).
    form_leads = getattr(totals, "form_leads", None)
    return {
        "day": day.isoformat(),
        "form_leads": form_leads,
        "calls": totals.calls,
        "answered": totals.answered,
        "missed": totals.missed,
        "leads": totals.leads,
        "cost": round(cost, 2) if cost is not None else None,
        "cost_per_lead": round(cost / totals.leads, 2)
        if cost is not None and totals.leads
        else None,
        "currency": site.currency,
        "top_sources": [
            {"source": r.source, "calls": r.calls, "leads": r.leads} for r in rows[:TOP_SOURCES]
        ],
    }


@dataclass(frozen=True, slots=True)
class DigestRun:
    queued: int
    checked: int


async def enqueue_digests(db: AsyncSession, *, now: datetime, hour: int) -> DigestRun:
    """Queue the due digests of every rule that asks for one; each day's figures are read
    once per site, and only when some rule of the site still lacks its digest."""
    by_site: dict[uuid.UUID, list[CrmConnector]] = defaultdict(list)
    for rule in await repository.live_alert_rules(db):
        if "daily_digest" in (rule.config.get("events") or ()):
            by_site[rule.site_id].append(rule)
    if not by_site:
        return DigestRun(0, 0)
    sites = await repository.sites_by_id(db, by_site)
    queued = 0
    for site_id, rules in by_site.items():
        site = sites.get(site_id)
        if site is None or site.retired_at is not None:
            continue
        day = digest_day(site, now=now, hour=hour)
        if day is None:
            continue
        zone = ZoneInfo(site.timezone)
        missing = [
            rule
            for rule in rules
            # The first digest is of the day the rule was made: none of days before it.
            if rule.created_at.astimezone(zone).date() <= day
            and not await repository.digest_queued(
                db, connector_id=rule.id, key=outbox.digest_key(connector_id=rule.id, day=day)
            )
        ]
        if not missing:
            continue
        payload = await digest_payload(db, site=site, day=day)
        for rule in missing:
            queued += await outbox.enqueue_digest(
                db, connector_id=rule.id, event=DIGEST_EVENT, day=day, payload=payload, now=now
            )
    await db.flush()
    return DigestRun(queued, len(by_site))
