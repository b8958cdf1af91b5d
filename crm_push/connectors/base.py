"""What a connector is given and gives back; plain data, so the mapping is easy to test."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from app.models import Call, CrmConnector, FormLead, Site
from crm_push.conversion_rule import Rule
from crm_push.ratelimit import Rate
from crm_push.transport import CrmHttp

DealStatus = Literal["open", "won", "lost"]
# A call's tags or lead status changed on its page: the CRM's record of the call is updated.
UPDATE_EVENT = "call.updated"
# The deliveries that make the CRM's record of a call, which a `call.updated` one updates.
RECORD_EVENTS = ("call.started", "call.attributed")
# Bitrix24's ORIGINATOR_ID: who wrote the record; ORIGIN_ID (our idempotency key) is unique
# within it.
ORIGINATOR = "callsource"


@dataclass(frozen=True, slots=True)
class ConnectorData:
    id: uuid.UUID
    site_id: uuid.UUID
    kind: str
    config: dict[str, Any]
    credentials: dict[str, Any]
    created_at: datetime
    retired: bool

    @classmethod
    def of(cls, row: CrmConnector) -> ConnectorData:
        return cls(
            id=row.id,
            site_id=row.site_id,
            kind=row.kind,
            config=dict(row.config),
            credentials=dict(row.credentials),
            created_at=row.created_at,
            retired=row.retired_at is not None,
        )


class FormLeadFacts(Protocol):
    """What an alert reads of a form lead (the form-leads model has these columns)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def url(self) -> str: ...
    @property
    def form_id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def fields(self) -> dict[str, Any]: ...
    @property
    def source(self) -> str | None: ...
    @property
    def medium(self) -> str | None: ...
    @property
    def campaign(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class WonValue:
    """What the call's won deals are worth, in one currency, and when the last was won."""

    revenue: Decimal
    currency: str
    won_at: datetime


@dataclass(frozen=True, slots=True)
class Conversion:
    """What a conversion destination needs besides the call: the visit's analytics ids, the
    site's time zone and currency, the call's won deals."""

    timezone: str
    currency: str
    ga_client_id: str | None = None
    ym_client_id: str | None = None
    won: WonValue | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery to make: the call (or form lead) as it is now, the connector, the key the
    CRM keeps. At most one of `call` and `lead` is set; connectors that take form leads list
    `form` among their events and read `lead` for it, the others only ever see calls. A daily
    digest (alert channels only) names neither: `digest_day` / `payload` say what it sums up."""

    delivery_id: uuid.UUID
    idempotency_key: str
    event: str
    connector: ConnectorData
    call: Call | None
    lead: FormLead | None = None
    # Loaded for conversion destinations only.
    conversion: Conversion | None = None
    # Loaded for `call.updated` only: what the CRM holds of the call (the earlier, sent
    # delivery's answer), None while it holds nothing yet; and the call's tags as they are.
    record: Created | None = None
    tags: tuple[str, ...] = ()
    # When the change this delivery carries was made (the row is re-armed on each change).
    queued_at: datetime | None = None
    site: Site | None = None
    digest_day: date | None = None
    payload: dict[str, Any] | None = None

    @property
    def the_call(self) -> Call:
        if self.call is None:
            raise TypeError(f"delivery {self.delivery_id} is not for a call")
        return self.call

    @property
    def the_lead(self) -> FormLead:
        if self.lead is None:
            raise TypeError(f"delivery {self.delivery_id} is not for a form lead")
        return self.lead

    @property
    def phone(self) -> str | None:
        if self.call is not None:
            return self.call.caller
        return self.lead.phone if self.lead is not None else None

    @property
    def at(self) -> datetime:
        """When the call started or the form was sent: a person's records go in this order
        (a digest, being nobody's, first)."""
        if self.call is not None:
            return self.call.started_at
        if self.lead is not None:
            return self.lead.created_at
        return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Created:
    """What the CRM made of a delivery. `external_id` names the record ("lead:123")."""

    external_id: str | None
    refs: dict[str, Any] = field(default_factory=dict)
    # Found by the idempotency look-up: an earlier attempt had created it.
    found: bool = False


@dataclass(frozen=True, slots=True)
class CrmDeal:
    """A deal as the CRM reports it. `lead_ref` is the external_id of the delivery it grew out
    of, which ties it to our call."""

    deal_id: str
    lead_ref: str | None
    status: DealStatus
    revenue: Decimal
    currency: str
    updated_at: datetime | None = None


class Connector(Protocol):
    kind: str
    # The CRM's documented request rate per account; None: no limit of ours.
    rate: Rate | None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        """The call events this connector receives deliveries for."""
        ...

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        """The record an earlier attempt created under the job's idempotency key, if any."""
        ...

    async def push(self, crm: CrmHttp, job: Job) -> Created: ...


class DealSource(Protocol):
    """A CRM that reports deal outcomes back."""

    def hook_deal_ids(self, form: Sequence[tuple[str, str]], connector: ConnectorData) -> list[str]:
        """The deal ids a webhook says changed; raises Unauthorized when it is not genuine."""
        ...

    async def fetch_deal(
        self, crm: CrmHttp, connector: ConnectorData, deal_id: str
    ) -> CrmDeal | None: ...

    async def changed_deals(
        self, crm: CrmHttp, connector: ConnectorData, *, since: datetime
    ) -> list[CrmDeal]: ...


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def from_unix(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
    except ArithmeticError:
        return Decimal(0)
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else Decimal(0)


def update_note(job: Job) -> str:
    """The text CRMs show for a `call.updated` delivery: the lead status and tags as they are."""
    call = job.the_call
    status = (call.lead_status or "new").replace("_", " ")
    tags = ", ".join(job.tags) if job.tags else "(none)"
    return f"Callsource: lead status {status}; tags: {tags}"


def call_title(call: Call) -> str:
    return f"Call from {call.caller}" if call.caller else "Call from a withheld number"


def lead_title(lead: FormLead) -> str:
    who = lead.name or lead.phone or lead.email or "a visitor"
    return f"Form from {who}"


def lead_details(lead: FormLead) -> list[tuple[str, str]]:
    """The form's fields as label/value pairs, for a CRM record's note."""
    pairs = [("Page", lead.url)]
    if lead.form_id:
        pairs.append(("Form", lead.form_id))
    pairs += [(str(k), str(v)) for k, v in lead.fields.items()]
    return pairs


def source_line(call: Call | FormLead) -> str:
    """ "yandex / cpc / spring-sale" for people reading the CRM record."""
    parts = [p for p in (call.source, call.medium, call.campaign) if p]
    return " / ".join(parts) if parts else "(none)"


# --- conversion destinations ---------------------------------------------------------------


def conversion_of(job: Job) -> Conversion:
    """The destination's context, loaded with the claim (a bug of ours when it is missing)."""
    if job.conversion is None:
        raise RuntimeError(f"delivery {job.delivery_id} has no conversion context")
    return job.conversion


def sent_value(job: Job) -> WonValue | None:
    """The won revenue to send with this delivery, when the destination's rule sends values."""
    if not Rule.of(job.connector.config).send_value:
        return None
    won = conversion_of(job).won
    return won if won is not None and won.revenue > 0 else None


def destination_events(config: dict[str, Any]) -> frozenset[str]:
    """A destination gets each qualifying call when it ends, and its deal when one is won."""
    if Rule.of(config).send_value:
        return frozenset({"call.attributed", "deal.won"})
    return frozenset({"call.attributed"})


def api_base(config: dict[str, Any], default: str) -> str:
    return str(config.get("api_base") or default).rstrip("/")


def multipart_file(name: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """One file as multipart/form-data: (body, Content-Type header)."""
    boundary = "callsource" + uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
