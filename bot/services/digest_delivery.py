"""Posting a planned digest, exactly once: message by message, each id recorded as it is sent.

No Discord types: messages leave through a :class:`Poster`, whose failures are
:class:`DeliveryError` subclasses. Failure policy: 403 makes the subscription *failing* (paused
after 3 failing days in a row), 404 pauses it, transient errors (5xx, network) are retried with
backoff within the run; 429 is the client's to obey. Each run holds one of ``concurrency`` slots,
so one slow channel never delays the others beyond that bound.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.domain.digest import DigestRun, RunStatus, Subscription, SubscriptionState
from bot.domain.digest_messages import MessagePlan
from bot.services.events import NO_EVENTS, Events, delivery_reason
from bot.storage import digests as store
from bot.storage.db import Database

log = logging.getLogger(__name__)

PAUSE_AFTER_FAILING_DAYS = 3
RETRY_DELAYS = (2.0, 5.0, 15.0)  # seconds between attempts after a transient failure
CONCURRENCY = 50  # digests being posted at once

Listener = Callable[[int, Subscription | None], None]


class DeliveryError(Exception):
    """A post failed; ``str(err)`` is a reason fit for ``/digest status``."""


class PostForbidden(DeliveryError):
    """403: the bot lacks access or a permission in the channel."""


class ChannelGone(DeliveryError):
    """404: the channel no longer exists (or the bot can no longer see that it does)."""


class PostTransient(DeliveryError):
    """5xx, a network error, or a rate limit the client gave up on: worth retrying."""


class Poster(Protocol):
    async def post(self, channel_id: int, message: MessagePlan, *, nonce: str) -> int:
        """Post one message; return its id or raise a :class:`DeliveryError`."""
        ...


@dataclass(frozen=True, slots=True)
class RunResult:
    subscription_id: int
    status: str  # a RunStatus value, or "noop" (nothing to do: already done, paused, in flight)
    run_id: int | None = None
    stories: int = 0
    messages_sent: int = 0
    error: str | None = None


class Deliverer:
    """Posts ledger runs through ``poster``; ``changed(sub_id, sub)`` hears of state changes."""

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
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.db = db
        self.clock = clock
        self.poster = poster
        self.sleep = sleep
        self.retry_delays = tuple(retry_delays)
        self._changed = changed
        self._slots = asyncio.Semaphore(concurrency)
        self._inflight: set[int] = set()

    async def deliver(self, sub: Subscription, run: DigestRun) -> RunResult:
        """Post the messages of ``run`` not yet sent (bounded concurrency across runs)."""
        if not run.is_open or run.id in self._inflight:
            return RunResult(sub.id, "noop", run.id)
        if self.poster is None:
            return RunResult(sub.id, "noop", run.id, error="no poster attached")
        self._inflight.add(run.id)
        try:
            async with self._slots:
                # Re-read the row: ``run`` may be stale (another caller finished it meanwhile).
                fresh = await self.db.run(store.get_run, run.id)
                if fresh is None or not fresh.is_open:
                    return RunResult(sub.id, "noop", run.id)
                return await self._post_run(sub, fresh)
        finally:
            self._inflight.discard(run.id)

    async def _post_run(self, sub: Subscription, run: DigestRun) -> RunResult:
        started = _time.perf_counter()
        sent = len(run.sent_message_ids)
        first_delay: float | None = None
        for position in run.remaining:
            try:
                message_id = await self._post(run, position)
            except DeliveryError as exc:
                return await self._failed(sub, run, exc, sent)
            # Shielded: once Discord accepted a message, its id is recorded even if this task
            # is being cancelled (shutdown), so a resume never posts it again.
            record = self.db.run(store.record_message, run, position, message_id, self.clock())
            await asyncio.shield(record)
            if not sent:  # the run's first message: its delay from the scheduled time
                first_delay = (self.clock() - run.scheduled_for).total_seconds()
            sent += 1
        outcome = f"sent {len(run.story_ids)} stories in {len(run.messages)} messages"
        now = self.clock()
        # Success clears a failing state; a paused digest (posted with send-now) stays paused
        # until edited.
        paused = sub.state is SubscriptionState.PAUSED
        state = SubscriptionState.PAUSED if paused else SubscriptionState.ACTIVE
        await self.db.run(
            lambda c: store.record_outcome(
                c,
                sub.id,
                state=state,
                failure_streak=sub.failure_streak if paused else 0,
                last_failed_date=sub.last_failed_date if paused else None,
                last_error=sub.last_error if paused else None,
                last_run_at=now,
                last_outcome=outcome,
            )
        )
        if sub.state is SubscriptionState.FAILING:
            self._changed(sub.id, replace(sub, state=state, failure_streak=0))
        log.info(
            "digest %d posted to guild %d channel %d: %d stories, %d messages in %.2fs",
            sub.id,
            sub.guild_id,
            sub.channel_id,
            len(run.story_ids),
            len(run.messages),
            _time.perf_counter() - started,
        )
        self.events.digest_finished("posted", "", first_delay if run.kind == "scheduled" else None)
        return RunResult(sub.id, str(RunStatus.SENT), run.id, len(run.story_ids), sent)

    async def _post(self, run: DigestRun, position: int) -> int:
        assert self.poster is not None
        message = run.messages[position]
        nonce = f"nb{run.id}.{position}"
        for attempt in range(len(self.retry_delays) + 1):
            try:
                return await self.poster.post(run.channel_id, message, nonce=nonce)
            except PostTransient as exc:
                if attempt >= len(self.retry_delays):
                    raise
                delay = self.retry_delays[attempt]
                log.info("digest run %d: %s; retrying in %.1fs", run.id, exc, delay)
                await self.sleep(delay)
        raise AssertionError("unreachable")

    async def _failed(
        self, sub: Subscription, run: DigestRun, exc: DeliveryError, sent: int
    ) -> RunResult:
        now = self.clock()
        reason = str(exc) or type(exc).__name__
        state, streak, failed_date = sub.state, sub.failure_streak, sub.last_failed_date
        if isinstance(exc, ChannelGone):
            state = SubscriptionState.PAUSED
        elif isinstance(exc, PostForbidden):
            if failed_date != run.local_date:
                streak, failed_date = streak + 1, run.local_date
            paused = streak >= PAUSE_AFTER_FAILING_DAYS
            state = SubscriptionState.PAUSED if paused else SubscriptionState.FAILING
        if state is SubscriptionState.PAUSED:
            reason = f"paused: {reason}" + (
                f" ({streak} failing days in a row)" if isinstance(exc, PostForbidden) else ""
            )
        outcome = f"failed after {sent} of {len(run.messages)} messages: {reason}"

        def record(conn):
            with store.transaction(conn):
                store.finish_run(conn, run.id, RunStatus.FAILED, reason, now)
                store.record_outcome(
                    conn,
                    sub.id,
                    state=state,
                    failure_streak=streak,
                    last_failed_date=failed_date,
                    last_error=reason,
                    last_run_at=now,
                    last_outcome=outcome,
                )

        await self.db.run(record)
        log.warning(
            "digest %d %s in guild %d channel %d: %s",
            sub.id,
            state,
            sub.guild_id,
            sub.channel_id,
            reason,
        )
        if state is not sub.state:
            self._changed(sub.id, replace(sub, state=state, failure_streak=streak))
        self.events.digest_finished("failed", delivery_reason(exc), None)
        return RunResult(sub.id, str(RunStatus.FAILED), run.id, len(run.story_ids), sent, reason)
