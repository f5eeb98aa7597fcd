"""The digest scheduler: one APScheduler cron job per subscription, in the subscription's zone.

The only module that imports apscheduler. Jobs are rebuilt from the database at start and replaced
at once when a subscription is created, edited, paused or removed (through the service's change
listeners). A startup catch-up pass resumes interrupted digests and runs missed ones within the
grace period (older ones are recorded as skipped).

APScheduler 3.x ``CronTrigger`` mishandles daylight-saving days with ``zoneinfo`` (measured with
3.11: a time in the spring-forward gap fires an hour late, and an ambiguous autumn time fires
twice). :class:`DigestTrigger` is a ``CronTrigger`` whose fire times come from the domain's
``next_fire``: a nonexistent local time fires at the end of the gap, an ambiguous one once.

Job options: ``coalesce=True`` (several missed fire times make one run), ``max_instances=1``, and
``misfire_grace_time=None`` so that APScheduler always hands a late run to the service, which
applies the one grace rule (send late, or record as skipped) and the ledger's exactly-once check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as _time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import FeedSourceConfig
from bot.domain.digest import Subscription, SubscriptionState, next_fire
from bot.services.digest import DigestService, RunResult
from bot.services.digest_delivery import DRAIN_SECONDS
from bot.services.events import set_log_context
from bot.services.feeds import FeedService, PollReport

log = logging.getLogger(__name__)


class DigestTrigger(CronTrigger):
    """Daily at a local wall-clock time, DST-correct (see the module docstring)."""

    def __init__(self, at: time, zone: ZoneInfo) -> None:
        super().__init__(hour=at.hour, minute=at.minute, second=0, timezone=zone)
        self.at = at
        self.zone = zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Same contract as CronTrigger: the first fire time at or after ``now``, or just after the
        # previous fire time when that is earlier (APScheduler then coalesces missed runs).
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            start = min(start, previous_fire_time.astimezone(UTC) + timedelta(microseconds=1))
        return next_fire(self.at, self.zone, start).astimezone(self.zone)

    def __str__(self) -> str:
        return f"daily[{self.at:%H:%M} {self.zone.key}]"


def job_id(sub_id: int) -> str:
    return f"digest:{sub_id}"


RESYNC_JOB = "digest-resync"


def _job_key(sub: Subscription) -> tuple[object, ...]:
    """What a subscription's job depends on."""
    return (sub.time, sub.zone.key, sub.state, sub.name)


