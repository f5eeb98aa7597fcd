"""The scheduler: DST-correct triggers, jobs rebuilt from the database, rescheduling at once,
and the job body run with a controllable clock (no real waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.digest import parse_time
from bot.scheduler import DigestScheduler, DigestTrigger, job_id
from bot.storage.db import open_database
from tests.support.digest import Clock, FakePoster, make_service

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fire_times(trigger: DigestTrigger, start: datetime, n: int) -> list[datetime]:
    """Fire times as APScheduler asks for them: (previous fire time, now just after it)."""
    out, previous, now = [], None, start
    for _ in range(n):
        fire = trigger.get_next_fire_time(previous, now)
        out.append(fire.astimezone(UTC))
        previous, now = fire, fire.astimezone(UTC) + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("zone", "hhmm", "start", "expected"),
    [
        # London spring forward (31 Mar 2024): 01:30 does not exist -> 02:00 BST (01:00 UTC)
        (
            LONDON,
            "01:30",
            utc(2024, 3, 29, 12),
            [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)],
        ),
        # London fall back (27 Oct 2024): 01:30 happens twice -> runs once, the first time
        (
            LONDON,
            "01:30",
            utc(2024, 10, 25, 12),
            [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)],
        ),
        (
            LONDON,
            "08:00",
            utc(2024, 10, 25, 12),
            [utc(2024, 10, 26, 7), utc(2024, 10, 27, 8), utc(2024, 10, 28, 8)],
        ),
        # New York spring forward (10 Mar 2024): 02:30 does not exist -> 03:00 EDT (07:00 UTC)
        (
            NEW_YORK,
            "02:30",
            utc(2024, 3, 8, 12),
            [utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7, 0), utc(2024, 3, 11, 6, 30)],
        ),
        # New York fall back (3 Nov 2024): 01:30 twice -> once, at 01:30 EDT (05:30 UTC)
        (
            NEW_YORK,
            "01:30",
            utc(2024, 11, 1, 12),
            [utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)],
        ),
        (
            NEW_YORK,
            "09:00",
            utc(2024, 3, 8, 20),
            [utc(2024, 3, 9, 14), utc(2024, 3, 10, 13), utc(2024, 3, 11, 13)],
        ),
    ],
)
def test_trigger_fire_times_across_dst(zone, hhmm, start, expected) -> None:
    trigger = DigestTrigger(parse_time(hhmm), zone)
    assert fire_times(trigger, start, 3) == expected


def test_trigger_coalesces_missed_runs_like_cron() -> None:
    trigger = DigestTrigger(parse_time("08:00"), LONDON)
    # APScheduler asks with the previous fire time when runs were missed
    missed = trigger.get_next_fire_time(utc(2024, 6, 1, 7), utc(2024, 6, 4, 12))
    assert missed.astimezone(UTC) == utc(2024, 6, 2, 7)


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


async def test_jobs_rebuilt_at_start_and_rescheduled_at_once(db) -> None:
    clock = Clock(utc(2024, 6, 3, 12))
    service = make_service(db, clock, poster=FakePoster())
    first = await service.subscribe(
        guild_id=1, channel_id=2, time="08:00", timezone="Europe/London"
    )
    second = await service.subscribe(
        guild_id=1, channel_id=3, time="07:00", timezone="America/New_York"
    )
    scheduler = DigestScheduler(service, clock=clock, scheduler=AsyncIOScheduler(timezone=UTC))
    await scheduler.start(catch_up=False)
    try:
        assert {j.id for j in scheduler.scheduler.get_jobs()} == {
            job_id(first.id),
            job_id(second.id),
        }
        job = scheduler.scheduler.get_job(job_id(first.id))
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time is None
        await service.edit(1, first.id, time="21:45", timezone="Asia/Tokyo")
        trigger = scheduler.scheduler.get_job(job_id(first.id)).trigger
        assert str(trigger) == "daily[21:45 Asia/Tokyo]"
        third = await service.subscribe(guild_id=1, channel_id=4, time="06:00", timezone="UTC")
        assert scheduler.scheduler.get_job(job_id(third.id)) is not None
        await service.unsubscribe(1, second.id)
        assert scheduler.scheduler.get_job(job_id(second.id)) is None
    finally:
        await scheduler.stop()


async def test_job_runs_with_the_injected_clock(db) -> None:
    clock = Clock(utc(2024, 6, 2, 12))
    poster = FakePoster()
    from bot.config import DigestConfig

    service = make_service(db, clock, poster=poster, config=DigestConfig(post_when_empty=True))
    sub = await service.subscribe(guild_id=1, channel_id=2, time="08:00", timezone="Europe/London")
    scheduler = DigestScheduler(service, clock=clock)
    clock.set(utc(2024, 6, 3, 7, 0, 2))  # 08:00:02 BST
    result = await scheduler.run_job(sub.id)
    assert result.status == "sent" and len(poster.posts) == 1
    assert "Monday 3 June 2024" in poster.posts[0].message.content
    assert (await scheduler.run_job(sub.id)).status == "noop"  # APScheduler firing twice
    # a job that throws is logged and reported, never raised into the scheduler
    await db.run(lambda c: c.execute("DROP TABLE digest_messages"))
    clock.set(utc(2024, 6, 4, 7))
    assert (await scheduler.run_job(sub.id)).status == "error"


async def test_stop_mid_digest_leaves_it_open_and_a_restart_finishes_it(db, tmp_path) -> None:
    import asyncio

    from bot.storage import digests as store
    from tests.support.digest import Article, ingest

    day = utc(2024, 6, 3, 7)
    await ingest(
        db,
        tmp_path / "s",
        [Article(i, day - timedelta(hours=3)) for i in range(25)],
        day - timedelta(hours=2),
    )
    clock = Clock(day - timedelta(hours=1))
    first_posted = asyncio.Event()

    class Hanging(FakePoster):
        async def post(self, channel_id, message, *, nonce):
            if self.posts:
                first_posted.set()
                await asyncio.Event().wait()  # message 2 hangs until cancelled
            return await super().post(channel_id, message, nonce=nonce)

    poster = Hanging()
    service = make_service(db, clock, poster=poster)
    sub = await service.subscribe(
        guild_id=1, channel_id=2, time="08:00", timezone="Europe/London", max_stories=25
    )
    scheduler = DigestScheduler(service, clock=clock)
    clock.set(day)
    job = asyncio.create_task(scheduler.run_job(sub.id))
    await asyncio.wait_for(first_posted.wait(), 2)
    await scheduler.stop()  # shutdown while message 2 of 3 is in flight
    assert job.cancelled()
    [run] = await db.run(store.open_runs)
    assert len(run.sent_message_ids) == 1 and len(poster.posts) == 1

    after = FakePoster()
    restarted = make_service(db, clock, poster=after)
    clock.advance(minutes=1)
    assert [r.status for r in await DigestScheduler(restarted, clock=clock).catch_up()] == ["sent"]
    assert [p.nonce for p in after.posts] == [f"nb{run.id}.1", f"nb{run.id}.2"]
