"""The digest repositories: subscriptions, and the delivery ledger with the reads a digest build
makes, as async methods whose transactions live inside them.

* :class:`SubscriptionRepository`: create (unique, under the per-guild cap), list, get, edit,
  remove subscriptions.
* :class:`DigestLedger`: the runs (claim, record each posted message, replan, finish) and
  :meth:`DigestLedger.unit`, which runs one piece of service logic (planning a digest: choose the
  stories and claim the run) in ONE database hop on a :class:`LedgerTx`. The service decides
  (grace, catch-up, resume); the transaction it asks for is opened and committed here.

Driver errors in the ledger surface as :class:`LedgerUnavailable` (a ``StorageError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from bot.domain.digest import DigestRun, RunStatus, Subscription, Window
from bot.domain.digest_messages import MessagePlan
from bot.domain.views import StoryRow
from bot.storage import digest_batch as batch
from bot.storage import digests as store
from bot.storage.db import Database
from bot.storage.digest_sql import LedgerUnavailable

__all__ = ["DigestLedger", "LedgerTx", "LedgerUnavailable", "SubscriptionRepository"]

T = TypeVar("T")


class LedgerTx:
    """The ledger inside one database hop: synchronous methods on the connection of the hop.

    Given to the function passed to :meth:`DigestLedger.unit`; never kept beyond it. Reads
    outside :meth:`transaction` see the last committed state; writes go inside it.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with store.transaction(self._conn):
            yield

    # -- reads ----------------------------------------------------------------------------------
    def items_version(self) -> int:
        """A number that changes whenever an item is added (the highest item id)."""
        return store.items_version(self._conn)

    def get_subscription(self, sub_id: int) -> Subscription | None:
        return store.get_subscription(self._conn, sub_id)

    def scheduled_run(self, sub_id: int, scheduled_for: datetime) -> DigestRun | None:
        return store.scheduled_run(self._conn, sub_id, scheduled_for)

    def previous_window_end(self, sub_id: int) -> datetime | None:
        return store.previous_window_end(self._conn, sub_id)

    def first_attempt(self, sub_id: int) -> datetime | None:
        return store.first_attempt(self._conn, sub_id)

    def candidate_stories(self, window: Window) -> list[StoryRow]:
        return store.candidate_stories(self._conn, window)

    def coverage_texts(self, story_ids: Sequence[int]) -> dict[int, list[str]]:
        return store.coverage_texts(self._conn, story_ids)

    def coverage_providers(self, story_ids: Sequence[int]) -> dict[int, list[str]]:
        return store.coverage_providers(self._conn, story_ids)

    def sent_story_ids(self, channel_id: int, since: datetime) -> set[int]:
        return store.sent_story_ids(self._conn, channel_id, since)

    def reserved_story_ids(self, channel_id: int) -> set[int]:
        return store.reserved_story_ids(self._conn, channel_id)

    # -- the same reads for many keys at once (``digest_batch``) ---------------------------------
    def subscriptions(self, sub_ids: Sequence[int]) -> dict[int, Subscription]:
        return batch.get_subscriptions(self._conn, sub_ids)

    def scheduled_runs(
        self, keys: Sequence[tuple[int, datetime]]
    ) -> dict[tuple[int, int], DigestRun]:
        """By (subscription id, fire instant in unix seconds)."""
        return batch.scheduled_runs(self._conn, keys)

    def window_history(self, sub_ids: Sequence[int]) -> dict[int, batch.History]:
        """(previous window end, first attempt) by subscription."""
        return batch.window_history(self._conn, sub_ids)

    def sent_story_ids_by_channel(
        self, channel_ids: Sequence[int], since: datetime
    ) -> dict[int, set[int]]:
        return batch.sent_story_ids(self._conn, channel_ids, since)

    def reserved_story_ids_by_channel(self, channel_ids: Sequence[int]) -> dict[int, set[int]]:
        return batch.reserved_story_ids(self._conn, channel_ids)

    # -- writes (inside :meth:`transaction`) ----------------------------------------------------
    def insert_run(self, **fields: Any) -> tuple[DigestRun, bool]:
        """Claim a run (see ``digest_runs.insert_run``): (run, created)."""
        return store.insert_run(self._conn, **fields)

    def insert_runs(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[int, int], DigestRun]:
        """Claim many scheduled runs in one statement (``digest_runs.insert_runs``): the runs
        created, by (subscription id, fire instant in unix seconds)."""
        return store.insert_runs(self._conn, rows)

    def record_outcome(self, sub_id: int, **fields: Any) -> None:
        """A subscription's last outcome and failure state (``digest_subscriptions``)."""
        store.record_outcome(self._conn, sub_id, **fields)

    def mark_sent(self, run_id: int, note: str | None, now: datetime) -> None:
        store.mark_sent(self._conn, run_id, note, now)

    def finish_run(self, run_id: int, status: RunStatus, error: str | None, now: datetime) -> None:
        store.finish_run(self._conn, run_id, status, error, now)


