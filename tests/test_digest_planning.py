"""Planning scheduled digests in batches (bot/services/digest_planning.py, bot/storage/
digest_batch.py) on both backends: the bulk reads say what the one-key reads say, fires asked for
together are planned in few hops with the same outcome as one by one, a fire another process
planned meanwhile is read back, and a failing batch reaches only the caller whose fire failed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import DigestConfig
from bot.domain.digest import RunStatus
from bot.services import digest_planning as planning
from bot.services.digest_planning import Fire, PlanBatcher
from bot.storage import digest_batch as batch
from bot.storage import digests as store
from bot.storage.db import open_database
from tests.support.digest import Article, Clock, FakePoster, ingest, make_service
from tests.support.digest_faults import DatabaseFaultAt

GUILD, CHANNEL, OTHER = 100, 200, 300
DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 London


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1 - timedelta(days=1))


async def setup(db, clock, tmp_path, n_stories: int = 12):
    await ingest(
        db,
        tmp_path / "s",
        [Article(i, DAY1 - timedelta(hours=3), quality=50 + i) for i in range(n_stories)],
        DAY1 - timedelta(hours=2),
    )
    config = DigestConfig(max_subscriptions_per_guild=100)
    return make_service(db, clock, poster=FakePoster(), config=config)


async def subscribe(service, channel: int, **kw):
    kw.setdefault("time", "08:00")
    kw.setdefault("timezone", "Europe/London")
    return await service.subscribe(guild_id=GUILD, channel_id=channel, **kw)


def counting_hops(service) -> list[int]:
    """Patch the service's ledger so that every planning hop records its batch size."""
    sizes: list[int] = []
    unit = service.ledger.unit

    async def counted(fn, *args):
        if fn is planning.plan_fires:
            sizes.append(len(args[1]))
        return await unit(fn, *args)

    service.ledger.unit = counted
    return sizes


async def test_the_bulk_reads_say_what_the_one_key_reads_say(db, clock, tmp_path) -> None:
    service = await setup(db, clock, tmp_path)
    a = await subscribe(service, CHANNEL, max_stories=3)
    b = await subscribe(service, CHANNEL, max_stories=2, time="09:00")
    c = await subscribe(service, OTHER, max_stories=4)
    clock.set(DAY1)
    assert (await service.run_scheduled(a.id)).status == "sent"
    later = DAY1 + timedelta(hours=1)  # b's 09:00 London
    planned = await service.plan_scheduled(b.id, now=later)  # open: its stories reserved
    assert planned is not None
    subs = [a.id, b.id, c.id, 999]
    fires = [(a.id, DAY1), (b.id, planned[1].scheduled_for), (c.id, DAY1)]

    def reads(conn):
        since = DAY1 - timedelta(days=60)
        return (
            batch.get_subscriptions(conn, subs),
            {s: store.get_subscription(conn, s) for s in subs},
            batch.scheduled_runs(conn, fires),
            {(s, int(at.timestamp())): store.scheduled_run(conn, s, at) for s, at in fires},
            batch.window_history(conn, subs),
            {s: (store.previous_window_end(conn, s), store.first_attempt(conn, s)) for s in subs},
            batch.sent_story_ids(conn, [CHANNEL, OTHER], since),
            {ch: store.sent_story_ids(conn, ch, since) for ch in (CHANNEL, OTHER)},
            batch.reserved_story_ids(conn, [CHANNEL, OTHER]),
            {ch: store.reserved_story_ids(conn, ch) for ch in (CHANNEL, OTHER)},
            batch.open_runs_by_id(conn, [planned[1].id, 999]),
        )

    (
        subs_b,
        subs_1,
        runs_b,
        runs_1,
        hist_b,
        hist_1,
        sent_b,
        sent_1,
        res_b,
        res_1,
        open_,
    ) = await db.run(reads)
    assert subs_b == {k: v for k, v in subs_1.items() if v is not None}
    assert runs_b == {k: v for k, v in runs_1.items() if v is not None} and len(runs_b) == 2
    assert hist_b == {k: v for k, v in hist_1.items() if v != (None, None)}
    assert sent_b == sent_1 and sent_b[CHANNEL] and not sent_b[OTHER]
    assert res_b == res_1 and res_b[CHANNEL] == set(planned[1].story_ids)
    assert open_ == [(subs_1[b.id], planned[1])]


