"""Recording a digest fire that failed before anything could be planned (the database refused
the planning transaction until the grace period ran out). Runs on the database thread."""

from __future__ import annotations

from datetime import date, datetime

from bot.domain import digest as d
from bot.domain.digest import DigestRun, RunStatus, SubscriptionState
from bot.services.digest_delivery import PAUSE_AFTER_FAILING_DAYS
from bot.storage.digest_ledger import LedgerTx


def record_failed_fire(
    tx: LedgerTx, sub_id: int, fire: datetime | None, now: datetime, reason: str
) -> DigestRun | None:
    """Record a scheduled fire that could not even be planned: a failed ledger row for it (so
    ``/digest status`` shows it) and the subscription's failing state (paused after
    ``PAUSE_AFTER_FAILING_DAYS`` failing days), in one transaction."""
    sub = tx.get_subscription(sub_id)
    if sub is None:
        return None
    at = fire or d.previous_fire(sub.time, sub.zone, now)
    local: date = d.local_date_for(at, sub.zone)
    streak, failed = sub.failure_streak, sub.last_failed_date
    if failed != local:
        streak, failed = streak + 1, local
    state = (
        SubscriptionState.PAUSED
        if streak >= PAUSE_AFTER_FAILING_DAYS
        else SubscriptionState.FAILING
    )
    with tx.transaction():
        run, _ = tx.insert_run(
            subscription_id=sub.id,
            local_date=local,
            kind="scheduled",
            channel_id=sub.channel_id,
            scheduled_for=at,
            window=d.Window(now, now, now),
            status=RunStatus.FAILED,
            story_ids=(),
            messages=(),
            error=reason,
            now=now,
        )
        tx.record_outcome(
            sub.id,
            state=state,
            failure_streak=streak,
            last_failed_date=failed,
            last_error=reason,
            last_run_at=now,
            last_outcome=f"failed: {reason}",
        )
    return run
