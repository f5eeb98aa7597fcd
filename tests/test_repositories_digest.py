"""Contract tests of the digest repositories (subscriptions, the ledger and its one-hop unit)
and of the story lock, on every backend (``db_target``: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.domain import digest as d
from bot.storage.db import Database, open_database
from bot.storage.dialect import STORY_LOCK
from bot.storage.digest_ledger import DigestLedger, LedgerTx, SubscriptionRepository
from bot.storage.stories import StoryGrouper
from tests.support.backends import rows
from tests.test_digest_storage import NOW, draft, plan

DAY = date(2024, 6, 3)


@pytest.fixture
async def db(db_target: str) -> AsyncIterator[Database]:
    async with open_database(db_target) as database:
        yield database


def _claim(tx: LedgerTx, sub_id: int, n: int = 2) -> tuple[d.DigestRun, bool]:
    with tx.transaction():
        return tx.insert_run(
            subscription_id=sub_id,
            local_date=DAY,
            kind="scheduled",
            channel_id=2,
            scheduled_for=NOW,
            window=d.digest_window(None, NOW),
            status=d.RunStatus.PLANNED,
            story_ids=[100 + i for i in range(n)],
            messages=plan(n),
            error=None,
            now=NOW,
        )


# -- SubscriptionRepository ----------------------------------------------------------------------
async def test_subscriptions(db: Database) -> None:
    subs = SubscriptionRepository(db)
    first, same = await subs.insert_unique(draft(), NOW, 2)
    assert first is not None and same is None and first.id > 0
    assert await subs.insert_unique(draft(), NOW, 2) == (None, first)  # exactly the same
    other, _ = await subs.insert_unique(replace(draft(), time=first.time.replace(hour=9)), NOW, 2)
    assert other is not None
    assert await subs.insert_unique(replace(draft(), name="x", topics=()), NOW, 2) == (None, None)
    assert [s.id for s in await subs.of_guild(1)] == [first.id, other.id]
    assert await subs.of_guild(7) == [] and len(await subs.of_guild(None)) == 2
    assert await subs.get(first.id) == first and await subs.get(10**9) is None
    assert await subs.same_as(replace(other, time=first.time)) == first
    await subs.update(replace(other, name="Evening"), NOW + timedelta(hours=1))
    edited = await subs.get(other.id)
    assert edited is not None and edited.name == "Evening"
    assert edited.updated_at == NOW + timedelta(hours=1)
    assert await subs.latest_runs([first.id]) == {}
    assert await subs.delete(other.id) and not await subs.delete(other.id)


# -- DigestLedger --------------------------------------------------------------------------------
async def test_ledger_unit_claims_once(db: Database) -> None:
    sub, _ = await SubscriptionRepository(db).insert_unique(draft(), NOW, None)
    assert sub is not None
    ledger = DigestLedger(db)
    run, created = await ledger.unit(_claim, sub.id)
    again, created_again = await ledger.unit(_claim, sub.id)
    assert created and not created_again and again.id == run.id
    assert await ledger.get_subscription(sub.id) == sub
    assert await ledger.get_run(run.id) == run and await ledger.get_run(10**9) is None
    assert [r.id for r in await ledger.open_runs()] == [run.id]
    assert (await SubscriptionRepository(db).latest_runs([sub.id]))[sub.id].id == run.id


async def test_ledger_unit_rolls_back_on_error(db: Database, db_target: str) -> None:
    sub, _ = await SubscriptionRepository(db).insert_unique(draft(), NOW, None)
    assert sub is not None

    def claim_then_fail(tx: LedgerTx) -> None:
        with tx.transaction():
            tx.record_outcome(
                sub.id,
                state=d.SubscriptionState.FAILING,
                failure_streak=1,
                last_failed_date=DAY,
                last_error="x",
                last_run_at=NOW,
                last_outcome="x",
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await DigestLedger(db).unit(claim_then_fail)
    assert rows(db_target, "SELECT state FROM digest_subscriptions") == [("active",)]


async def test_ledger_records_messages_replans_and_finishes(db: Database) -> None:
    sub, _ = await SubscriptionRepository(db).insert_unique(draft(), NOW, None)
    assert sub is not None
    ledger = DigestLedger(db)
    run, _ = await ledger.unit(_claim, sub.id, 3)
    await ledger.record_message(run, 0, 555, NOW)
    after = await ledger.get_run(run.id)
    assert after is not None and after.sent_message_ids == (555,) and after.remaining == (1, 2)
    assert after.status is d.RunStatus.SENDING
    await ledger.record_message(run, 0, 556, NOW)  # recorded again: the last id wins
    await ledger.note_run(run.id, "rate limited", NOW)
    await ledger.replan_run(run.id, plan(2), (100, 101), "dropped #102", NOW)
    replanned = await ledger.get_run(run.id)
    assert replanned is not None
    assert (replanned.messages, replanned.story_ids) == (plan(2), (100, 101))
    assert replanned.sent_message_ids == (556,) and replanned.error == "dropped #102"
    assert await ledger.unit(lambda tx: tx.reserved_story_ids(2)) == {100, 101}
    assert await ledger.unit(lambda tx: tx.sent_story_ids(2, NOW - timedelta(days=1))) == {100}
    await ledger.finish_run(run.id, d.RunStatus.FAILED, "gave up", NOW)
    assert await ledger.open_runs() == []
    assert await ledger.unit(lambda tx: tx.reserved_story_ids(2)) == set()
    assert await ledger.unit(lambda tx: tx.items_version()) == 0


async def test_ledger_marks_sent_and_reads_windows(db: Database) -> None:
    sub, _ = await SubscriptionRepository(db).insert_unique(draft(), NOW, None)
    assert sub is not None
    ledger = DigestLedger(db)
    run, _ = await ledger.unit(_claim, sub.id, 1)

    def sent(tx: LedgerTx) -> None:
        with tx.transaction():
            tx.mark_sent(run.id, None, NOW)

    await ledger.unit(sent)
    assert await ledger.unit(lambda tx: tx.previous_window_end(sub.id)) == run.window.until
    assert await ledger.unit(lambda tx: tx.first_attempt(sub.id)) == NOW
    assert await ledger.unit(lambda tx: tx.scheduled_run(sub.id, NOW)) == replace(
        run, status=d.RunStatus.SENT
    )
    assert await ledger.unit(lambda tx: tx.candidate_stories(run.window)) == []
    assert await ledger.unit(lambda tx: tx.coverage_texts([1])) == {}
    assert await ledger.unit(lambda tx: tx.coverage_providers([1])) == {}


# -- the story lock ------------------------------------------------------------------------------
async def test_story_grouping_holds_the_story_lock_until_commit(
    db: Database, db_target: str
) -> None:
    """While one transaction groups stories, another process's grouping waits (PostgreSQL: the
    advisory lock; SQLite: the one write lock, taken by BEGIN IMMEDIATE)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; there is no lock to see")
    held, release = threading.Event(), threading.Event()

    def group(conn) -> None:
        conn.execute("BEGIN IMMEDIATE")
        StoryGrouper(conn, 0)
        held.set()
        release.wait(30)
        conn.execute("COMMIT")

    from bot.storage.pg import connect

    task = asyncio.ensure_future(db.run(group))
    await asyncio.to_thread(held.wait, 30)
    other = connect(db_target)
    try:
        taken = other.execute("SELECT pg_try_advisory_lock(?)", (STORY_LOCK,)).fetchone()[0]
        assert taken is False
        release.set()
        await task
        taken = other.execute("SELECT pg_try_advisory_lock(?)", (STORY_LOCK,)).fetchone()[0]
        assert taken is True
    finally:
        release.set()
        other.close()
