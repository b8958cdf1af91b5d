"""Ad accounts: credentials kept write-only, spend imported by day and stored idempotently.

An import of the days [first, last] replaces every row the account stored for those days,
so importing a day again (the platforms revise recent spend for a few days) never doubles
it. Campaign names become the utm_campaign that visits carry through the account's
mappings; a campaign without one keeps its name.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.costs import repository as costs_repository
from app.costs.accounts import repository
from app.costs.accounts.platforms import get_platform
from app.costs.accounts.platforms.base import (
    AccountData,
    Fetched,
    ImportFailed,
    PlatformBusy,
    PlatformHttp,
)
from app.costs.accounts.schemas import (
    AdAccountCreate,
    AdAccountUpdate,
    GoogleAdsCreate,
    ImportedDay,
    ImportResult,
    MappingIn,
    VkAdsCreate,
    YandexDirectCreate,
)
from app.costs.parsing import ImportedRow
from app.exceptions import Conflict, InvalidField
from app.i18n import gettext
from app.kit.outbound import OutboundPolicy, OutboundRefused, outbound_client
from app.models import AdAccount, AdCampaignMapping, Site

# The worker imports each account's last week once a day: the platforms revise recent spend
# (invalid clicks refunded, late conversions of the day) for a few days.
IMPORT_DAYS = 7
IMPORT_INTERVAL = timedelta(hours=24)
MAX_DAYS = 92
_ERROR_LENGTH = 1000


def _split(data: AdAccountCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    """What may be shown (config) and what is sealed and never shown (credentials)."""
    config: dict[str, Any] = {}
    if data.api_base:
        config["api_base"] = data.api_base
    match data:
        case YandexDirectCreate():
            if data.client_login:
                config["client_login"] = data.client_login
            return config, {"token": data.token.get_secret_value()}
        case GoogleAdsCreate():
            config["customer_id"] = data.customer_id
            if data.login_customer_id:
                config["login_customer_id"] = data.login_customer_id
            return config, {
                "developer_token": data.developer_token.get_secret_value(),
                "client_id": data.client_id,
                "client_secret": data.client_secret.get_secret_value(),
                "refresh_token": data.refresh_token.get_secret_value(),
            }
        case VkAdsCreate():
            config["account_id"] = data.account_id
            if data.agency_client:
                config["agency_client"] = data.agency_client
            if data.token is not None:
                return config, {"token": data.token.get_secret_value()}
            assert data.client_id is not None
            assert data.client_secret is not None
            return config, {
                "client_id": data.client_id,
                "client_secret": data.client_secret.get_secret_value(),
            }


async def check_api_base(outbound: OutboundPolicy, url: str) -> None:
    try:
        await outbound.check_url(url)
    except OutboundRefused as refused:
        raise InvalidField("api_base", refused.reason) from None


async def create_account(
    db: AsyncSession, site: Site, data: AdAccountCreate, *, now: datetime, outbound: OutboundPolicy
) -> AdAccount:
    if data.api_base:
        await check_api_base(outbound, data.api_base)
    config, credentials = _split(data)
    config["currency"] = data.currency or site.currency
    return await repository.ACCOUNTS.create(
        db,
        site_id=site.id,
        now=now,
        kind=data.kind,
        name=data.name,
        config=config,
        credentials=credentials,
        # Due at once: the worker's next round imports the last week.
        next_import_at=now,
    )


async def get_account(db: AsyncSession, *, site_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount:
    return await repository.ACCOUNTS.get_on_site_or_404(db, site_id=site_id, row_id=account_id)


async def list_accounts(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[AdAccount]:
    return await repository.ACCOUNTS.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


_CREDENTIALS = {
    "yandex_direct": frozenset({"token"}),
    "google_ads": frozenset({"developer_token", "client_id", "client_secret", "refresh_token"}),
    "vk_ads": frozenset({"token", "client_id", "client_secret"}),
}


async def update_account(
    db: AsyncSession, *, site_id: uuid.UUID, account_id: uuid.UUID, data: AdAccountUpdate
) -> AdAccount:
    """New credentials (sealed like the first), name or currency; the next import uses them."""
    account = await get_account(db, site_id=site_id, account_id=account_id)
    given: dict[str, str] = {}
    for field in ("token", "developer_token", "client_secret", "refresh_token"):
        secret = getattr(data, field)
        if secret is not None:
            given[field] = secret.get_secret_value()
    if data.client_id is not None:
        given["client_id"] = data.client_id
    for field in given:
        if field not in _CREDENTIALS[account.kind]:
            raise InvalidField(field, f"a {account.kind} account has no {field}")
    if given:
        credentials = {**account.credentials, **given}
        if account.kind == "vk_ads":
            # A token replaces client credentials and the reverse; a cached token goes.
            credentials.pop("access_token", None)
            credentials.pop("access_token_until", None)
            if "token" in given:
                credentials.pop("client_id", None)
                credentials.pop("client_secret", None)
            elif "client_id" in given or "client_secret" in given:
                credentials.pop("token", None)
        account.credentials = credentials
    if data.currency:
        account.config = {**account.config, "currency": data.currency}
    return await repository.ACCOUNTS.update(db, account, data, fields=("name",))


async def retire_account(
    db: AsyncSession, *, site_id: uuid.UUID, account_id: uuid.UUID, now: datetime
) -> AdAccount:
    """Retired accounts are imported no more; the spend they imported stays in the reports."""
    return await repository.ACCOUNTS.retire_on_site(db, site_id=site_id, row_id=account_id, now=now)


# --- importing -----------------------------------------------------------------------------

# What names the platform's account, whichever credentials reach it.
_IDENTITY = {"yandex_direct": "client_login", "google_ads": "customer_id", "vk_ads": "account_id"}


def identity(account: AdAccount) -> tuple[str, str]:
    return account.kind, str(account.config.get(_IDENTITY.get(account.kind, ""), "") or "")


async def earlier_connections(db: AsyncSession, account: AdAccount) -> list[uuid.UUID]:
    """Retired accounts of the site that were the same platform account (reconnected with a
    new token, say): their spend of the days imported now is replaced, not added to."""
    retired = await repository.ACCOUNTS.list_on_site(
        db, site_id=account.site_id, include_retired=True
    )
    mine = identity(account)
    return [
        other.id
        for other in retired
        if other.id != account.id and other.retired_at is not None and identity(other) == mine
    ]


def account_data(account: AdAccount) -> AccountData:
    return AccountData(
        id=account.id,
        kind=account.kind,
        config=dict(account.config),
        credentials=dict(account.credentials),
    )


def recent_days(site: Site, *, now: datetime, days: int = IMPORT_DAYS) -> tuple[date, date]:
    """The site's last `days` local days, today included."""
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    return today - timedelta(days=days - 1), today


