"""The digest service and its ledger on a real temporary SQLite database (fake poster)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import DigestConfig
from bot.domain.digest import RunStatus, SubscriptionState
from bot.services.digest import (
    ChannelGone,
    InvalidDigestInput,
    PostForbidden,
    PostTransient,
    SubscriptionNotFound,
    TooManySubscriptions,
)
from bot.services.errors import NotFound
from bot.storage import digests as store
from bot.storage.db import open_database
from tests.support.digest import Article, Clock, Crash, FakePoster, ingest, make_service

GUILD, CHANNEL, OTHER = 100, 200, 300
# Subscriptions at 08:00 London; on 2024-06-03 that is 07:00 UTC.
DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1 - timedelta(days=1))


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()


async def subscribe(service, channel: int = CHANNEL, **kw):
    kw.setdefault("time", "08:00")
    kw.setdefault("timezone", "Europe/London")
    return await service.subscribe(guild_id=GUILD, channel_id=channel, **kw)


def story_ids(poster: FakePoster, channel: int = CHANNEL) -> list[int]:
    return [sid for p in poster.channel(channel) for sid in p.message.story_ids]


# -- subscriptions -------------------------------------------------------------------------------
async def test_subscribe_validates_and_caps(db, clock, tmp_path) -> None:
    await ingest(db, tmp_path / "a", [Article(1, DAY1, topics=("AI", "Chips"))], DAY1)
    service = make_service(db, clock, config=DigestConfig(max_subscriptions_per_guild=2))
    sub = await subscribe(service, topics="ai, chips", include="GPU, gpu", min_quality=50)
    assert sub.topics == ("AI", "Chips") and sub.include == ("gpu",)
    assert sub.name == "AI, Chips digest" and sub.time_text == "08:00"
    with pytest.raises(InvalidDigestInput, match="HH:MM"):
        await subscribe(service, time="8 am")
    with pytest.raises(InvalidDigestInput, match="time zone"):
        await subscribe(service, timezone="Europe/Londres")
    with pytest.raises(NotFound, match="No topic"):
        await subscribe(service, topics="Knitting")
    await subscribe(service)
    with pytest.raises(TooManySubscriptions):
        await subscribe(service, time="09:00")
    assert len(await service.subscriptions(GUILD)) == 2
    with pytest.raises(SubscriptionNotFound):
        await service.get(GUILD + 1, sub.id)  # another guild's digest is invisible


async def test_edit_resumes_and_notifies(db, clock) -> None:
    service = make_service(db, clock)
    changes: list = []
    service.add_listener(lambda sid, s: changes.append((sid, s and s.state)))
    sub = await subscribe(service)
    await db.run(
        lambda c: store.record_outcome(
            c,
            sub.id,
            state=SubscriptionState.PAUSED,
            failure_streak=3,
            last_failed_date=None,
            last_error="gone",
            last_run_at=clock(),
            last_outcome="x",
        )
    )
    edited = await service.edit(GUILD, sub.id, time="09:15", include="")
    assert edited.state is SubscriptionState.ACTIVE and edited.failure_streak == 0
    assert edited.time_text == "09:15" and edited.last_error is None
    await service.unsubscribe(GUILD, sub.id)
    assert changes == [(sub.id, "active"), (sub.id, "active"), (sub.id, None)]


# -- selection end to end ------------------------------------------------------------------------
async def test_first_digest_has_the_last_day_best_first_and_no_backlog(
    db, clock, poster, tmp_path
) -> None:
    await ingest(
        db, tmp_path / "old", [Article(1, DAY1 - timedelta(days=3))], DAY1 - timedelta(days=3)
    )
    await ingest(
        db,
        tmp_path / "backlog",
        [Article(2, datetime(2021, 5, 1, tzinfo=UTC))],
        DAY1 - timedelta(hours=2),
    )
    await ingest(
        db,
        tmp_path / "new",
        [
            Article(3, DAY1 - timedelta(hours=5), quality=60),
            Article(4, DAY1 - timedelta(hours=4), quality=95),
            Article(5, DAY1 - timedelta(hours=3), quality=80, topics=("Space",)),
        ],
        DAY1 - timedelta(hours=1),
    )
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service, topics="AI")
    clock.set(DAY1)
    result = await service.run_scheduled(sub.id, now=DAY1)
    assert result.status == "sent" and result.stories == 2
    titles = [e.title for p in poster.posts for e in p.message.embeds]
    assert len(titles) == 2 and "quasar" not in titles[0]  # story 4 (q95) ranks first
    assert poster.posts[0].message.content.startswith("**AI digest** · Monday 3 June 2024")
    again = await service.run_scheduled(sub.id, now=DAY1 + timedelta(minutes=5))
    assert again.status == "noop" and len(poster.posts) == 1  # one digest per local date


async def test_cross_day_dedupe_and_grown_story_not_repeated(db, clock, poster, tmp_path) -> None:
    await ingest(
        db, tmp_path / "d1", [Article(1, DAY1 - timedelta(hours=6))], DAY1 - timedelta(hours=5)
    )
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    await service.run_scheduled(sub.id, now=DAY1)
    first = story_ids(poster)
    assert len(first) == 1
    day2 = DAY1 + timedelta(days=1)
    # story 1 grows (another outlet, same words) and story 2 appears
    await ingest(
        db,
        tmp_path / "d2",
        [
            Article(1, day2 - timedelta(hours=20), provider="Other Outlet", suffix="again"),
            Article(2, day2 - timedelta(hours=3)),
        ],
        day2 - timedelta(hours=2),
    )
    await service.run_scheduled(sub.id, now=day2)
    second = story_ids(poster)[1:]
    assert len(second) == 1 and second[0] not in first
    # the other channel has not seen story 1
    other = await subscribe(service, channel=OTHER)
    clock.set(day2)
    await service.send_now(GUILD, other.id)
    assert set(story_ids(poster, OTHER)) == {*first, *second}


async def test_keyword_filters_end_to_end(db, clock, poster, tmp_path) -> None:
    await ingest(
        db,
        tmp_path / "k",
        [
            Article(1, DAY1 - timedelta(hours=3), excerpt="A new GPU for data centres."),
            Article(2, DAY1 - timedelta(hours=3), excerpt="A crypto exchange and a GPU."),
            Article(3, DAY1 - timedelta(hours=3), excerpt="Nothing relevant."),
        ],
        DAY1 - timedelta(hours=2),
    )
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service, include="gpu", exclude="Crypto")
    clock.set(DAY1)
    plan = await service.preview(GUILD, sub.id)
    assert len(plan.stories) == 1 and "data centres" in plan.stories[0].story.lead.excerpt
    assert poster.posts == []  # preview posts nothing


async def test_empty_day_is_recorded_and_optionally_noted(db, clock, poster) -> None:
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    result = await service.run_scheduled(sub.id, now=DAY1)
    assert result.status == "noop" and poster.posts == []
    run = await db.run(store.latest_runs, [sub.id])
    assert run[sub.id].status is RunStatus.EMPTY
    noting = make_service(db, clock, poster=poster, config=DigestConfig(post_when_empty=True))
    await noting.run_scheduled(sub.id, now=DAY1 + timedelta(days=1))
    assert len(poster.posts) == 1 and "nothing new today" in poster.posts[0].message.content


# -- exactly once --------------------------------------------------------------------------------
async def many_stories(db, tmp_path, n: int = 25, at: datetime = DAY1, first: int = 0) -> None:
    await ingest(
        db,
        tmp_path / "many",
        [Article(i, at - timedelta(hours=3), quality=50 + i) for i in range(first, first + n)],
        at - timedelta(hours=2),
    )


async def test_restart_mid_digest_resumes_with_the_remaining_messages(db, clock, tmp_path) -> None:
    await many_stories(db, tmp_path)
    crashing = FakePoster(crash_after=1)
    service = make_service(db, clock, poster=crashing)
    sub = await subscribe(service, max_stories=25)
    clock.set(DAY1)
    with pytest.raises(Crash):
        await service.run_scheduled(sub.id, now=DAY1)
    assert len(crashing.posts) == 1
    [run] = await db.run(store.open_runs)
    assert run.status is RunStatus.SENDING and len(run.messages) == 3
    assert run.sent_message_ids == (crashing.posts[0].message_id,)

    # "restart": a new service on the same database
    poster = FakePoster()
    restarted = make_service(db, clock, poster=poster)
    clock.advance(minutes=3)
    results = await restarted.catch_up()
    assert [r.status for r in results] == ["sent"]
    assert [p.nonce for p in poster.posts] == [f"nb{run.id}.1", f"nb{run.id}.2"]
    assert [p.message for p in poster.posts] == list(run.messages[1:])
    assert await restarted.catch_up() == []  # nothing more, ever
    assert len(poster.posts) == 2
    done = await db.run(store.get_run, run.id)
    assert done.status is RunStatus.SENT and len(done.sent_message_ids) == 3


@pytest.mark.parametrize(
    ("late", "expected"), [(timedelta(hours=5), "sent"), (timedelta(hours=7), "skipped")]
)
async def test_missed_run_inside_and_outside_grace(
    db, clock, poster, tmp_path, late, expected
) -> None:
    await many_stories(db, tmp_path, 3)
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    clock.set(DAY1 + late)  # the bot was down at 08:00
    results = await service.catch_up()
    assert [r.status for r in results] == ([expected] if expected == "sent" else [])
    assert await service.catch_up() == []  # sent late once, or skipped once
    [status] = await service.status(GUILD)
    assert status.last_run.status == RunStatus(expected)
    if expected == "skipped":
        assert poster.posts == [] and "grace" in status.last_run.error
        assert status.next_run == DAY1 + timedelta(days=1)
        # the skipped day's stories are still new for the next digest
        await service.run_scheduled(sub.id, now=DAY1 + timedelta(days=1))
        assert len(story_ids(poster)) == 3
    else:
        assert len(poster.posts) == 1


# -- failures ------------------------------------------------------------------------------------
async def test_forbidden_three_days_pauses_and_edit_resumes(
    db, clock, poster, tmp_path, caplog
) -> None:
    await many_stories(db, tmp_path, 2)
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    poster.failures[CHANNEL] = [PostForbidden("403 Missing Access (code 50001)")] * 3
    caplog.set_level(logging.WARNING)
    for day in range(3):
        result = await service.run_scheduled(sub.id, now=DAY1 + timedelta(days=day))
        assert result.status == "failed"
        current = await service.get(GUILD, sub.id)
        assert current.failure_streak == day + 1
        assert current.state is (
            SubscriptionState.PAUSED if day == 2 else SubscriptionState.FAILING
        )
        assert "Missing Access" in current.last_error
    assert f"guild {GUILD} channel {CHANNEL}" in caplog.text
    [status] = await service.status(GUILD)
    assert status.next_run is None and status.last_run.status is RunStatus.FAILED
    assert (await service.run_scheduled(sub.id, now=DAY1 + timedelta(days=3))).status == "noop"
    await service.edit(GUILD, sub.id)
    result = await service.run_scheduled(sub.id, now=DAY1 + timedelta(days=4))
    assert result.status == "sent" and result.stories == 2  # the failed days' stories
    assert (await service.get(GUILD, sub.id)).state is SubscriptionState.ACTIVE


async def test_channel_gone_pauses_at_once(db, clock, poster, tmp_path) -> None:
    await many_stories(db, tmp_path, 1)
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    poster.failures[CHANNEL] = [ChannelGone("404 Unknown Channel (code 10003)")]
    await service.run_scheduled(sub.id, now=DAY1)
    current = await service.get(GUILD, sub.id)
    assert current.state is SubscriptionState.PAUSED and "Unknown Channel" in current.last_error


async def test_transient_errors_are_retried_with_backoff(db, clock, tmp_path) -> None:
    await many_stories(db, tmp_path, 1)
    poster = FakePoster(failures={CHANNEL: [PostTransient("503"), PostTransient("502")]})
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    service = make_service(db, clock, poster=poster, retry_delays=(1.0, 2.0, 4.0))
    service.sleep = sleep
    sub = await subscribe(service)
    assert (await service.run_scheduled(sub.id, now=DAY1)).status == "sent"
    assert slept == [1.0, 2.0] and len(poster.posts) == 1
    # always failing: the run fails, the failed day is visible (failing), the error recorded
    poster.failures[CHANNEL] = [PostTransient("500 Internal Server Error")] * 10
    await many_stories(db, tmp_path / "more", 1, at=DAY1 + timedelta(days=1), first=100)
    result = await service.run_scheduled(sub.id, now=DAY1 + timedelta(days=1))
    assert result.status == "failed"
    current = await service.get(GUILD, sub.id)
    assert current.state is SubscriptionState.FAILING and "500" in current.last_error


async def test_one_failing_subscription_does_not_delay_others(db, clock, tmp_path) -> None:
    await many_stories(db, tmp_path, 2)
    gate = asyncio.Event()

    class SlowPoster(FakePoster):
        async def post(self, channel_id, message, *, nonce):
            if channel_id == CHANNEL:
                await gate.wait()  # a channel whose posts hang
                raise PostTransient("timeout")
            return await super().post(channel_id, message, nonce=nonce)

    poster = SlowPoster()
    service = make_service(db, clock, poster=poster, retry_delays=())
    stuck = await subscribe(service)
    fine = await subscribe(service, channel=OTHER)
    task = asyncio.create_task(service.run_scheduled(stuck.id, now=DAY1))
    result = await asyncio.wait_for(service.run_scheduled(fine.id, now=DAY1), 2)
    assert result.status == "sent" and not task.done()
    gate.set()
    assert (await task).status == "failed"
