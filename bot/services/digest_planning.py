"""Planning scheduled digests in batches: many due subscriptions in one database hop.

Thousands of digests are often due in the same minute (the cron jobs of one time, a catch-up
after a restart). Planning each alone costs a transaction and a dozen statements; on PostgreSQL
those round trips, not the selection, bound how fast the leader plans. :class:`PlanBatcher`
gathers the fires asked for while a batch is being planned and plans them together in the next
hop (group commit: one fire alone is planned at once, a crowd in batches of up to
:data:`MAX_BATCH`, the first batches small so that posting starts early while the rest is
planned). :func:`plan_fires` is that hop: one write transaction reading the subscriptions, their
existing runs, window history, the channels' sent and reserved stories with one statement each,
then choosing each digest's stories exactly as one alone would (a digest sees the stories the
digests before it in the batch reserved in its channel) and claiming every run with one
multi-row insert.

Exactly once is the ledger's, as for one digest: a fire is unique per (subscription, fire
instant), so a fire planned meanwhile by another process (a leader taking over) makes the insert
skip its row; the batch is then rolled back and planned again, reading that run instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.domain import digest as d
from bot.domain.digest import DigestRun, RunStatus, Subscription, SubscriptionState
from bot.services.digest_build import DigestBuilder
from bot.services.events import Events
from bot.storage import digests as store
from bot.storage.digest_ledger import LedgerTx, LedgerUnavailable

log = logging.getLogger("bot.services.digest")

FIRST_BATCH = 8  # fires in the first batch of a crowd (then doubling)
MAX_BATCH = 128  # fires planned in one hop at most
RACE_RETRIES = 3  # a batch planned again this often when another process planned one of its fires

Planned = tuple[Subscription | None, DigestRun | None]


@dataclass(frozen=True, slots=True)
class Fire:
    """A scheduled fire to plan: ``at`` None is the latest fire at or before ``now``."""

    sub_id: int
    at: datetime | None
    now: datetime


@dataclass(slots=True)
class PlanContext:
    """What planning needs besides the ledger: the builder, the grace period and the delivery's
    checkpoint hook (``checkpoint("plan")`` before each fire is planned)."""

    builder: DigestBuilder
    grace: timedelta
    checkpoint: Callable[[str], None]


@dataclass(slots=True)
class Batch:
    """What planning a batch did: per fire (subscription, run) (see :func:`plan_fires`), the ids
    of the runs it created, and the fires it recorded as skipped (sub, local date, why)."""

    planned: list[Planned] = field(default_factory=list)
    created: set[int] = field(default_factory=set)
    skipped: list[tuple[Subscription, date, str]] = field(default_factory=list)


class _Raced(Exception):
    """A fire of the batch was planned by another process meanwhile: plan the batch again."""


def ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def plan_fires(tx: LedgerTx, ctx: PlanContext, fires: Sequence[Fire]) -> Batch:
    """Plan ``fires`` (at most one per subscription) in one write transaction; per fire
    (subscription, run): (None, None) when the subscription is gone, (sub, None) when it is
    paused, else the run planned, recorded as skipped (past grace) or found already recorded."""
    for _ in range(RACE_RETRIES):
        batch = Batch()
        try:
            with tx.transaction():
                _plan(tx, ctx, fires, batch)
            return batch
        except _Raced:
            continue
    raise LedgerUnavailable("other processes kept planning the same digests; try again")


def _plan(tx: LedgerTx, ctx: PlanContext, fires: Sequence[Fire], batch: Batch) -> None:
    subs = tx.subscriptions([f.sub_id for f in fires])
    out = batch.planned
    due: list[tuple[int, Subscription, datetime, Fire]] = []  # (index in out, sub, at, fire)
    for fire in fires:
        sub = subs.get(fire.sub_id)
        if sub is None or sub.state is SubscriptionState.PAUSED:
            out.append((sub, None))
            continue
        due.append((len(out), sub, fire.at or d.previous_fire(sub.time, sub.zone, fire.now), fire))
        out.append((sub, None))
    existing = tx.scheduled_runs([(sub.id, at) for _, sub, at, _ in due])
    todo = []
    for index, sub, at, fire in due:
        run = existing.get((sub.id, int(at.timestamp())))
        if run is not None:
            out[index] = (sub, run)
        else:
            ctx.checkpoint("plan")
            todo.append((index, sub, at, fire))
    if not todo:
        return
    history = tx.window_history([sub.id for _, sub, _, _ in todo])
    channels = sorted({sub.channel_id for _, sub, _, _ in todo})
    since = min(f.now for _, _, _, f in todo) - timedelta(days=store.SENT_MEMORY_DAYS)
    sent = tx.sent_story_ids_by_channel(channels, since)
    reserved = tx.reserved_story_ids_by_channel(channels)
    version = tx.items_version()
    rows: list[dict[str, Any]] = []
    for _, sub, at, fire in todo:
        rows.append(_row(tx, ctx, batch, sub, at, fire.now, history, sent, reserved, version))
    created = tx.insert_runs(rows)
    if len(created) != len(rows):
        raise _Raced()
    for (index, sub, at, fire), row in zip(todo, rows, strict=True):
        run = created[(sub.id, int(at.timestamp()))]
        out[index] = (sub, run)
        batch.created.add(run.id)
        if run.status is RunStatus.EMPTY:
            note_outcome(tx, sub, fire.now, "nothing new")
        elif run.status is RunStatus.SKIPPED:
            note_outcome(tx, sub, fire.now, f"skipped: {row['error']}")


def _row(
    tx: LedgerTx,
    ctx: PlanContext,
    batch: Batch,
    sub: Subscription,
    at: datetime,
    now: datetime,
    history: dict[int, tuple[datetime | None, datetime | None]],
    sent: dict[int, set[int]],
    reserved: dict[int, set[int]],
    version: int,
) -> dict[str, Any]:
    local_date = d.local_date_for(at, sub.zone)
    common = dict(
        subscription_id=sub.id,
        local_date=local_date,
        kind="scheduled",
        channel_id=sub.channel_id,
        scheduled_for=at,
        now=now,
    )
    late = now - at
    if late > ctx.grace:
        error = (
            f"missed by {ago(late)}, more than the {ctx.grace.total_seconds() / 3600:g} h grace "
            "period (the bot was not running)"
        )
        batch.skipped.append((sub, local_date, error))
        return dict(
            common,
            window=d.Window(now, now, now),
            status=RunStatus.SKIPPED,
            story_ids=(),
            messages=(),
            error=error,
        )
    previous, first = history.get(sub.id, (None, None))
    channel_reserved = reserved.setdefault(sub.channel_id, set())
    plan = ctx.builder.compose(
        tx,
        sub,
        local_date,
        now,
        previous=previous,
        first=first,
        sent=sent.get(sub.channel_id, set()) | channel_reserved,
        version=version,
    )
    channel_reserved.update(plan.story_ids)  # the next digest of this channel must not pick them
    return dict(
        common,
        window=plan.window,
        status=RunStatus.PLANNED if plan.messages else RunStatus.EMPTY,
        story_ids=plan.story_ids,
        messages=plan.messages,
        error=None,
    )


def note_outcome(tx: LedgerTx, sub: Subscription, now: datetime, outcome: str) -> None:
    """Record a run's outcome without changing the subscription's failure state."""
    tx.record_outcome(
        sub.id,
        state=sub.state,
        failure_streak=sub.failure_streak,
        last_failed_date=sub.last_failed_date,
        last_error=sub.last_error,
        last_run_at=now,
        last_outcome=outcome,
    )


def report(events: Events, batch: Batch) -> None:
    """After the batch committed: the events and log lines of the runs it created."""
    for _sub, run in batch.planned:
        if run is not None and run.id in batch.created and run.status is RunStatus.EMPTY:
            events.digest_finished("skipped", "empty", None)
    for sub, local_date, error in batch.skipped:
        events.digest_finished("skipped", "missed", None)
        log.warning(
            "digest %d (guild %d, channel %d) for %s skipped: %s",
            sub.id,
            sub.guild_id,
            sub.channel_id,
            local_date,
            error,
        )


class PlanBatcher:
    """Plans the fires asked for concurrently in batches (see the module docstring).

    ``run_batch(fires)`` plans one batch in one hop. A batch that fails is split: each of its
    fires is planned alone, so an error reaches the caller whose fire caused it. A caller that
    stops waiting (cancelled) is left out of the batches not yet started.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Fire]], Awaitable[list[Planned]]],
        *,
        first_batch: int = FIRST_BATCH,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.run_batch = run_batch
        self.first_batch = first_batch
        self.max_batch = max_batch
        self._pending: list[tuple[Fire, asyncio.Future[Planned]]] = []
        self._task: asyncio.Task[None] | None = None

    async def plan(self, fire: Fire) -> Planned:
        future: asyncio.Future[Planned] = asyncio.get_running_loop().create_future()
        self._pending.append((fire, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="digest-planning")
        return await future

    def _take(self, size: int) -> list[tuple[Fire, asyncio.Future[Planned]]]:
        """Up to ``size`` waiting fires, one per subscription (a second fire of a subscription
        waits for the next batch: it must see the first one's run)."""
        batch: list[tuple[Fire, asyncio.Future[Planned]]] = []
        rest: list[tuple[Fire, asyncio.Future[Planned]]] = []
        subs: set[int] = set()
        for fire, future in self._pending:
            if future.done():
                continue
            if len(batch) < size and fire.sub_id not in subs:
                subs.add(fire.sub_id)
                batch.append((fire, future))
            else:
                rest.append((fire, future))
        self._pending = rest
        return batch

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers of this same moment join the first batch
            size = self.first_batch
            while True:
                batch = self._take(size)
                if not batch:
                    return
                size = min(self.max_batch, size * 2)
                await self._run(batch, split=len(batch) > 1)
        except BaseException as exc:  # cancelled or killed: no caller is left waiting
            pending, self._pending = self._pending, []
            for _, future in pending:
                _fail(future, exc)
            raise

    async def _run(self, batch: list[tuple[Fire, asyncio.Future[Planned]]], *, split: bool) -> None:
        try:
            results = await self.run_batch([fire for fire, _ in batch])
        except Exception as exc:
            if split:
                for one in batch:
                    if not one[1].done():
                        await self._run([one], split=False)
                return
            for _, future in batch:
                _fail(future, exc)
            return
        except BaseException as exc:
            for _, future in batch:
                _fail(future, exc)
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _fail(future: asyncio.Future[Planned], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