def requested_days(
    site: Site, raw_from: str | None, raw_to: str | None, *, now: datetime
) -> tuple[date, date]:
    """The days an import asks for (`?from=&to=`, ISO dates, both included); the last week
    by default."""
    default_first, today = recent_days(site, now=now)

    def parse(raw: str | None, field: str, default: date) -> date:
        if raw is None or raw == "":
            return default
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise InvalidField(
                field, gettext("%(raw)s is not a date such as 2026-11-01", raw=repr(raw))
            ) from None

    last = parse(raw_to, "to", today)
    first = parse(
        raw_from, "from", last - timedelta(days=IMPORT_DAYS - 1) if raw_to else default_first
    )
    if first > last:
        raise InvalidField("to", gettext("must not be before from"))
    if last > today + timedelta(days=1):
        raise InvalidField("to", gettext("is in the future"))
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidField("from", gettext("at most %(num)s days per import", num=MAX_DAYS))
    return first, last


async def fetch_spend(
    http: PlatformHttp, account: AccountData, *, first_day: date, last_day: date, now: datetime
) -> Fetched:
    """Ask the platform; ImportFailed (PlatformRefused, PlatformBusy) with a message for the
    account's status when it does not give the spend. No database here: the worker calls
    it outside any transaction."""
    platform = get_platform(account.kind)
    return await platform.fetch(http, account, first_day=first_day, last_day=last_day, now=now)


@dataclass(frozen=True, slots=True)
class _Key:
    day: date
    campaign: str
    platform_campaign: str
    term: str
    currency: str


