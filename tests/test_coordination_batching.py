"""Fewer round trips per digest post on a shared database: send slots taken several at once,
runs claimed and read in one hop, claim releases written together (bot/services/coordination.py,
bot/storage/coordination.py), on both backends."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.coordination import run_claim
from bot.services.coordination import Coordinator, SharedPacer
from bot.storage.coordination import Coordination
from tests.support.coordination import WallClock, databases, open_runs

T0 = 1_700_000_000.0


@pytest.fixture
def target(db_target: str) -> str:
    return db_target


async def test_consecutive_slots_are_taken_several_at_once(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        assert await ra.take_slot("discord-global", T0, 0.02, 3) == T0  # slots T0 .. T0+0.04
        assert await rb.take_slot("discord-global", T0, 0.02) == pytest.approx(T0 + 0.06)
        assert await ra.take_slot("discord-global", T0, 0.02, 2) == pytest.approx(T0 + 0.08)
        assert await rb.take_slot("discord-global", T0 + 10, 0.02, 4) == T0 + 10  # idle


class CountingRepo(Coordination):
    def __init__(self, db) -> None:
        super().__init__(db)
        self.takes: list[int] = []

    async def take_slot(self, name, now, interval, count=1):
        self.takes.append(count)
        return await super().take_slot(name, now, interval, count)


async def test_the_calls_waiting_together_share_one_round_trip(target: str) -> None:
    async with databases(target, 1) as (db,):
        repo = CountingRepo(db)
        pacer = SharedPacer(repo, 1000.0, max_slots=4)  # 1 ms apart: the test does not wait
        sent: list[float] = []

        async def post() -> None:
            await pacer.wait()
            sent.append(pacer.clock())

        await asyncio.gather(*(post() for _ in range(10)))
        assert sum(repo.takes) == 10 and max(repo.takes) == 4 and len(repo.takes) <= 4
        assert len(sent) == 10


async def test_claimed_runs_are_read_in_the_same_hop_and_released_together(target) -> None:
    async with databases(target) as (a, b):
        run_ids = await open_runs(a, 4)
        await a.run(
            lambda conn: conn.execute(
                "UPDATE digest_runs SET status = 'sent' WHERE id = ?", (run_ids[0],)
            )
        )
        clock = WallClock(T0)
        one = Coordinator(a, holder="A", clock=clock)
        two = Coordinator(b, holder="B", clock=clock)
        claimed = await one.claim_open_runs(2)
        assert [run.id for _, run in claimed] == run_ids[1:3]
        assert all(sub.id == run.subscription_id and run.is_open for sub, run in claimed)
        assert [run.id for _, run in await two.claim_open_runs(10)] == run_ids[3:]
        await asyncio.gather(*(one.release_run(run.id) for _, run in claimed))
        leases = [await one.repo.get(run_claim(run.id)) for _, run in claimed]
        assert all(lease is not None and lease.free(T0) for lease in leases)
        assert [run.id for _, run in await two.claim_open_runs(10)] == run_ids[1:3]
