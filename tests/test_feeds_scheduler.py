"""The feed poll job of bot.scheduler: config sync at start, one job, failures contained."""

from __future__ import annotations

import asyncio
import logging

from bot.config import FeedSourceConfig
from bot.scheduler import FeedScheduler


class FakeFeeds:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.synced: list = []
        self.polls = 0

    async def sync_config(self, sources):
        self.synced.append(tuple(sources))
        return (len(sources), 0, 0)

    async def poll(self, refs=None):
        self.polls += 1
        if self.fail:
            raise RuntimeError("boom")
        return "report"


async def test_start_syncs_config_and_schedules_one_job():
    service = FakeFeeds()
    sources = (FeedSourceConfig("https://a.example.com/f"),)
    poller = FeedScheduler(service, sources, tick_seconds=3600)  # type: ignore[arg-type]
    await poller.start()
    try:
        assert service.synced == [sources]
        [job] = poller.scheduler.get_jobs()
        assert job.id == FeedScheduler.JOB_ID and job.max_instances == 1 and job.coalesce
        assert await poller.run_job() == "report"
    finally:
        await poller.stop()
    await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
    assert not poller.scheduler.running


async def test_a_failed_poll_is_logged_and_the_job_survives(caplog):
    poller = FeedScheduler(FakeFeeds(fail=True), tick_seconds=3600)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        assert await poller.run_job() is None
    assert "feed poll failed" in caplog.text


class SlowFeeds(FakeFeeds):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def poll(self, refs=None):
        await self.release.wait()
        return "report"


async def test_readiness_names_a_stuck_or_overdue_poll():
    now = [1000.0]
    service = SlowFeeds()
    poller = FeedScheduler(service, tick_seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await poller.check() is None  # nothing polled yet: not a failure
    running = asyncio.ensure_future(poller.run_job())
    await asyncio.sleep(0)
    now[0] += 10
    assert await poller.check() is None  # a poll under way is fine
    now[0] += FeedScheduler.STUCK_SECONDS
    problem = await poller.check()
    assert problem is not None and "running for 30 min" in problem
    service.release.set()
    assert await running == "report"
    now[0] += 1
    assert await poller.check() is not None  # finished, but the next tick is long overdue
    assert "no feed poll for" in (await poller.check() or "")
    await poller.run_job()
    assert await poller.check() is None
