"""`callsource worker`: drains the outbox and polls the CRMs for deal outcomes.

Each delivery runs in three short transactions: the claim (committed before any request goes
out), the HTTP exchange outside any transaction, and the outcome. Several workers on one
PostgreSQL database share the queue; on SQLite run one.

Time comes from the injected clock and waits go through `sleep_until`, so the tests drive an
hour-long outage, backoff and rate limits on a simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.clock import Clock, utcnow
from app.kit.outbound import OutboundPolicy, outbound_client
from app.kit.phones import is_identifiable
from app.mail import mail_configured, send_mail
from crm_push import alerts, deals_sync, dispatch
from crm_push.connectors import get_connector
from crm_push.ratelimit import Rate, RateLimiter, create_rate_limiter
from crm_push.redaction import install_log_redaction
from crm_push.retry import RetryPolicy
from crm_push.transport import CrmHttp, Mailer, RateDeferred, SleepUntil, secrets_of

log = logging.getLogger(__name__)

# Another domain's periodic job run beside the outbox (the ad-cost import), handed in by the
# entry point that wires the domains together: it gets the sessionmaker, the guarded HTTP
# client, the round's time and a sleep on the worker's clock, and answers how much it did.
WorkerStep = Callable[
    [
        async_sessionmaker[AsyncSession],
        httpx.AsyncClient,
        datetime,
        Callable[[float], Awaitable[None]],
    ],
    Awaitable[int],
]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch_size: int = 20
    concurrency: int = 10
    # A claim lasts this long unless renewed: the worker renews it every `renew_s` while the
    # delivery is in flight (the heartbeat), so a worker that dies leaves its rows to others
    # within `lease_s` (plus one idle poll: under 30 s), however long a live delivery takes.
    # Three beats per lease: one failed renewal (a database blink) does not lose the claim.
    lease_s: float = 24.0
    renew_s: float = 8.0
    # The longest a delivery waits for a rate-limit slot before giving the row back.
    rate_wait_s: float = 200.0
    idle_s: float = 1.0
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    # Off for benchmarks against the local CRM server; per kind otherwise (None: connector's).
    rate_limits: bool = True
    rates: dict[str, Rate] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deals_poll_interval_s: float = 600.0
    # Other domains' steps (the ad-cost import) look for work this often, not every round.
    steps_every_s: float = 30.0
    # CRM clocks and ours differ: each poll re-reads a little of the previous window.
    deals_overlap_s: float = 300.0
    # Daily digests go out once this local hour of the site's next day has come; the step
    # that queues them runs at most every `digest_check_s`.
    digest_hour: int = 8
    digest_check_s: float = 60.0


def _by_caller(claims: list[dispatch.Claim]) -> list[list[dispatch.Claim]]:
    """One caller's calls to one CRM go in call order, one after another: the second must see
    the record the first created (Bitrix24 adds a repeat call to it instead of a new lead)."""
    groups: dict[tuple[object, ...], list[dispatch.Claim]] = {}
    for claim in claims:
        # A form lead's phone joins its person's calls: the call after the form finds the
        # record the form created.
        phone = claim.job.phone
        caller = phone if is_identifiable(phone) else None
        key = (claim.job.connector.id, caller or claim.job.delivery_id)
        groups.setdefault(key, []).append(claim)
    return [sorted(group, key=lambda c: c.job.at) for group in groups.values()]


def real_sleep_until(clock: Clock) -> SleepUntil:
    async def sleep_until(moment: datetime) -> None:
        delay = (moment - clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    return sleep_until


class Worker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        http: httpx.AsyncClient,
        limiter: RateLimiter,
        config: WorkerConfig | None = None,
        clock: Clock = utcnow,
        sleep_until: SleepUntil | None = None,
        rng: random.Random | None = None,
        steps: Sequence[WorkerStep] = (),
        mailer: Mailer | None = None,
        public_url: str = "",
    ) -> None:
        self.sessionmaker = sessionmaker
        self.http = http
        self.limiter = limiter
        self.config = config or WorkerConfig()
        self.clock = clock
        self.sleep_until = sleep_until or real_sleep_until(clock)
        self.rng = rng or random.Random()
        self.mailer = mailer
        self.public_url = public_url
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self.steps = tuple(steps)
        # A step runs in its own task, one run at a time: a report an ad platform takes
        # minutes to build must not hold up the deliveries.
        self._step_tasks: dict[int, asyncio.Task[int]] = {}
        self._steps_started: datetime | None = None
        self._digests_at: datetime | None = None
        install_log_redaction()

    # --- deliveries -----------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim one batch of due deliveries and attempt them; the number claimed."""
        lease = timedelta(seconds=self.config.lease_s)
        async with self.sessionmaker() as db:
            claims = await dispatch.claim_due(
                db, now=self.clock(), limit=self.config.batch_size, lease=lease
            )
            await db.commit()
        await asyncio.gather(*(self._deliver_in_order(group) for group in _by_caller(claims)))
        return len(claims)

    async def _deliver_in_order(self, claims: list[dispatch.Claim]) -> None:
        for claim in claims:
            await self._deliver(claim)

    async def _deliver(self, claim: dispatch.Claim) -> None:
        async with self._slots:
            heartbeat = asyncio.create_task(self._renew_while_in_flight(claim))
            try:
                await self._attempt_and_record(claim)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    async def _renew_while_in_flight(self, claim: dispatch.Claim) -> None:
        """Every `renew_s`, push the claim's end `lease_s` past now; stops when cancelled with
        its delivery or when the claim is lost (another worker holds the row by then)."""
        lease = timedelta(seconds=self.config.lease_s)
        while True:
            await asyncio.sleep(self.config.renew_s)
            try:
                async with self.sessionmaker() as db:
                    held = await dispatch.renew(db, claim, now=self.clock(), lease=lease)
                    await db.commit()
            except Exception:
                # The database blinked: the claim holds until its end; try again next beat.
                log.warning("renewing the claim of delivery %s failed", claim.job.delivery_id)
                continue
            if not held:
                log.info("delivery %s: claim lost, renewal stops", claim.job.delivery_id)
                return

    async def _attempt_and_record(self, claim: dispatch.Claim) -> None:
        started_at = claim.lease_until - timedelta(seconds=self.config.lease_s)
        crm = self.crm_http(
            claim.job.connector.kind,
            claim.job.connector.id.hex,
            claim.job.connector.credentials,
            deadline=started_at + timedelta(seconds=self.config.rate_wait_s),
        )
        started = time.perf_counter()
        try:
            outcome = await dispatch.attempt(crm, claim)
        except RateDeferred as deferred:
            async with self.sessionmaker() as db:
                await dispatch.release(db, claim, until=deferred.until, now=self.clock())
                await db.commit()
            return
        except Exception as exc:
            log.exception("delivery %s failed unexpectedly", claim.job.delivery_id)
            outcome = dispatch.failed_unexpectedly(claim, exc)
        duration_ms = int((time.perf_counter() - started) * 1000)
        async with self.sessionmaker() as db:
            stored = await dispatch.record(
                db,
                claim,
                outcome,
                now=self.clock(),
                policy=self.config.retry,
                rng=self.rng,
                duration_ms=duration_ms,
            )
            await db.commit()
        if stored and outcome.failure is not None:
            log.info(
                "delivery %s to %s connector %s failed: %s",
                claim.job.delivery_id,
                claim.job.connector.kind,
                claim.job.connector.id,
                outcome.failure.message,
            )

    def crm_http(
        self,
        kind: str,
        rate_key: str,
        credentials: dict[str, object],
        *,
        deadline: datetime | None,
    ) -> CrmHttp:
        rate = self.config.rates.get(kind, get_connector(kind).rate)
        limited = self.config.rate_limits and rate is not None
        return CrmHttp(
            client=self.http,
            clock=self.clock,
            sleep_until=self.sleep_until,
            secrets=secrets_of(dict(credentials)),
            limiter=self.limiter if limited else None,
            rate=rate if limited else None,
            rate_key=rate_key,
            # The heartbeat keeps the claim through the wait; this bounds how long it waits.
            deadline=deadline,
            timeout=httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s),
            mailer=self.mailer,
            public_url=self.public_url,
        )

    # --- deals ----------------------------------------------------------------------------

    async def poll_deals_due(self) -> int:
        """Poll every CRM whose deals poll is due; the number of deals stored."""
        return await deals_sync.poll_due(self)

    # --- other domains' steps -------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        await self.sleep_until(self.clock() + timedelta(seconds=seconds))

    async def _step(self, step: WorkerStep) -> int:
        try:
            return await step(self.sessionmaker, self.http, self.clock(), self._sleep)
        except Exception:
            log.exception("worker step %s failed; it runs again next round", step)
            return 0

    def start_steps(self, *, now: bool = False) -> None:
        """Start each step whose previous run has finished, every `steps_every_s` (or `now`)."""
        at = self.clock()
        every = timedelta(seconds=self.config.steps_every_s)
        if not now and self._steps_started is not None and at - self._steps_started < every:
            return
        self._steps_started = at
        for index, step in enumerate(self.steps):
            running = self._step_tasks.get(index)
            if running is None or running.done():
                self._step_tasks[index] = asyncio.create_task(self._step(step))

    async def finish_steps(self, *, cancel: bool = False) -> None:
        """Wait for the running steps, or on shutdown (`cancel`) stop them: a step is
        resumable (the ad-cost import claims again what it did not finish)."""
        tasks = list(self._step_tasks.values())
        self._step_tasks.clear()
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=cancel)

    # --- digests --------------------------------------------------------------------------

    async def queue_digests_due(self) -> int:
        """Queue the daily digests that are due (at most every `digest_check_s`); how many."""
        now = self.clock()
        if self._digests_at is not None and now < self._digests_at:
            return 0
        self._digests_at = now + timedelta(seconds=self.config.digest_check_s)
        try:
            async with self.sessionmaker() as db:
                run = await alerts.enqueue_digests(db, now=now, hour=self.config.digest_hour)
                await db.commit()
        except Exception:
            # The deliveries of this round go out all the same; the digests are tried again.
            log.exception("queueing the daily digests failed; trying again later")
            return 0
        return run.queued

    # --- loops ----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One round: the due digests queued, a batch of deliveries and the due deal polls (the
        steps start beside)."""
        self.start_steps()
        await self.queue_digests_due()
        delivered = await self.deliver_due()
        await self.poll_deals_due()
        return delivered

    async def drain(self) -> int:
        """The due digests, everything due now, then the due polls and steps (`callsource worker
        --once`)."""
        self.start_steps(now=True)
        await self.queue_digests_due()
        total = 0
        while claimed := await self.deliver_due():
            total += claimed
        await self.poll_deals_due()
        await self.finish_steps()
        return total

    async def run(self, stop_event: asyncio.Event) -> None:
        while not stop_event.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                # The database or Redis went away for a moment: keep the worker alive.
                log.exception("CRM worker round failed; trying again")
                claimed = 0
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), timeout=self.config.idle_s)
        await self.finish_steps(cancel=True)


@contextlib.asynccontextmanager
async def open_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    clock: Clock = utcnow,
    config: WorkerConfig | None = None,
    steps: Sequence[WorkerStep] = (),
) -> AsyncIterator[Worker]:
    """A worker with its HTTP client (guarded by CALLSOURCE_OUTBOUND_ALLOW's policy) and rate
    limiter (Redis when configured), closed after."""
    config = config or WorkerConfig()
    limiter = create_rate_limiter(settings.redis_url)
    limits = httpx.Limits(max_connections=config.concurrency * 2)
    try:
        policy = OutboundPolicy.parse(settings.outbound_allow)
        # E-mail alerts go through the operator's SMTP server, when there is one.
        mailer = partial(send_mail, settings) if mail_configured(settings) else None
        async with outbound_client(policy, limits=limits) as http:
            yield Worker(
                sessionmaker,
                http=http,
                limiter=limiter,
                config=config,
                clock=clock,
                steps=steps,
                mailer=mailer,
                public_url=settings.public_url,
            )
    finally:
        await limiter.close()


async def run_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    stop_event: asyncio.Event,
    clock: Clock = utcnow,
    config: WorkerConfig | None = None,
    once: bool = False,
    steps: Sequence[WorkerStep] = (),
) -> int:
    """Run the worker until `stop_event` is set (or, with `once`, until nothing is due).
    For `serve`/`demo`: `asyncio.create_task(run_worker(connections.sessionmaker, settings,
    stop_event=event, clock=clock))` in the app's lifespan (app.main), and set the event on
    shutdown. It is not an ASGI app: it gets what it needs as arguments, never an app state."""
    async with open_worker(
        sessionmaker, settings, clock=clock, config=config, steps=steps
    ) as worker:
        if once:
            return await worker.drain()
        await worker.run(stop_event)
        return 0