def _in_tx(fn: Callable[..., T]) -> Callable[..., T]:
    def run(conn: Any, *args: Any) -> T:
        return fn(LedgerTx(conn), *args)

    return run


class DigestLedger:
    """The delivery ledger. Every method is async and one transaction (or read) on the writer;
    driver errors are raised as :class:`LedgerUnavailable`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def unit(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(tx, *args)`` in one database hop on the writer (``tx``: a :class:`LedgerTx`)."""
        return await self._db.run(store.guarded(_in_tx(fn)), *args)

    async def get_run(self, run_id: int) -> DigestRun | None:
        return await self._db.run(store.guarded(store.get_run), run_id)

    async def open_runs(self) -> list[DigestRun]:
        """Runs planned or partly posted and not finished (to resume)."""
        return await self._db.run(store.guarded(store.open_runs))

    async def get_subscription(self, sub_id: int) -> Subscription | None:
        return await self._db.run(store.guarded(store.get_subscription), sub_id)

    async def record_message(
        self, run: DigestRun, position: int, message_id: int, now: datetime
    ) -> None:
        """Record that part ``position`` of ``run`` was posted as ``message_id``."""
        await self._db.run(store.guarded(store.record_message), run, position, message_id, now)

    async def note_run(self, run_id: int, note: str | None, now: datetime) -> None:
        await self._db.run(store.guarded(store.note_run), run_id, note, now)

    async def replan_run(
        self,
        run_id: int,
        messages: Sequence[MessagePlan],
        story_ids: Sequence[int],
        note: str | None,
        now: datetime,
    ) -> None:
        """Replace the remaining plan of a run (a refused story dropped, a part split)."""
        await self._db.run(store.guarded(store.replan_run), run_id, messages, story_ids, note, now)

    async def finish_run(
        self, run_id: int, status: RunStatus, error: str | None, now: datetime
    ) -> None:
        await self._db.run(store.guarded(store.finish_run), run_id, status, error, now)


class SubscriptionRepository:
    """Digest subscriptions. Every method is async and one transaction (or read) on the writer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_unique(
        self, sub: Subscription, now: datetime, cap: int | None
    ) -> tuple[Subscription | None, Subscription | None]:
        """(stored, None); (None, same) when ``same`` already posts exactly this; (None, None)
        when the guild has ``cap`` subscriptions already."""
        return await self._db.run(store.insert_unique_subscription, sub, now, cap)

    async def of_guild(self, guild_id: int | None) -> list[Subscription]:
        """A guild's subscriptions (every guild's with None)."""
        return await self._db.run(store.list_subscriptions, guild_id)

    async def get(self, sub_id: int) -> Subscription | None:
        return await self._db.run(store.get_subscription, sub_id)

    async def same_as(self, sub: Subscription) -> Subscription | None:
        """Another subscription that posts exactly what ``sub`` would."""
        return await self._db.run(store.same_subscription, sub)

    async def update(self, sub: Subscription, now: datetime) -> None:
        await self._db.run(store.update_subscription, sub, now)

    async def delete(self, sub_id: int) -> bool:
        return await self._db.run(store.delete_subscription, sub_id)

    async def latest_runs(self, sub_ids: Sequence[int]) -> dict[int, DigestRun]:
        """The newest run of each subscription."""
        return await self._db.run(store.latest_runs, list(sub_ids))