class DigestScheduler:
    """Owns the AsyncIOScheduler; ``clock`` gives the ``now`` each job runs with."""

    def __init__(
        self,
        service: DigestService,
        *,
        clock: Callable[[], datetime] | None = None,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self.service = service
        self.clock = clock or service.clock
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self._catch_up: asyncio.Task[list[RunResult]] | None = None
        self._running: set[asyncio.Task[object]] = set()
        self._listening = False
        self._active = False  # jobs are scheduled (this process plans digests)
        self.resync_seconds: float | None = None  # re-read the subscriptions this often
        self._known: dict[int, tuple[object, ...]] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, *, catch_up: bool = True) -> None:
        """Build the jobs from the database, start the scheduler, and start the catch-up pass."""
        subs = await self.service.all_subscriptions()
        self._active = True
        for sub in subs:
            self.schedule(sub)
        if self.resync_seconds:
            self.scheduler.add_job(
                self.resync,
                "interval",
                seconds=self.resync_seconds,
                id=RESYNC_JOB,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        if not self._listening:
            self.service.add_listener(self._on_change)
            self._listening = True
        if not self.scheduler.running:
            self.scheduler.start()
        log.info("digest scheduler started with %d job(s)", len(self.scheduler.get_jobs()))
        if catch_up:
            self._catch_up = asyncio.create_task(self.catch_up(), name="digest-catch-up")

    async def stop(self) -> None:
        """Stop firing; let a digest message being posted finish (accepted and recorded, at most
        ``DRAIN_SECONDS``), then cancel the digests being posted: they stay open in the ledger
        and resume at the next start, within grace, with the parts not yet recorded."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.service.delivery.drain(DRAIN_SECONDS)
        tasks = [t for t in (self._catch_up, *self._running) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def suspend(self) -> None:
        """Stop planning digests at once (this process is no longer the scheduler leader): the
        jobs are removed and the planning under way cancelled. Runs already planned stay open
        in the ledger; whoever claims them posts them."""
        self._active = False
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") or job.id == RESYNC_JOB:
                job.remove()
        self._known.clear()
        tasks = [t for t in (self._catch_up, *self._running) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("digest scheduler suspended (not the scheduler leader)")

    async def resync(self) -> int:
        """Make the jobs match the database (subscriptions changed by other processes); the
        number of jobs added, replaced or removed."""
        if not self._active:
            return 0
        subs = {s.id: s for s in await self.service.all_subscriptions()}
        changed = 0
        for sub_id in set(self._known) - set(subs):
            self.unschedule(sub_id)
            self._known.pop(sub_id, None)
            changed += 1
        for sub in subs.values():
            if self._known.get(sub.id) != _job_key(sub):
                self.schedule(sub)
                changed += 1
        return changed

    def extension(self) -> Callable[[Any], Awaitable[None]]:
        """A NewsBot extension: start the scheduler with the bot, when it is serving."""

        async def start_digests(bot: Any) -> None:
            if getattr(bot, "serving", True):
                await self.start()

        return start_digests

    def close_hook(self) -> Callable[[Any], Awaitable[None]]:
        """A NewsBot close hook: stop the scheduler (safe when it never started)."""

        async def stop_digests(_bot: Any) -> None:
            await self.stop()

        return stop_digests

    async def catch_up(self, now: datetime | None = None) -> list[RunResult]:
        now = now or self.clock()
        with self._tracked():
            results = await self.service.catch_up(now)
        for result in results:
            log.info(
                "digest catch-up: subscription %d %s%s",
                result.subscription_id,
                result.status,
                f" ({result.error})" if result.error else "",
            )
        return results

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._running.discard(task)

    # -- jobs ----------------------------------------------------------------------------------
    @staticmethod
    def trigger_for(sub: Subscription) -> DigestTrigger:
        return DigestTrigger(sub.time, sub.zone)

    def schedule(self, sub: Subscription) -> None:
        """Add or replace the job of ``sub`` (removing it when the subscription is paused)."""
        self._known[sub.id] = _job_key(sub)
        if sub.state is SubscriptionState.PAUSED:
            self.unschedule(sub.id)
            return
        self.scheduler.add_job(
            self.run_job,
            trigger=self.trigger_for(sub),
            args=[sub.id],
            id=job_id(sub.id),
            name=f"digest {sub.id} ({sub.name})",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    def add_heartbeat(self, beat: Callable[[], Awaitable[None]], seconds: float) -> None:
        """Run ``beat()`` every ``seconds`` (the health check's proof that jobs still fire)."""
        self.scheduler.add_job(
            beat, "interval", seconds=seconds, id="heartbeat", replace_existing=True, coalesce=True
        )

    def unschedule(self, sub_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(job_id(sub_id))

    def next_run(self, sub_id: int) -> datetime | None:
        job = self.scheduler.get_job(job_id(sub_id))
        return None if job is None else job.next_run_time

    def _on_change(self, sub_id: int, sub: Subscription | None) -> None:
        if not self._active:  # another process plans the digests: it resyncs from the database
            return
        if sub is None:
            self._known.pop(sub_id, None)
            self.unschedule(sub_id)
        else:
            self.schedule(sub)

    async def run_job(self, sub_id: int, now: datetime | None = None) -> RunResult:
        """The job body (tests call it directly with a given ``now``)."""
        set_log_context(subscription=sub_id)  # this job's own task: its log lines say which
        try:
            with self._tracked():
                return await self.service.run_scheduled(sub_id, now=now or self.clock())
        except Exception:
            # One subscription's failure must never stop the others (each is its own job); log
            # with the id so it can be found, and let the next fire time try again.
            log.exception("digest job for subscription %d failed", sub_id)
            return RunResult(sub_id, "error")


class FeedScheduler:
    """The feed poll job: every ``tick_seconds`` it polls the feeds that are due (each feed has its
    own interval and back-off, stored as its next fetch time). Config feeds are synced at start.

    Its own AsyncIOScheduler with one interval job (``coalesce``, ``max_instances=1``: a poll
    still running when the next tick comes is not doubled). The poll's work is off the event loop
    (aiohttp I/O, parsing in workers, SQL on the database thread).
    """

    JOB_ID = "feeds:poll"

    def __init__(
        self,
        service: FeedService,
        sources: Sequence[FeedSourceConfig] = (),
        *,
        tick_seconds: float = 60.0,
        scheduler: AsyncIOScheduler | None = None,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self.service = service
        self.sources = sources
        self.tick_seconds = tick_seconds
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self.clock = clock
        self._running: set[asyncio.Task[object]] = set()
        self._poll_started: float | None = None  # the poll under way, if any
        self._last_tick: float | None = None  # when the last poll started

    STUCK_SECONDS = 30 * 60.0
    """A poll running longer than this is stuck (every fetch has a total timeout)."""

    async def check(self) -> str | None:
        """Readiness: None when the poller works, else what is wrong (for /readyz)."""
        now = self.clock()
        if self._poll_started is not None and now - self._poll_started > self.STUCK_SECONDS:
            return f"a feed poll has been running for {(now - self._poll_started) / 60:.0f} min"
        late = 3 * self.tick_seconds + 60
        if self._last_tick is not None and now - self._last_tick > late:
            return (
                f"no feed poll for {now - self._last_tick:.0f} s "
                f"(one is due every {self.tick_seconds:g} s)"
            )
        return None

    async def start(self) -> None:
        await self.service.sync_config(self.sources)
        self.scheduler.add_job(
            self.run_job,
            trigger="interval",
            seconds=self.tick_seconds,
            id=self.JOB_ID,
            name="poll due feeds",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),  # a first poll at start
        )
        if not self.scheduler.running:
            self.scheduler.start()
        log.info("feed scheduler started: due feeds polled every %g s", self.tick_seconds)

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = [t for t in self._running if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_job(self) -> PollReport | None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        self._poll_started = self._last_tick = self.clock()
        try:
            return await self.service.poll()
        except Exception:
            log.exception("feed poll failed")  # the next tick tries again
            return None
        finally:
            self._poll_started = None
            if task is not None:
                self._running.discard(task)

    def extension(self) -> Callable[[Any], Awaitable[None]]:
        async def start_feeds(bot: Any) -> None:
            if getattr(bot, "serving", True):
                await self.start()

        return start_feeds

    def close_hook(self) -> Callable[[Any], Awaitable[None]]:
        async def stop_feeds(_bot: Any) -> None:
            await self.stop()

        return stop_feeds