async def test_fires_asked_together_are_planned_in_few_hops_as_one_by_one(
    db, clock, tmp_path
) -> None:
    service = await setup(db, clock, tmp_path)
    subs = [await subscribe(service, CHANNEL + i, max_stories=1 + i % 5) for i in range(40)]
    # two digests of one channel: the second must not pick what the first reserved
    twins = [await subscribe(service, OTHER, max_stories=5 - i) for i in range(2)]
    sizes = counting_hops(service)
    clock.set(DAY1)
    ids = [s.id for s in [*subs, *twins]]
    planned = await asyncio.gather(*(service.plan_scheduled(i) for i in ids))
    assert sum(sizes) == len(ids) and len(sizes) <= 4  # batches of 8, 16, 32...
    assert sizes[0] == planning.FIRST_BATCH
    runs = [p[1] for p in planned if p is not None]
    assert [r.subscription_id for r in runs] == ids
    assert all(r.status is RunStatus.PLANNED and r.scheduled_for == DAY1 for r in runs)
    first, second = runs[-2], runs[-1]
    assert len(first.story_ids) == 5 and len(second.story_ids) == 4
    assert not set(first.story_ids) & set(second.story_ids)
    # each digest full, and recorded as returned
    for sub, run in zip(subs, runs, strict=False):
        assert len(run.story_ids) == sub.max_stories
        assert run == await db.run(store.get_run, run.id)
    # asked again: the recorded runs, nothing new
    again = await asyncio.gather(*(service.plan_scheduled(i) for i in ids))
    assert [p[1].id for p in again if p is not None] == [r.id for r in runs]
    assert (await db.fetchone("SELECT count(*) FROM digest_runs"))[0] == len(ids)


async def test_a_fire_planned_meanwhile_by_another_process_is_read_back(
    db, db_target, clock, tmp_path, monkeypatch
) -> None:
    service = await setup(db, clock, tmp_path)
    a = await subscribe(service, CHANNEL)
    b = await subscribe(service, OTHER)
    clock.set(DAY1)
    async with open_database(db_target) as other_db:
        other = make_service(other_db, clock, poster=FakePoster())
        theirs = await other.plan_scheduled(a.id)
    assert theirs is not None
    # the batch reads its existing runs first; make it miss this one, as a race would
    real = batch.scheduled_runs
    calls = []

    def blind(conn, keys):
        calls.append(len(keys))
        return {} if len(calls) == 1 else real(conn, keys)

    monkeypatch.setattr(batch, "scheduled_runs", blind)
    planned = await asyncio.gather(service.plan_scheduled(a.id), service.plan_scheduled(b.id))
    assert len(calls) == 2  # rolled back and planned again
    assert planned[0] is not None and planned[0][1] == theirs[1]
    assert planned[1] is not None and planned[1][1].status is RunStatus.PLANNED
    rows = await db.fetchall("SELECT subscription_id FROM digest_runs ORDER BY subscription_id")
    assert [r[0] for r in rows] == [a.id, b.id]


async def test_a_failing_batch_reaches_only_the_caller_whose_fire_failed(
    db, clock, tmp_path
) -> None:
    service = await setup(db, clock, tmp_path)
    subs = [await subscribe(service, CHANNEL + i) for i in range(3)]
    sizes = counting_hops(service)
    fault = DatabaseFaultAt("plan", times=2)  # the batch, then the first fire alone
    service.delivery.checkpoint = fault
    clock.set(DAY1)
    results = await asyncio.gather(
        *(service.plan_scheduled(s.id) for s in subs), return_exceptions=True
    )
    assert sizes == [3, 1, 1, 1]
    assert isinstance(results[0], store.LedgerUnavailable)
    assert [r[1].status for r in results[1:]] == [RunStatus.PLANNED, RunStatus.PLANNED]


async def test_the_batcher_leaves_out_callers_that_stopped_waiting() -> None:
    seen: list[list[int]] = []

    async def run_batch(fires):
        seen.append([f.sub_id for f in fires])
        await asyncio.sleep(0.01)
        return [(None, None) for _ in fires]

    batcher = PlanBatcher(run_batch, first_batch=1, max_batch=4)
    now = DAY1
    tasks = [asyncio.create_task(batcher.plan(Fire(i, None, now))) for i in range(6)]
    await asyncio.sleep(0)
    await asyncio.sleep(0.001)  # the first batch (fire 0) is being planned
    tasks[3].cancel()
    # the same subscription twice: never twice in one batch (the second sees the first's run)
    again = asyncio.create_task(batcher.plan(Fire(4, None, now)))
    results = await asyncio.gather(*tasks, again, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert results[:3] + results[4:] == [(None, None)] * 6
    assert seen == [[0], [1, 2], [4, 5], [4]]  # batches of 1, 2, 4...: doubling
