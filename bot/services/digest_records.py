"""The final records of a digest run: sent, or failed (and what that does to its subscription).

Part of :class:`bot.services.digest_delivery.Deliverer` (a base class it inherits), kept apart
because it is the one place that writes a run's end state: the ledger row, the subscription's
outcome and state (3 failing days in a row pause it; a gone channel pauses it at once), the log
line and the event.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from bot.domain.digest import DigestRun, RunStatus, Subscription, SubscriptionState
from bot.services.digest_outcomes import ChannelGone, RunResult
from bot.services.events import Events, delivery_reason
from bot.storage.digest_ledger import DigestLedger, LedgerTx, LedgerUnavailable

log = logging.getLogger("bot.services.digest_delivery")  # one logger for the whole delivery

PAUSE_AFTER_FAILING_DAYS = 3
NOTE_SEP = " | "


def _notes(run: DigestRun) -> list[str]:
    """The run's lasting notes (dropped stories), without a previous "retrying" note."""
    return [n for n in (run.error or "").split(NOTE_SEP) if n and not n.startswith("retrying")]


class RunRecords:
    """Writes a run's end; the deliverer provides the clock, the ledger, events and listener."""

    clock: Callable[[], datetime]
    ledger: DigestLedger
    events: Events
    _changed: Callable[[int, Subscription | None], None]

    async def _sent(
        self, sub: Subscription, run: DigestRun, started: float, dropped: tuple[int, ...]
    ) -> RunResult:
        note = NOTE_SEP.join(_notes(run)) or None
        outcome = f"sent {len(run.story_ids)} stories in {len(run.messages)} messages"
        if note:
            outcome += f" ({note})"
        now = self.clock()
        # Success clears a failing state; a paused digest (posted with send-now) stays paused
        # until edited.
        paused = sub.state is SubscriptionState.PAUSED
        state = SubscriptionState.PAUSED if paused else SubscriptionState.ACTIVE

        def record(tx: LedgerTx) -> None:
            with tx.transaction():
                tx.mark_sent(run.id, note, now)
                tx.record_outcome(
                    sub.id,
                    state=state,
                    failure_streak=sub.failure_streak if paused else 0,
                    last_failed_date=sub.last_failed_date if paused else None,
                    last_error=sub.last_error if paused else None,
                    last_run_at=now,
                    last_outcome=outcome,
                )

        await asyncio.shield(self.ledger.unit(record))
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
        return RunResult(
            sub.id,
            str(RunStatus.SENT),
            run.id,
            len(run.story_ids),
            len(run.sent_message_ids),
            note,
            dropped,
        )

    async def _failed(self, sub: Subscription, run: DigestRun, exc: Exception) -> RunResult:
        now = self.clock()
        reason = str(exc) or type(exc).__name__
        sent = len(run.sent_message_ids)
        state, streak, failed_date = sub.state, sub.failure_streak, sub.last_failed_date
        if isinstance(exc, ChannelGone):
            state = SubscriptionState.PAUSED
        else:
            # Every failed day counts: 3 in a row pause the digest.
            if failed_date != run.local_date:
                streak, failed_date = streak + 1, run.local_date
            paused = streak >= PAUSE_AFTER_FAILING_DAYS
            state = SubscriptionState.PAUSED if paused else SubscriptionState.FAILING
        if state is SubscriptionState.PAUSED:
            reason = f"paused: {reason}" + (
                "" if isinstance(exc, ChannelGone) else f" ({streak} failing days in a row)"
            )
        notes = _notes(run)
        error = NOTE_SEP.join([*notes, reason])
        outcome = f"failed after {sent} of {len(run.messages)} messages: {reason}"

        def record(tx: LedgerTx) -> None:
            with tx.transaction():
                tx.finish_run(run.id, RunStatus.FAILED, error, now)
                tx.record_outcome(
                    sub.id,
                    state=state,
                    failure_streak=streak,
                    last_failed_date=failed_date,
                    last_error=reason,
                    last_run_at=now,
                    last_outcome=outcome,
                )

        try:
            await self.ledger.unit(record)
        except LedgerUnavailable as err:
            log.error(
                "digest %d (guild %d, channel %d) failed (%s) and the failure could not be "
                "recorded: %s",
                sub.id,
                sub.guild_id,
                sub.channel_id,
                reason,
                err,
            )
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
