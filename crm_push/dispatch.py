"""One delivery's life in the worker: claimed with a lease, attempted (look the key up first
when an earlier attempt may have reached the CRM), then recorded as sent, retried or dead.

Services here never commit; the worker commits each step, so the claim is durable before any
request goes out and a crash leaves a lease that runs out, not a lost delivery.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, CrmConnector, OutboxDelivery
from crm_push import conversions, repository
from crm_push.connectors import get_connector
from crm_push.connectors.base import (
    RECORD_EVENTS,
    UPDATE_EVENT,
    ConnectorData,
    Created,
    Job,
)
from crm_push.redaction import excerpt
from crm_push.retry import RetryPolicy
from crm_push.transport import CrmFailure, CrmHttp, secrets_of

log = logging.getLogger(__name__)
INTERRUPTED = "the worker holding this delivery stopped before recording an outcome"
CALL_GONE = (
    "its call is no longer in the database (its month was detached with `callsource partitions"
    " detach`): nothing left to send"
)
WAITING = (
    "waiting for the call's record: the CRM does not have the call yet (its call.started or "
    "call.attributed delivery is not sent); this update goes once that one is"
)


@dataclass(frozen=True, slots=True)
class Claim:
    job: Job
    token: uuid.UUID
    attempts: int  # attempts made before this one
    maybe_created: bool
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    created: Created | None
    failure: CrmFailure | None
    # After this attempt, may the CRM hold a record we do not know of?
    maybe_created: bool
    status_code: int | None
    excerpt: str | None


async def claim_due(
    db: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> list[Claim]:
    rows = await repository.due_deliveries(db, now=now, limit=limit)
    if not rows:
        return []
    connectors = await repository.connectors_by_id(db, (r.connector_id for r in rows))
    calls = await repository.calls_by_id(db, (r.call_id for r in rows if r.call_id))
    rows = _with_their_calls(db, rows, calls, now=now)
    contexts = await conversions.for_deliveries(db, rows, connectors=connectors, calls=calls)
    leads = await repository.leads_by_id(db, (r.lead_id for r in rows if r.lead_id))
    sites = await repository.sites_by_id(db, (c.site_id for c in connectors.values()))
    updates = [r for r in rows if r.event == UPDATE_EVENT and r.call_id is not None]
    records = await repository.call_records(
        db, ((r.connector_id, r.call_id) for r in updates if r.call_id), events=RECORD_EVENTS
    )
    tags = await repository.tags_by_call(db, (r.call_id for r in updates))
    token = uuid.uuid4()
    claims = []
    for row in rows:
        connector = connectors[row.connector_id]
        if connector.retired_at is not None:
            _close(db, row, status="dead", error="the connector was retired", now=now)
            continue
        if row.claim_token is not None:
            # Its lease ran out with no outcome recorded: the request may have gone out.
            row.attempts += 1
            row.maybe_created = True
            repository.add_attempt(db, _attempt_values(row.id, now, "retry", None, INTERRUPTED, 0))
        row.claim_token = token
        row.next_attempt_at = now + lease
        row.updated_at = now
        job = Job(
            delivery_id=row.id,
            idempotency_key=row.idempotency_key,
            event=row.event,
            connector=ConnectorData.of(connector),
            call=calls[row.call_id] if row.call_id is not None else None,
            lead=leads[row.lead_id] if row.lead_id is not None else None,
            conversion=contexts.get(row.id),
            record=_record_of(row, records),
            tags=tags.get(row.call_id, ()) if row.call_id is not None else (),
            queued_at=row.created_at,
            site=sites.get(connector.site_id),
            digest_day=row.digest_day,
            payload=row.payload,
        )
        claims.append(Claim(job, token, row.attempts, row.maybe_created, now + lease))
    await db.flush()
    return claims


def _with_their_calls(
    db: AsyncSession,
    rows: Sequence[OutboxDelivery],
    calls: dict[uuid.UUID, Call],
    *,
    now: datetime,
) -> list[OutboxDelivery]:
    """The rows whose call is still there. No foreign key holds a delivery's call (calls are
    partitioned by month): one whose month was detached (or a deal correction re-armed it
    later) goes to the dead letters saying why, rather than stall every batch after it."""
    kept = []
    for row in rows:
        if row.call_id is not None and row.call_id not in calls:
            _close(db, row, status="dead", error=CALL_GONE, now=now)
        else:
            kept.append(row)
    return kept


def _record_of(
    row: OutboxDelivery, records: dict[tuple[uuid.UUID, uuid.UUID], OutboxDelivery]
) -> Created | None:
    """What the CRM holds of an update's call: the earlier delivery's answer."""
    if row.event != UPDATE_EVENT or row.call_id is None:
        return None
    found = records.get((row.connector_id, row.call_id))
    if found is None:
        return None
    return Created(found.external_id, dict(found.external_refs or {}))


def _close(
    db: AsyncSession, row: OutboxDelivery, *, status: str, error: str, now: datetime
) -> None:
    row.status = status
    row.last_error = error
    row.claim_token = None
    row.updated_at = now
    repository.add_attempt(db, _attempt_values(row.id, now, status, None, error, 0))


def _attempt_values(
    delivery_id: uuid.UUID,
    now: datetime,
    outcome: str,
    status_code: int | None,
    response_excerpt: str | None,
    duration_ms: int,
) -> dict[str, object]:
    return {
        "delivery_id": delivery_id,
        "attempted_at": now,
        "status_code": status_code,
        "outcome": outcome,
        "response_excerpt": response_excerpt,
        "duration_ms": duration_ms,
    }


async def attempt(crm: CrmHttp, claim: Claim) -> Outcome:
    """Deliver once. RateDeferred propagates: no slot soon enough, and nothing was sent."""
    connector = get_connector(claim.job.connector.kind)
    if claim.job.event == UPDATE_EVENT:
        if claim.job.record is None:
            # Nothing to update yet, and creating a record here would duplicate the call's.
            return Outcome(None, CrmFailure(WAITING, created=False), False, None, WAITING)
        # An update sets the record's state: sending it again is harmless, no look-up.
        uncertain = False
    else:
        uncertain = claim.maybe_created
    try:
        if uncertain:
            found = await connector.find(crm, claim.job)
            if found is not None:
                return Outcome(found, None, False, crm.last.status_code, crm.last.excerpt)
            uncertain = False  # looked up: the CRM surely has nothing under our key
        created = await connector.push(crm, claim.job)
    except CrmFailure as failure:
        maybe = uncertain or failure.created is None
        return Outcome(
            None, failure, maybe, failure.status_code or crm.last.status_code, failure.message
        )
    return Outcome(created, None, False, crm.last.status_code, crm.last.excerpt)


def failed_unexpectedly(claim: Claim, exc: Exception) -> Outcome:
    """A bug of ours mid-attempt: retried like a CRM failure, and assumed to have maybe sent."""
    secrets = secrets_of(claim.job.connector.credentials)
    message = excerpt(f"internal error: {type(exc).__name__}: {exc}", secrets)
    return Outcome(None, CrmFailure(message, created=None), True, None, message)


async def record(
    db: AsyncSession,
    claim: Claim,
    outcome: Outcome,
    *,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    duration_ms: int,
) -> bool:
    """Store the attempt's outcome; False when this worker's claim is no longer the row's."""
    attempts = claim.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "claim_token": None,
        "updated_at": now,
        "maybe_created": outcome.maybe_created,
    }
    failure = outcome.failure
    if outcome.created is not None:
        label = "sent"
        values |= {
            "status": "sent",
            "sent_at": now,
            "last_error": None,
            "external_id": outcome.created.external_id,
            "external_refs": outcome.created.refs or None,
            "next_attempt_at": now,
        }
    else:
        assert failure is not None
        limit = min(policy.max_attempts, failure.max_attempts or policy.max_attempts)
        dead = failure.permanent or attempts >= limit
        label = "dead" if dead else "retry"
        delay = policy.delay_s(attempts, retry_after_s=failure.retry_after_s, rng=rng)
        values |= {
            "status": "dead" if dead else "pending",
            "last_error": failure.message,
            "next_attempt_at": now if dead else now + timedelta(seconds=delay),
        }
    if not await repository.update_claimed(
        db, delivery_id=claim.job.delivery_id, token=claim.token, values=values
    ):
        log.warning("delivery %s: claim lost before its outcome was stored", claim.job.delivery_id)
        return False
    repository.add_attempt(
        db,
        _attempt_values(
            claim.job.delivery_id, now, label, outcome.status_code, outcome.excerpt, duration_ms
        ),
    )
    job = claim.job
    if outcome.created is not None and job.event in RECORD_EVENTS and job.call is not None:
        # The CRM has the call now: an update waiting for it need not sit out its backoff.
        await repository.wake_waiting(
            db, connector_id=job.connector.id, call_id=job.call.id, event=UPDATE_EVENT, now=now
        )
    if failure is not None and failure.gone:
        # Standard Webhooks: a receiver answering 410 asks to be disabled.
        connector = await db.get(CrmConnector, claim.job.connector.id)
        if connector is not None:
            await repository.CONNECTORS.retire(db, connector, now=now)
    await db.flush()
    return True


async def renew(db: AsyncSession, claim: Claim, *, now: datetime, lease: timedelta) -> bool:
    """Extend the claim while its worker lives (the heartbeat); False once another worker's
    claim or an outcome holds the row, which ends the renewal."""
    return await repository.update_claimed(
        db,
        delivery_id=claim.job.delivery_id,
        token=claim.token,
        values={"next_attempt_at": now + lease},
    )


async def release(db: AsyncSession, claim: Claim, *, until: datetime, now: datetime) -> bool:
    """Give the row back without an attempt (no rate-limit slot in time)."""
    return await repository.update_claimed(
        db,
        delivery_id=claim.job.delivery_id,
        token=claim.token,
        values={"claim_token": None, "next_attempt_at": until, "updated_at": now},
    )