async def store_import(
    db: AsyncSession,
    account: AdAccount,
    fetched: Fetched,
    *,
    first_day: date,
    last_day: date,
    now: datetime,
) -> ImportResult:
    """Replace the account's rows of those days with what the platform reported."""
    platform = get_platform(account.kind)
    mapped = {
        m.platform_campaign: m.utm_campaign
        for m in await repository.mappings(db, account_id=account.id)
    }
    default_currency = str(account.config.get("currency") or "")
    summed: dict[_Key, Decimal] = defaultdict(Decimal)
    for spend in fetched.spend:
        if not first_day <= spend.day <= last_day or spend.cost <= 0:
            continue
        name = spend.campaign[:500]
        key = _Key(
            day=spend.day,
            campaign=mapped.get(name, name),
            platform_campaign=name,
            term=spend.term[:500],
            currency=(spend.currency or default_currency).upper()[:3],
        )
        summed[key] += spend.cost
    rows = [
        ImportedRow(
            day=key.day,
            source=platform.SOURCE,
            medium=platform.MEDIUM,
            campaign=key.campaign,
            platform_campaign=key.platform_campaign,
            term=key.term,
            cost=cost,
            currency=key.currency,
        )
        for key, cost in sorted(
            summed.items(), key=lambda item: (item[0].day, item[0].campaign, item[0].term)
        )
    ]
    await costs_repository.replace_account_days(
        db,
        site_id=account.site_id,
        account_id=account.id,
        first_day=first_day,
        last_day=last_day,
        rows=rows,
        now=now,
        replaces=await earlier_connections(db, account),
    )
    if fetched.credentials is not None:
        account.credentials = fetched.credentials
    account.last_import_at = now
    account.last_import_status = "ok"
    account.last_import_error = None
    account.last_import_rows = len(rows)
    await db.flush()
    days: dict[date, list[ImportedRow]] = defaultdict(list)
    for row in rows:
        days[row.day].append(row)
    every_day = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    return ImportResult(
        account_id=account.id,
        first_day=first_day,
        last_day=last_day,
        rows=len(rows),
        days=[
            ImportedDay(
                date=day,
                rows=len(days[day]),
                cost=float(sum((r.cost for r in days[day]), Decimal(0))),
            )
            for day in every_day
        ],
    )


async def record_failure(
    db: AsyncSession, account: AdAccount, failure: ImportFailed, *, now: datetime
) -> None:
    """The account's status says what went wrong; its stored spend stays as it was."""
    account.last_import_at = now
    account.last_import_status = "busy" if isinstance(failure, PlatformBusy) else "failed"
    account.last_import_error = failure.detail[:_ERROR_LENGTH]
    await db.flush()


# How long an import asked for in a request (API or dashboard) waits at most for a report
# being built; the worker's daily import waits longer.
REQUEST_WAIT_S = 60.0


async def import_now(
    db: AsyncSession,
    account: AdAccount,
    *,
    first_day: date,
    last_day: date,
    now: datetime,
    outbound: OutboundPolicy,
) -> ImportResult:
    """Import the days now. On ImportFailed the account's status is recorded (flushed, not
    committed: a caller that answers with the error commits it first) and the error raised."""
    if account.retired_at is not None:
        raise Conflict(f"ad account {account.id} is retired: connect it again to import")
    async with outbound_client(outbound) as client:
        http = PlatformHttp(client=client, sleep=asyncio.sleep, max_wait_s=REQUEST_WAIT_S)
        try:
            fetched = await fetch_spend(
                http, account_data(account), first_day=first_day, last_day=last_day, now=now
            )
        except ImportFailed as failure:
            await record_failure(db, account, failure, now=now)
            raise
    return await store_import(db, account, fetched, first_day=first_day, last_day=last_day, now=now)


# --- campaign mappings ---------------------------------------------------------------------


async def list_mappings(db: AsyncSession, account: AdAccount) -> list[AdCampaignMapping]:
    return await repository.mappings(db, account_id=account.id)


async def set_mapping(
    db: AsyncSession, account: AdAccount, data: MappingIn, *, now: datetime
) -> AdCampaignMapping:
    """Book a platform campaign's spend under `utm_campaign`, the stored spend too."""
    row = await repository.find_mapping(
        db, account_id=account.id, platform_campaign=data.platform_campaign
    )
    if row is None:
        row = AdCampaignMapping(
            id=uuid.uuid4(),
            account_id=account.id,
            platform_campaign=data.platform_campaign,
            utm_campaign=data.utm_campaign,
            created_at=now,
        )
        db.add(row)
    else:
        row.utm_campaign = data.utm_campaign
    await costs_repository.rename_campaign(
        db,
        account_id=account.id,
        platform_campaign=data.platform_campaign,
        campaign=data.utm_campaign,
    )
    await db.flush()
    return row


async def delete_mapping(db: AsyncSession, account: AdAccount, *, mapping_id: uuid.UUID) -> None:
    """The campaign's spend goes back under its own name."""
    row = await repository.get_mapping_or_404(db, account_id=account.id, mapping_id=mapping_id)
    await costs_repository.rename_campaign(
        db,
        account_id=account.id,
        platform_campaign=row.platform_campaign,
        campaign=row.platform_campaign,
    )
    await db.delete(row)
    await db.flush()
