"""Posting a planned digest, exactly once by construction.

The run was claimed in the ledger (its stories reserved for the channel, its message parts
planned) before this module sees it. Each part is posted with a deterministic nonce
(``part_nonce(run id, position)``, Discord's ``enforce_nonce``) and its message id recorded the
moment Discord accepted it, so a crash or shutdown at any step resumes with the same parts: the
recorded ones are skipped, the one in flight is re-sent with the same nonce and Discord returns the
message it already created instead of posting it twice. The run is marked sent (and its outcome
recorded) in one last transaction.

No Discord types: messages leave through a :class:`Poster`, whose failures are
:class:`DeliveryError` subclasses. Failure policy:

* 400 (:class:`PostRejected`): the story Discord refused is dropped from the part (the part is
  re-rendered without it, or split to find it; bounded) and the rest is posted; the drop is
  reported in the run's record, the subscription's outcome and the log;
* 5xx, network errors and rate limits the client would not wait out (:class:`PostTransient`), and
  a ledger that cannot be written: retried with backoff within the run, then again later with a
  longer backoff as long as the run is within the grace period (the reason shown in
  ``/digest status``), then failed;
* 403 and every final failure make the subscription *failing* (paused after 3 failing days in a
  row); 404 pauses it at once.

Each run holds one of ``concurrency`` slots, so one slow channel never delays the others beyond
that bound. :meth:`Deliverer.drain` (shutdown) lets the part being posted finish, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.digest import DigestRun, Subscription
from bot.domain.digest_messages import MessagePlan, part_nonce, without_refused
from bot.services.digest_outcomes import (
    ChannelGone,
    DeliveryError,
    Poster,
    PostForbidden,
    PostRejected,
    PostTransient,
    RunResult,
)
from bot.services.digest_records import (
    NOTE_SEP,
    PAUSE_AFTER_FAILING_DAYS,
    RunRecords,
    _notes,
)
from bot.services.events import NO_EVENTS, Events
from bot.storage.db import Database
from bot.storage.digest_ledger import DigestLedger, LedgerUnavailable

__all__ = [
    "CONCURRENCY",
    "DRAIN_SECONDS",
    "LATER_DELAYS",
    "PAUSE_AFTER_FAILING_DAYS",
    "RETRY_DELAYS",
    "ChannelGone",
    "Deliverer",
    "DeliveryError",
    "PostForbidden",
    "PostRejected",
    "PostTransient",
    "Poster",
    "RunResult",
]

log = logging.getLogger(__name__)

RETRY_DELAYS = (2.0, 5.0, 15.0)  # seconds between attempts after a transient failure
LATER_DELAYS = (60.0, 300.0, 900.0, 1800.0, 3600.0)  # then between retries of the run, in grace
MAX_REFUSALS = 12  # 400 replies handled per run (drops and splits) before the run fails
DRAIN_SECONDS = 5.0  # shutdown waits this long at most for the part being posted
CONCURRENCY = 50  # digests being posted at once

Listener = Callable[[int, Subscription | None], None]
Checkpoint = Callable[[str], None]


class RunClaims(Protocol):
    async def claim_run(self, run_id: int) -> bool: ...
    async def release_run(self, run_id: int) -> None: ...


def _no_checkpoint(_step: str) -> None:
    return None


class Deliverer(RunRecords):
    """Posts ledger runs through ``poster``; ``changed(sub_id, sub)`` hears of state changes.

    ``checkpoint(step)`` is called at each named step of a post ("posted:<i>" after part i was
    accepted and before it is recorded, "recorded:<i>", "before-sent"); tests make it raise to
    kill the process there.
    """

    events: Events = NO_EVENTS  # metrics sink, set by the composition root

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        changed: Listener,
        poster: Poster | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        later_delays: Sequence[float] = LATER_DELAYS,
        concurrency: int = CONCURRENCY,
        grace: timedelta = timedelta(hours=6),
    ) -> None:
        self.db = db
        self.ledger = DigestLedger(db)
        self.clock = clock
        self.poster = poster
        self.sleep = sleep
        self.retry_delays = tuple(retry_delays)
        self.later_delays = tuple(later_delays)
        self.grace = grace
        self.checkpoint: Checkpoint = _no_checkpoint
        # Claims on runs shared with other processes (``services.coordination``); None: this
        # process alone posts.
        self.claims: RunClaims | None = None
        self._changed = changed
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._inflight: set[int] = set()
        self._stopping = False
        self._posting = 0
        self._idle: asyncio.Event | None = None

    # -- shutdown -------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    async def drain(self, limit: float = DRAIN_SECONDS) -> bool:
        """Start no new part; wait (at most ``limit`` s) until the parts being posted are
        accepted and recorded. True when nothing is left in flight."""
        self._stopping = True
        if self._posting == 0:
            return True
        idle = self._idle_event()
        try:
            await asyncio.wait_for(idle.wait(), limit)
        except TimeoutError:
            log.warning("digest shutdown: a message still in flight after %.0f s", limit)
            return False
        return True

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self._posting == 0:
                self._idle.set()
        return self._idle

    def _begin_post(self) -> None:
        self._posting += 1
        self._idle_event().clear()

    def _end_post(self) -> None:
        self._posting -= 1
        if self._posting == 0:
            self._idle_event().set()

    # -- delivery -------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """How many more runs this process could start posting now (a claiming worker takes
        no more than this)."""
        return 0 if self._stopping else max(0, self.concurrency - len(self._inflight))

    def take(self, run_id: int) -> bool:
        """Mark a run this process has just claimed and read as being delivered here, before
        :meth:`deliver` with ``claimed=True`` (False: it already is; leave it)."""
        if run_id in self._inflight:
            return False
        self._inflight.add(run_id)
        return True

    async def deliver(
        self, sub: Subscription, run: DigestRun, *, claimed: bool = False
    ) -> RunResult:
        """Post the messages of ``run`` not yet sent (bounded concurrency across runs).

        ``claimed``: the run was claimed by this process and read in the same hop, and
        :meth:`take` marked it: neither claimed nor read again here."""
        if not claimed:
            if not run.is_open or run.id in self._inflight:
                return RunResult(sub.id, "noop", run.id)
            self._inflight.add(run.id)
        try:
            if self.poster is None:
                return RunResult(sub.id, "noop", run.id, error="no poster attached")
            if self._stopping:
                return RunResult(sub.id, "interrupted", run.id, error="shutting down")
            async with self._slots:
                if not claimed and not await self._claim(run.id):
                    return RunResult(sub.id, "noop", run.id, error="claimed by another process")
                try:
                    # Re-read the row: ``run`` may be stale (another caller finished it).
                    fresh = run if claimed else await self.ledger.get_run(run.id)
                    if fresh is None or not fresh.is_open:
                        return RunResult(sub.id, "noop", run.id)
                    return await self._post_run(sub, fresh)
                finally:
                    await self._release(run.id)
        finally:
            self._inflight.discard(run.id)

    async def _claim(self, run_id: int) -> bool:
        """Claim the run for this process (taken inside a delivery slot, so that a process
        holds no more claims than it is posting). A claim error: not posted here now (the run
        stays open; this process or another claims it later)."""
        if self.claims is None:
            return True
        try:
            return await self.claims.claim_run(run_id)
        except Exception as exc:
            log.warning("digest run %d: could not be claimed: %s", run_id, exc)
            return False

    async def release(self, run_id: int) -> None:
        """Give up this process's claim on the run (errors logged: a claim expires anyway)."""
        await self._release(run_id)

    async def _release(self, run_id: int) -> None:
        if self.claims is None:
            return
        try:
            await asyncio.shield(self.claims.release_run(run_id))
        except Exception as exc:  # it expires by itself
            log.warning("digest run %d: the claim could not be released: %s", run_id, exc)

    async def _post_run(self, sub: Subscription, run: DigestRun) -> RunResult:
        started = _time.perf_counter()
        refusals = later = 0
        dropped: list[int] = []
        first_delay: float | None = None  # scheduled time -> this run's first message
        while run.remaining:
            position = run.remaining[0]
            if self._stopping:
                return RunResult(
                    sub.id, "interrupted", run.id, len(run.story_ids), len(run.sent_message_ids)
                )
            try:
                message_id = await self._post_part(run, position)
            except PostRejected as exc:
                refusals += 1
                fixed = (
                    without_refused(run.messages, position, str(exc))
                    if refusals <= MAX_REFUSALS
                    else None
                )
                if fixed is None:
                    return await self._failed(sub, run, exc)
                run, gone = await self._replan(sub, run, fixed, exc)
                dropped.extend(gone)
                continue
            except (PostTransient, LedgerUnavailable) as exc:
                delay = self._later_delay(run, later)
                if delay is None:
                    return await self._failed(sub, run, exc)
                later += 1
                again = await self._wait_and_reread(sub, run, exc, delay)
                if again is None or not again.is_open:
                    return RunResult(sub.id, "noop", run.id)
                run = again
                continue
            except DeliveryError as exc:
                return await self._failed(sub, run, exc)
            if not run.sent_message_ids and run.kind == "scheduled":
                first_delay = (self.clock() - run.scheduled_for).total_seconds()
            run = replace(run, sent_message_ids=(*run.sent_message_ids, message_id))
        self.checkpoint("before-sent")
        self.events.digest_finished("posted", "", first_delay)
        return await self._sent(sub, run, started, tuple(dropped))

    async def _post_part(self, run: DigestRun, position: int) -> int:
        """Post one part (transient failures retried with backoff) and record its id. Counted
        as in flight from the request until the record is written, so shutdown waits for it."""
        assert self.poster is not None
        message = run.messages[position]
        nonce = part_nonce(run.id, position)
        for attempt in range(len(self.retry_delays) + 1):
            self._begin_post()
            try:
                message_id = await self.poster.post(run.channel_id, message, nonce=nonce)
                self.checkpoint(f"posted:{position}")
                # Shielded: once Discord accepted a message its id is recorded, even when this
                # task is being cancelled.
                record = self.ledger.record_message(run, position, message_id, self.clock())
                await asyncio.shield(record)
                self.checkpoint(f"recorded:{position}")
                return message_id
            except PostTransient as exc:
                if attempt >= len(self.retry_delays):
                    raise
                delay = self.retry_delays[attempt]
                log.info("digest run %d: %s; retrying in %.1fs", run.id, exc, delay)
            finally:
                self._end_post()
            await self.sleep(delay)
        raise AssertionError("unreachable")

    def _later_delay(self, run: DigestRun, later: int) -> float | None:
        """The wait before trying ``run`` again, or None when that would leave its grace period
        (a send-now run is not retried later: someone is waiting for its reply)."""
        if run.kind != "scheduled" or not self.later_delays:
            return None
        delay = self.later_delays[min(later, len(self.later_delays) - 1)]
        if self.clock() + timedelta(seconds=delay) > run.scheduled_for + self.grace:
            return None
        return delay

    async def _wait_and_reread(
        self, sub: Subscription, run: DigestRun, exc: Exception, delay: float
    ) -> DigestRun | None:
        now = self.clock()
        retry_at = now + timedelta(seconds=delay)
        reason = str(exc) or type(exc).__name__
        note = NOTE_SEP.join(
            [*_notes(run), f"retrying at {retry_at:%H:%M} UTC (within grace): {reason}"]
        )
        log.warning(
            "digest %d (guild %d, channel %d) could not post: %s; retrying in %.0f s",
            sub.id,
            sub.guild_id,
            sub.channel_id,
            reason,
            delay,
        )
        try:
            await self.ledger.note_run(run.id, note, now)
        except LedgerUnavailable as err:
            log.error("digest run %d: could not record the retry: %s", run.id, err)
        await self.sleep(delay)
        for _ in range(3):
            try:
                return await self.ledger.get_run(run.id)
            except LedgerUnavailable as err:
                log.warning("digest run %d: %s; retrying", run.id, err)
                await self.sleep(self.retry_delays[0] if self.retry_delays else 1.0)
        return replace(run, error=note)

    async def _replan(
        self,
        sub: Subscription,
        run: DigestRun,
        fixed: tuple[tuple[MessagePlan, ...], tuple[int, ...]],
        exc: DeliveryError,
    ) -> tuple[DigestRun, tuple[int, ...]]:
        """Persist the plan without the refused story (or with the refused part split) before
        posting it, so a resume posts the same parts."""
        messages, gone = fixed
        notes = _notes(run) + [f"dropped story #{sid} (Discord refused it: {exc})" for sid in gone]
        story_ids = tuple(sid for sid in run.story_ids if sid not in set(gone))
        note = NOTE_SEP.join(notes) or None
        await self.ledger.replan_run(run.id, messages, story_ids, note, self.clock())
        if gone:
            log.warning(
                "digest %d (guild %d, channel %d): Discord refused story %s; dropped it: %s",
                sub.id,
                sub.guild_id,
                sub.channel_id,
                ", ".join(f"#{s}" for s in gone),
                exc,
            )
        return replace(run, messages=messages, story_ids=story_ids, error=note), gone
