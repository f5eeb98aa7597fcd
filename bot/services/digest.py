"""The digest service: subscriptions, building digests, and exactly-once delivery.

Subscriptions live in ``digest_subscriptions`` (the base of :class:`DigestService`), building in
``digest_build`` (a candidate pool shared by concurrent builds), posting in ``digest_delivery``;
this module owns the ledger decisions (grace, catch-up, resume) and the public API.

No Discord types: messages leave through an injected :class:`Poster`, whose failures are this
module's :class:`DeliveryError` subclasses. The slash commands, the scheduler and the CLI call the
same methods.

Exactly once: planning a digest is one write transaction that chooses its stories (leaving out
those sent to the channel or reserved by another open run there) and claims the run in the ledger
(``digest_runs``) with its message plan, before anything is posted; each message id is recorded as
soon as Discord accepted it, so a restart resumes with the remaining messages only, the one in
flight re-sent with the same nonce (see ``digest_delivery``). A scheduled digest is unique per
(subscription, fire instant in UTC), so a change of time zone never makes the next one a noop.

A database error while planning (a lock held by another process, a full disk) is retried with a
bounded backoff within the grace period; a fire that finally fails is recorded (a failed ledger
row and the subscription's last error, when the database takes writes again) and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.config import DigestConfig
from bot.domain import digest as d
from bot.domain.digest import DigestPlan, DigestRun, RunStatus, Subscription, SubscriptionState
from bot.services.digest_build import DigestBuilder, Score
from bot.services.digest_delivery import (
    CONCURRENCY,
    LATER_DELAYS,
    PAUSE_AFTER_FAILING_DAYS,
    RETRY_DELAYS,
    ChannelGone,
    Deliverer,
    DeliveryError,
    Poster,
    PostForbidden,
    PostRejected,
    PostTransient,
    RunResult,
)
from bot.services.digest_fire import record_failed_fire
from bot.services.digest_planning import (
    Fire,
    PlanBatcher,
    PlanContext,
    Planned,
    ago,
    note_outcome,
    plan_fires,
    report,
)
from bot.services.digest_subscriptions import (
    DigestSubscriptions,
    DuplicateSubscription,
    InvalidDigestInput,
    SubscriptionNotFound,
    SubscriptionStatus,
    TooManySubscriptions,
)
from bot.services.errors import UserError
from bot.storage.db import Database
from bot.storage.digest_ledger import DigestLedger, LedgerTx, LedgerUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

# Between attempts to plan a fire whose database work failed (bounded by the grace period).
PLAN_RETRY_DELAYS = (5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)

__all__ = [
    "CONCURRENCY",
    "PAUSE_AFTER_FAILING_DAYS",
    "RETRY_DELAYS",
    "ChannelGone",
    "DeliveryError",
    "DeliveryUnavailable",
    "DigestService",
    "DuplicateSubscription",
    "InvalidDigestInput",
    "PostForbidden",
    "PostRejected",
    "PostTransient",
    "Poster",
    "RunResult",
    "SubscriptionNotFound",
    "SubscriptionStatus",
    "TooManySubscriptions",
]


class DeliveryUnavailable(UserError):
    pass


class DigestService(DigestSubscriptions):
    def __init__(
        self,
        db: Database,
        config: DigestConfig,
        *,
        score: Score = d.rank_score,
        topic_name: Callable[[str], Awaitable[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poster: Poster | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        later_delays: Sequence[float] = LATER_DELAYS,
        plan_retry_delays: Sequence[float] = PLAN_RETRY_DELAYS,
        concurrency: int = CONCURRENCY,
        color: int | None = 0x2B6CB0,
    ) -> None:
        """``score(story, now)`` ranks stories (default: ``domain.ranking.story_score``);
        ``topic_name(text)`` returns a topic's display name or raises ``NotFound``
        (``QueryService.topic_exists``); without it topics are not checked."""
        super().__init__(db, config, topic_name=topic_name, clock=clock)
        self.score = score
        self.color = color
        self.plan_retry_delays = tuple(plan_retry_delays)
        self.ledger = DigestLedger(db)
        self._builder = DigestBuilder(score, post_when_empty=config.post_when_empty, color=color)
        # A planned scheduled run is left to the delivery workers (``digest_workers``), which
        # claim open runs in bulk, instead of being claimed and posted one by one here: set on
        # a shared database, where every process runs one.
        self.hand_off = False
        # Scheduled fires asked for together are planned together (``digest_planning``).
        self._planner = PlanBatcher(self._plan_batch)
        self.delivery = Deliverer(
            db,
            clock=clock,
            changed=self._changed,
            poster=poster,
            sleep=sleep,
            retry_delays=retry_delays,
            later_delays=later_delays,
            concurrency=concurrency,
            grace=timedelta(hours=config.grace_hours),
        )

    @property
    def poster(self) -> Poster | None:
        """Where messages go; the Discord layer attaches its adapter at start."""
        return self.delivery.poster

    @poster.setter
    def poster(self, poster: Poster | None) -> None:
        self.delivery.poster = poster

    @property
    def sleep(self) -> Callable[[float], Awaitable[object]]:
        return self.delivery.sleep

    @sleep.setter
    def sleep(self, sleep: Callable[[float], Awaitable[object]]) -> None:
        self.delivery.sleep = sleep

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.config.grace_hours)

    # -- building -------------------------------------------------------------------------------
    def _build(self, tx: LedgerTx, sub: Subscription, local_date, now: datetime) -> DigestPlan:
        """Select the stories and plan the messages (on the database thread)."""
        return self._builder.build(tx, sub, local_date, now)

    def _record_plan(
        self,
        tx: LedgerTx,
        sub: Subscription,
        plan: DigestPlan,
        *,
        kind: str,
        at: datetime,
        now: datetime,
    ) -> tuple[DigestRun, bool]:
        """Claim the run (call inside the transaction that built ``plan``: choosing the stories
        and reserving them for the channel are one step)."""
        status = RunStatus.PLANNED if plan.messages else RunStatus.EMPTY
        run, created = tx.insert_run(
            subscription_id=sub.id,
            local_date=plan.local_date,
            kind=kind,
            channel_id=sub.channel_id,
            scheduled_for=at,
            window=plan.window,
            status=status,
            story_ids=plan.story_ids,
            messages=plan.messages,
            error=None,
            now=now,
        )
        if created and status is RunStatus.EMPTY:
            note_outcome(tx, sub, now, "nothing new")
        if created and status is RunStatus.EMPTY:
            self.delivery.events.digest_finished("skipped", "empty", None)
        return run, created

    async def preview(self, guild_id: int, sub_id: int) -> DigestPlan:
        """Exactly what the digest would post if it ran now (nothing is recorded)."""
        sub = await self.get(guild_id, sub_id)
        now = self.clock()
        return await self._db(self._build, sub, d.local_date_for(now, sub.zone), now)

    async def _db(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(tx, *args)`` in one ledger hop, driver errors as ``LedgerUnavailable``."""
        return await self.ledger.unit(fn, *args)

    # -- running --------------------------------------------------------------------------------
    async def _plan_batch(self, fires: list[Fire]) -> list[Planned]:
        """Plan ``fires`` in one ledger hop (``digest_planning.plan_fires``)."""
        ctx = PlanContext(self._builder, self.grace, self.delivery.checkpoint)
        batch = await self._db(plan_fires, ctx, fires)
        report(self.delivery.events, batch)
        return batch.planned

    async def run_scheduled(
        self, sub_id: int, *, scheduled_for: datetime | None = None, now: datetime | None = None
    ) -> RunResult:
        """The scheduled digest of ``sub_id`` for the fire time ``scheduled_for`` (default: the
        latest at or before ``now``): posted, resumed, skipped (past grace) or nothing to do.

        A database error while planning is retried (``plan_retry_delays``) as long as the fire
        is within the grace period; a fire that finally fails is recorded and logged. With
        ``hand_off`` a run planned and open is left to the delivery workers ("planned")."""
        now = now or self.clock()
        fire = scheduled_for
        attempt = 0
        while True:
            try:
                planned = await self.plan_scheduled(sub_id, scheduled_for=fire, now=now)
                break
            except LedgerUnavailable as exc:
                if fire is None:
                    sub = await self._subscription_or_none(sub_id)
                    fire = None if sub is None else d.previous_fire(sub.time, sub.zone, now)
                delay = self._plan_delay(attempt, fire)
                if delay is None or fire is None:
                    return await self._fire_failed(sub_id, fire, now, exc)
                log.warning(
                    "digest %d: cannot plan the digest due at %s: %s; retrying in %.0f s",
                    sub_id,
                    fire.isoformat(),
                    exc,
                    delay,
                )
                attempt += 1
                await self.sleep(delay)
                now = self.clock()
        if planned is None:
            return RunResult(sub_id, "noop")
        sub, run = planned
        if self.hand_off and run.is_open:
            return RunResult(sub.id, "planned", run.id, len(run.story_ids))
        self.delivery.checkpoint("claimed")
        return await self.deliver(sub, run)

    async def _subscription_or_none(self, sub_id: int) -> Subscription | None:
        try:
            return await self.ledger.get_subscription(sub_id)
        except LedgerUnavailable:
            return None

    def _plan_delay(self, attempt: int, fire: datetime | None) -> float | None:
        if fire is None or not self.plan_retry_delays:
            return None
        delay = self.plan_retry_delays[min(attempt, len(self.plan_retry_delays) - 1)]
        if self.clock() + timedelta(seconds=delay) > fire + self.grace:
            return None
        return delay

    async def _fire_failed(
        self, sub_id: int, fire: datetime | None, now: datetime, exc: Exception
    ) -> RunResult:
        """Record a fire that could not even be planned (``record_failed_fire``); logged at
        ERROR either way."""
        reason = f"could not prepare the digest: {exc}"
        log.error("digest %d: %s (gave up within the grace period)", sub_id, reason)
        try:
            run = await self._db(record_failed_fire, sub_id, fire, now, reason)
        except LedgerUnavailable as err:
            log.error("digest %d: the failure could not be recorded either: %s", sub_id, err)
            run = None
        return RunResult(sub_id, str(RunStatus.FAILED), run.id if run else None, error=reason)

    async def deliver(self, sub: Subscription, run: DigestRun) -> RunResult:
        """Post the messages of ``run`` not yet sent (see :class:`Deliverer`)."""
        return await self.delivery.deliver(sub, run)

    async def plan_scheduled(
        self, sub_id: int, *, scheduled_for: datetime | None = None, now: datetime | None = None
    ) -> tuple[Subscription, DigestRun] | None:
        """Build the digest and record it in the ledger (or find the recorded one); None when
        the subscription is gone or paused. :meth:`run_scheduled` is this, then :meth:`deliver`."""
        now = now or self.clock()
        sub, run = await self._planner.plan(Fire(sub_id, scheduled_for, now))
        return None if sub is None or run is None else (sub, run)

    async def send_now(self, guild_id: int, sub_id: int) -> RunResult:
        """Post the digest now, besides the scheduled one (which then only has newer stories)."""
        sub = await self.get(guild_id, sub_id)
        if self.poster is None:
            raise DeliveryUnavailable("The bot cannot post right now; try again in a minute.")
        now = self.clock()

        def plan(tx: LedgerTx) -> DigestRun:
            with tx.transaction():
                built = self._build(tx, sub, d.local_date_for(now, sub.zone), now)
                return self._record_plan(tx, sub, built, kind="manual", at=now, now=now)[0]

        try:
            run = await self._db(plan)
        except LedgerUnavailable as exc:
            log.warning("digest %d: send-now could not be planned: %s", sub.id, exc)
            raise DeliveryUnavailable(
                "The database is busy right now, so nothing was posted; try again in a minute."
            ) from None
        if run.status is RunStatus.EMPTY:
            return RunResult(sub.id, str(RunStatus.EMPTY), run.id)
        return await self.deliver(sub, run)

    async def catch_up(self, now: datetime | None = None) -> list[RunResult]:
        """At start: resume interrupted digests and run (or record as skipped) missed ones."""
        now = now or self.clock()
        subs = {s.id: s for s in await self.all_subscriptions()}
        jobs: list[Awaitable[RunResult]] = []
        for run in await self.ledger.open_runs():
            sub = subs.get(run.subscription_id)
            if sub is not None:
                jobs.append(self._resume(sub, run, now))
        for sub in subs.values():
            if sub.state is SubscriptionState.PAUSED:
                continue
            last = d.previous_fire(sub.time, sub.zone, now)
            # A fire before the last edit was not this schedule's (a zone or time change): only
            # fires since are "missed while down".
            if last > max(sub.created_at, sub.updated_at or sub.created_at):
                jobs.append(self.run_scheduled(sub.id, scheduled_for=last, now=now))
        results = await asyncio.gather(*jobs)
        return [r for r in results if r.status != "noop"]

    async def resume_run(self, run_id: int) -> RunResult | None:
        """Post (or, past its grace period, fail) the open run ``run_id``, e.g. one a worker
        claimed because its claimer died; None when it is gone or no longer open."""
        run = await self.ledger.get_run(run_id)
        if run is None or not run.is_open:
            return None
        sub = await self._subscription_or_none(run.subscription_id)
        if sub is None:
            return None
        return await self._resume(sub, run, self.clock())

    async def resume_claimed(self, sub: Subscription, run: DigestRun) -> RunResult:
        """:meth:`resume_run` for a run this process claimed and read in the same hop and marked
        with ``Deliverer.take`` (``Claims.claim_open_runs``): posted without reading it again."""
        return await self._resume(sub, run, self.clock(), claimed=True)

    async def _resume(
        self, sub: Subscription, run: DigestRun, now: datetime, *, claimed: bool = False
    ) -> RunResult:
        late = now - run.scheduled_for
        if late <= self.grace and sub.state is not SubscriptionState.PAUSED:
            return await self.delivery.deliver(sub, run, claimed=claimed)
        error = (
            f"interrupted after {len(run.sent_message_ids)} of {len(run.messages)} messages and "
            f"not resumed: {ago(late)} late, past the grace period"
        )
        await self.ledger.finish_run(run.id, RunStatus.FAILED, error, now)
        if claimed:
            await self.delivery.release(run.id)
        return RunResult(sub.id, str(RunStatus.FAILED), run.id, error=error)
