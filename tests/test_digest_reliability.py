"""Issue 8, digest half: reservations (item 4), database faults at fire time (5), stories Discord
refuses (11), time-zone changes (13), long rate limits (17), and the input rules ("Also")."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import DigestConfig
from bot.domain.digest import RunStatus, SubscriptionState, previous_fire
from bot.services.digest import (
    DuplicateSubscription,
    InvalidDigestInput,
    PostForbidden,
    PostRejected,
    PostTransient,
)
from bot.storage import digests as store
from bot.storage.db import open_database
from tests.support.digest import Article, Clock, FakePoster, ingest, make_service
from tests.support.digest_faults import ClockSleep, DatabaseFaultAt

GUILD, CHANNEL = 100, 200
DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 London


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1 - timedelta(days=1))


async def stories(db, tmp_path: Path, n: int, at: datetime = DAY1, first: int = 0) -> None:
    await ingest(
        db,
        tmp_path / f"s{first}",
        [Article(i, at - timedelta(hours=3), quality=50 + i) for i in range(first, first + n)],
        at - timedelta(hours=2),
    )


async def subscribe(service, **kw):
    kw.setdefault("time", "08:00")
    kw.setdefault("timezone", "Europe/London")
    kw.setdefault("channel_id", CHANNEL)
    return await service.subscribe(guild_id=GUILD, **kw)


def posted_ids(poster: FakePoster) -> list[int]:
    return [sid for p in poster.channel(CHANNEL) for sid in p.message.story_ids]


# -- item 4: planned stories are reserved for the channel ----------------------------------------
async def test_two_digests_of_a_channel_due_the_same_minute_never_share_a_story(
    db, clock, tmp_path
) -> None:
    await stories(db, tmp_path, 6)
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    a = await subscribe(service, name="A")
    b = await subscribe(service, name="B", max_stories=5)
    # both planned (claimed) before either posts, as when both fire in the same minute
    planned_a = await service.plan_scheduled(a.id, now=DAY1)
    planned_b = await service.plan_scheduled(b.id, now=DAY1)
    assert planned_a is not None and planned_b is not None
    assert not set(planned_a[1].story_ids) & set(planned_b[1].story_ids)
    await service.deliver(*planned_b)
    await service.deliver(*planned_a)
    ids = posted_ids(poster)
    assert len(ids) == len(set(ids)) == 6


async def test_send_now_while_the_scheduled_run_is_in_flight_posts_nothing_twice(
    db, clock, tmp_path
) -> None:
    await stories(db, tmp_path, 3)
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    clock.set(DAY1)
    planned = await service.plan_scheduled(sub.id, now=DAY1)  # claimed, not yet posted
    assert planned is not None and len(planned[1].story_ids) == 3
    manual = await service.send_now(GUILD, sub.id)
    assert manual.status == "empty" and poster.posts == []
    assert (await service.deliver(*planned)).status == "sent"
    ids = posted_ids(poster)
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 3


async def test_a_failed_run_releases_the_stories_it_did_not_post(db, clock, tmp_path) -> None:
    await stories(db, tmp_path, 3)
    poster = FakePoster(failures={CHANNEL: [PostForbidden("403 Missing Permissions")]})
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    clock.set(DAY1)
    assert (await service.run_scheduled(sub.id, now=DAY1)).status == "failed"
    assert await db.run(store.reserved_story_ids, CHANNEL) == set()
    result = await service.send_now(GUILD, sub.id)
    assert result.status == "sent" and result.stories == 3


# -- item 5: a database error at fire time -------------------------------------------------------
async def test_a_database_error_at_fire_time_is_retried_within_grace(db, clock, tmp_path) -> None:
    await stories(db, tmp_path, 2)
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    sleep = ClockSleep(clock)
    service.sleep = sleep
    service.delivery.checkpoint = DatabaseFaultAt("plan", times=2)
    sub = await subscribe(service)
    clock.set(DAY1)
    result = await service.run_scheduled(sub.id)
    assert result.status == "sent" and result.stories == 2
    assert sleep.slept == list(service.plan_retry_delays[:2])


async def test_a_fire_that_keeps_hitting_a_database_error_is_recorded(
    db, clock, tmp_path, caplog
) -> None:
    await stories(db, tmp_path, 2)
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    service.sleep = ClockSleep(clock)
    fault = DatabaseFaultAt("plan", times=None)
    service.delivery.checkpoint = fault
    sub = await subscribe(service)
    clock.set(DAY1)
    with caplog.at_level(logging.WARNING):
        result = await service.run_scheduled(sub.id)
    assert result.status == "failed" and "database is locked" in result.error
    assert clock() <= DAY1 + service.grace  # gave up within the grace period
    assert poster.posts == [] and fault.hits > 1
    [status] = await service.status(GUILD)
    assert status.last_run is not None and status.last_run.status is RunStatus.FAILED
    assert "database is locked" in status.last_run.error
    assert status.subscription.state is SubscriptionState.FAILING
    assert any(
        r.levelno == logging.ERROR and "database is locked" in r.message for r in caplog.records
    )
    # the stories are not lost: the next day's digest has them
    service.delivery.checkpoint = lambda step: None
    day2 = DAY1 + timedelta(days=1)
    clock.set(day2)
    assert (await service.run_scheduled(sub.id)).stories == 2


# -- item 11: one story Discord refuses ----------------------------------------------------------
class RefusingPoster(FakePoster):
    """Refuses (400) any message holding story ``bad``; names its embed when ``name_it``."""

    def __init__(self, bad: int, name_it: bool) -> None:
        super().__init__()
        self.bad = bad
        self.name_it = name_it
        self.refused = 0

    async def post(self, channel_id, message, *, nonce):
        if self.bad in message.story_ids:
            self.refused += 1
            where = f"In embeds.{message.story_ids.index(self.bad)}.url: " if self.name_it else ""
            raise PostRejected(f"400 Bad Request (code 50035) {where}Not a well formed URL.")
        return await super().post(channel_id, message, nonce=nonce)


@pytest.mark.parametrize("name_it", [True, False])
async def test_one_refused_story_is_dropped_and_the_rest_posted(
    db, clock, tmp_path, name_it
) -> None:
    await stories(db, tmp_path, 7)
    service = make_service(db, clock)
    sub = await subscribe(service)
    clock.set(DAY1)
    planned = await service.plan_scheduled(sub.id, now=DAY1)
    assert planned is not None
    bad = planned[1].story_ids[4]
    poster = RefusingPoster(bad, name_it)
    service.poster = poster
    result = await service.deliver(*planned)
    assert result.status == "sent" and result.dropped == (bad,)
    ids = posted_ids(poster)
    assert sorted(ids) == sorted(set(planned[1].story_ids) - {bad})
    assert poster.refused <= 4  # bounded: named at once, or found by halving
    if name_it:  # found at once: the header counts what is posted
        assert "6 stories" in poster.posts[0].message.content
    run = await db.run(store.get_run, result.run_id)
    assert run.status is RunStatus.SENT and f"dropped story #{bad}" in run.error
    current = await service.get(GUILD, sub.id)
    assert current.state is SubscriptionState.ACTIVE and f"#{bad}" in current.last_outcome
    assert bad not in await db.run(store.sent_story_ids, CHANNEL, DAY1 - timedelta(days=1))


async def test_failed_days_are_visible_and_pause_after_three(db, clock, tmp_path) -> None:
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    sub = await subscribe(service)
    states = []
    for day in range(3):
        at = DAY1 + timedelta(days=day)
        await stories(db, tmp_path, 1, at=at, first=10 * day)
        poster.failures[CHANNEL] = [PostTransient("503 Service Unavailable")] * 10
        clock.set(at)
        assert (await service.run_scheduled(sub.id)).status == "failed"
        states.append((await service.get(GUILD, sub.id)).state)
    assert states == [
        SubscriptionState.FAILING,
        SubscriptionState.FAILING,
        SubscriptionState.PAUSED,
    ]


# -- item 13: time-zone changes across the date line ---------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"),
    [("Asia/Tokyo", "America/Los_Angeles"), ("America/Los_Angeles", "Asia/Tokyo")],
)
async def test_changing_the_zone_across_the_date_line_posts_the_next_digest_once(
    db, clock, tmp_path, first, second
) -> None:
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    await stories(db, tmp_path, 1, at=datetime(2024, 6, 3, 12, 0, tzinfo=UTC))
    clock.set(datetime(2024, 6, 3, 12, 0, tzinfo=UTC))
    sub = await subscribe(service, timezone=first)
    fire1 = previous_fire(sub.time, sub.zone, clock() + timedelta(days=1))
    clock.set(fire1)
    assert (await service.run_scheduled(sub.id)).status == "sent"
    edited = await service.edit(GUILD, sub.id, timezone=second)
    fire2 = previous_fire(edited.time, edited.zone, fire1 + timedelta(days=1))
    assert fire2 > fire1
    await stories(db, tmp_path, 1, at=fire2 - timedelta(minutes=30), first=50)
    clock.set(fire2)
    result = await service.run_scheduled(edited.id)
    assert result.status == "sent" and result.stories == 1
    assert (await service.run_scheduled(edited.id)).status == "noop"  # once
    ids = posted_ids(poster)
    assert len(ids) == len(set(ids)) == 2 and len(poster.posts) == 2


# -- item 17: a run that cannot post within its bound --------------------------------------------
async def test_a_run_that_cannot_post_is_retried_later_within_grace_with_its_reason(
    db, clock, tmp_path
) -> None:
    await stories(db, tmp_path, 2)
    poster = FakePoster(failures={CHANNEL: [PostTransient("rate limited for 86400 s")] * 8})
    service = make_service(db, clock, poster=poster, later_delays=(3600.0,))
    seen = []

    async def check(n: int) -> None:
        [status] = await service.status(GUILD)
        seen.append((status.last_run.status, status.last_run.error))

    sleep = ClockSleep(clock)
    service.sleep = sleep
    sub = await subscribe(service)
    clock.set(DAY1)
    task_result = await service.run_scheduled(sub.id)
    assert task_result.status == "sent"  # the 8 refusals ran out within the grace period
    run = await db.run(store.get_run, task_result.run_id)
    assert run.error is None  # the retry note is gone once delivered
    assert 3600.0 in sleep.slept


async def test_a_run_still_blocked_at_the_end_of_grace_fails_with_the_reason(
    db, clock, tmp_path
) -> None:
    await stories(db, tmp_path, 2)
    poster = FakePoster(failures={CHANNEL: [PostTransient("rate limited for 86400 s")] * 1000})
    service = make_service(db, clock, poster=poster, later_delays=(3600.0,))
    service.sleep = ClockSleep(clock)
    sub = await subscribe(service)
    clock.set(DAY1)
    result = await service.run_scheduled(sub.id)
    assert result.status == "failed" and "rate limited for 86400 s" in result.error
    assert clock() <= DAY1 + service.grace
    current = await service.get(GUILD, sub.id)
    assert current.state is SubscriptionState.FAILING and "86400" in current.last_error
    assert await db.run(store.reserved_story_ids, CHANNEL) == set()


# -- the input rules -----------------------------------------------------------------------------
async def test_max_stories_zero_is_refused_not_replaced(db, clock) -> None:
    service = make_service(db, clock)
    with pytest.raises(InvalidDigestInput, match="between 1 and 25"):
        await subscribe(service, max_stories=0)
    sub = await subscribe(service)
    with pytest.raises(InvalidDigestInput, match="between 1 and 25"):
        await service.edit(GUILD, sub.id, max_stories=0)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "LOCALTIME"])
async def test_non_zones_are_refused(db, clock, zone) -> None:
    service = make_service(db, clock)
    with pytest.raises(InvalidDigestInput, match="not a time zone"):
        await subscribe(service, timezone=zone)
    assert (await subscribe(service, timezone="utc")).timezone == "UTC"


async def test_echoed_input_is_escaped(db, clock) -> None:
    service = make_service(db, clock)
    with pytest.raises(InvalidDigestInput) as err:
        await subscribe(service, timezone="**@everyone**")
    text = str(err.value)
    assert "@everyone" not in text and "**" not in text and "\\*\\*" in text
    with pytest.raises(InvalidDigestInput) as err:
        await subscribe(service, time="<@123>")
    assert "<@" not in str(err.value)


async def test_an_identical_second_subscription_is_refused_naming_the_first(db, clock) -> None:
    service = make_service(db, clock)
    first = await subscribe(service, topics=None, include="gpu, model", name="*Morning*")
    with pytest.raises(DuplicateSubscription, match=f"Digest #{first.id}") as err:
        await subscribe(service, include="model, gpu", name="Other name")
    assert "\\*Morning\\*" in str(err.value)
    other = await subscribe(service, include="gpu", name="Other")  # different filter: fine
    with pytest.raises(DuplicateSubscription):
        await service.edit(GUILD, other.id, include="gpu, model")
    assert len(await service.subscriptions(GUILD)) == 2


async def test_default_max_stories_still_applies(db, clock) -> None:
    service = make_service(db, clock, config=DigestConfig(default_max_stories=7))
    assert (await subscribe(service)).max_stories == 7


async def test_a_restart_after_a_zone_change_does_not_post_the_new_zones_past_fire(
    db, clock, tmp_path
) -> None:
    poster = FakePoster()
    service = make_service(db, clock, poster=poster)
    start = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    await stories(db, tmp_path, 1, at=start)
    clock.set(start)
    sub = await subscribe(service, timezone="Asia/Tokyo")  # 08:00 JST = 23:00 UTC
    clock.set(datetime(2024, 6, 3, 23, 0, tzinfo=UTC))
    assert (await service.run_scheduled(sub.id)).status == "sent"
    # edited at 16:00 UTC, after 08:00 in Los Angeles (15:00 UTC): that fire was never due
    clock.set(datetime(2024, 6, 4, 16, 0, tzinfo=UTC))
    await service.edit(GUILD, sub.id, timezone="America/Los_Angeles")
    await stories(db, tmp_path, 1, at=datetime(2024, 6, 4, 14, 0, tzinfo=UTC), first=50)
    clock.set(datetime(2024, 6, 4, 17, 0, tzinfo=UTC))  # a restart an hour later
    assert await make_service(db, clock, poster=poster).catch_up() == []
    assert len(poster.posts) == 1
