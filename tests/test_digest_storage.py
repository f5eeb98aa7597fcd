"""Digest storage on a real temporary database with the real migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.domain import digest as d
from bot.domain import digest_messages as m
from bot.storage import digests as store
from bot.storage.db import integrity_errors, open_database

NOW = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


def draft(guild: int = 1, channel: int = 2) -> d.Subscription:
    return d.Subscription(
        0,
        guild,
        channel,
        "Morning",
        time(8, 0),
        "Europe/London",
        topics=("AI",),
        min_quality=40,
        include=("gpu",),
        exclude=("crypto",),
    )


def plan(n: int) -> tuple[m.MessagePlan, ...]:
    return tuple(
        m.MessagePlan("head" if i == 0 else None, (m.EmbedSpec(f"story {i}"),), (100 + i,))
        for i in range(n)
    )


async def new_run(db, sub_id: int, channel: int = 2, day: date = date(2024, 6, 3), n: int = 3):
    window = d.digest_window(None, NOW)
    return await db.run(
        lambda c: store.insert_run(
            c,
            subscription_id=sub_id,
            local_date=day,
            kind="scheduled",
            channel_id=channel,
            scheduled_for=NOW,
            window=window,
            status=d.RunStatus.PLANNED,
            story_ids=[100 + i for i in range(n)],
            messages=plan(n),
            error=None,
            now=NOW,
        )
    )


async def test_subscription_round_trip_and_cap(db) -> None:
    sub = await db.run(store.insert_subscription, draft(), NOW, 2)
    assert sub.id > 0 and sub.created_at == NOW
    assert (sub.topics, sub.include, sub.exclude, sub.time) == (
        ("AI",),
        ("gpu",),
        ("crypto",),
        time(8, 0),
    )
    await db.run(store.insert_subscription, draft(), NOW, 2)
    assert await db.run(store.insert_subscription, draft(), NOW, 2) is None  # cap reached
    assert await db.run(store.insert_subscription, draft(guild=9), NOW, 2) is not None
    assert len(await db.run(store.list_subscriptions, 1)) == 2
    assert len(await db.run(store.list_subscriptions, None)) == 3


async def test_ledger_is_unique_per_subscription_and_fire_instant(db) -> None:
    sub = await db.run(store.insert_subscription, draft(), NOW, None)
    run, created = await new_run(db, sub.id)
    again, created_again = await new_run(db, sub.id)
    assert created and not created_again and again.id == run.id
    assert run.messages == plan(3) and run.remaining == (0, 1, 2)
    with pytest.raises(integrity_errors()):
        await db.run(
            lambda c: c.execute(
                "INSERT INTO digest_runs(subscription_id, local_date, kind, channel_id, "
                "scheduled_for, window_start, window_end, status, created_at, updated_at) "
                "VALUES (?, '2024-06-04', 'scheduled', 2, ?, 0, 0, 'planned', 0, 0)",
                (sub.id, int(NOW.timestamp())),
            )
        )


async def test_messages_are_recorded_one_by_one(db) -> None:
    sub = await db.run(store.insert_subscription, draft(), NOW, None)
    run, _ = await new_run(db, sub.id)
    await db.run(store.record_message, run, 0, 555, NOW)
    run = await db.run(store.get_run, run.id)
    assert run.status is d.RunStatus.SENDING and run.sent_message_ids == (555,)
    assert run.remaining == (1, 2)
    assert [r.id for r in await db.run(store.open_runs)] == [run.id]
    assert await db.run(store.sent_story_ids, 2, NOW - timedelta(days=1)) == {100}
    await db.run(store.record_message, run, 1, 556, NOW)
    await db.run(store.record_message, run, 2, 557, NOW)
    run = await db.run(store.get_run, run.id)
    assert run.status is d.RunStatus.SENDING and run.remaining == ()  # until marked sent
    assert await db.run(store.previous_window_end, sub.id) is None
    await db.run(store.mark_sent, run.id, None, NOW)
    run = await db.run(store.get_run, run.id)
    assert run.status is d.RunStatus.SENT and await db.run(store.open_runs) == []
    assert await db.run(store.previous_window_end, sub.id) == NOW


async def test_sent_stories_follow_merges(db) -> None:
    await db.run(
        lambda c: c.executemany(
            "INSERT INTO digest_sent_stories(channel_id, story_id, sent_at) VALUES (?, ?, ?)",
            [
                (2, 5, int(NOW.timestamp())),
                (2, 6, int(NOW.timestamp())),
                (3, 7, int(NOW.timestamp())),
            ],
        )
    )
    await db.run(lambda c: c.execute("INSERT INTO story_aliases(old_id, new_id) VALUES (5, 9)"))
    assert await db.run(store.sent_story_ids, 2, NOW - timedelta(days=1)) == {9, 6}
    assert await db.run(store.sent_story_ids, 2, NOW + timedelta(days=1)) == set()


async def test_deleting_a_subscription_removes_its_ledger(db) -> None:
    sub = await db.run(store.insert_subscription, draft(), NOW, None)
    await new_run(db, sub.id)
    assert await db.run(store.delete_subscription, sub.id)
    assert await db.run(store.open_runs) == []
