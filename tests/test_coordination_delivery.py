"""Digest delivery and feeds with claims shared between processes (both backends): a run held
by another process is not posted here; a run whose claimer died is taken by the delivery
worker and resumed; the claim is given back when the run is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import DigestConfig
from bot.domain.coordination import run_claim
from bot.domain.digest import RunStatus
from bot.services.coordination import Coordinator
from bot.services.digest_workers import DeliveryWorker
from tests.support.coordination import WallClock, databases
from tests.support.digest import Article, Clock, FakePoster, ingest, make_service

DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


async def planned_run(db, tmp_path, clock: Clock, poster: FakePoster):
    await ingest(
        db, tmp_path / "a", [Article(n, DAY1 - timedelta(hours=2)) for n in range(3)], DAY1
    )
    service = make_service(db, clock, poster=poster, config=DigestConfig())
    sub = await service.subscribe(guild_id=1, channel_id=10, time="08:00", timezone="Europe/London")
    clock.set(DAY1)
    planned = await service.plan_scheduled(sub.id)
    assert planned is not None
    return service, planned


async def test_a_run_claimed_elsewhere_is_not_posted_then_resumed_after_its_claimer_died(
    db_target, tmp_path
) -> None:
    wall = WallClock()
    async with databases(db_target) as (da, dbb):
        clock = Clock(DAY1 - timedelta(days=1))
        poster = FakePoster()
        service, (sub, run) = await planned_run(da, tmp_path, clock, poster)
        here = Coordinator(da, holder="here", leader_ttl=15, claim_ttl=30, every=5, clock=wall)
        there = Coordinator(dbb, holder="there", leader_ttl=15, claim_ttl=30, every=5, clock=wall)
        service.delivery.claims = here
        assert await there.claim_run(run.id)  # another process is posting it
        result = await service.deliver(sub, run)
        assert result.status == "noop" and "another process" in (result.error or "")
        assert poster.posts == []
        worker = DeliveryWorker(service, here)
        assert await worker.poll() == []  # nothing claimable while "there" lives
        wall.advance(30)  # "there" died: its claim expired without a heartbeat
        assert await worker.poll() == [run.id]
        await worker.join()
        assert [p.channel_id for p in poster.posts] == [10]  # posted once, here
        done = await service.ledger.get_run(run.id)
        assert done is not None and done.status is RunStatus.SENT
        lease = await here.repo.get(run_claim(run.id))
        assert lease is not None and lease.holder == "here" and lease.free(wall())  # given back
        assert await worker.poll() == []  # a sent run is never claimed again
