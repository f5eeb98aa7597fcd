"""The coordinator of each process (bot/services/coordination.py): one scheduler leader at a
time, a takeover when the leader dies, a leader that cannot renew stepping down before anyone
else may lead, and the leader-only work started and stopped with the lease."""

from __future__ import annotations

import pytest

from bot.domain.coordination import LEADER
from bot.services.coordination import Coordinator
from bot.storage.db import Database
from tests.support.coordination import WallClock, databases

TTL = 15.0


class Work:
    """Stands for the leader-only work: records when it is started and stopped."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def attach(self, coordinator: Coordinator) -> Coordinator:
        async def elected() -> None:
            self.events.append("start")

        async def deposed() -> None:
            self.events.append("stop")

        coordinator.on_elected.append(elected)
        coordinator.on_deposed.append(deposed)
        return coordinator


def coordinator(db: Database, name: str, clock: WallClock) -> Coordinator:
    return Coordinator(db, holder=name, leader_ttl=TTL, claim_ttl=30, every=5, clock=clock)


async def test_one_leader_then_a_takeover_when_it_dies(db_target: str) -> None:
    clock = WallClock()
    async with databases(db_target) as (da, dbb):
        wa, wb = Work(), Work()
        a = wa.attach(coordinator(da, "A", clock))
        b = wb.attach(coordinator(dbb, "B", clock))
        await a.beat()
        await b.beat()
        assert (a.leading, b.leading, a.token) == (True, False, 1)
        assert wa.events == ["start"] and wb.events == []
        clock.advance(5)
        await a.beat()
        await b.beat()  # A renewed: B keeps trying
        assert a.leading and not b.leading
        clock.advance(TTL)  # A is dead (no heartbeat): its lease expires
        await b.beat()
        assert b.leading and b.token == 2 and wb.events == ["start"]
        assert not a.leading  # past its own deadline, A does not act as leader either
        await a.beat()  # A comes back: it learns it lost the lease and stops its work
        assert wa.events == ["start", "stop"] and a.token is None
        assert (await b.repo.get(LEADER)).holder == "B"  # type: ignore[union-attr]


async def test_a_leader_that_cannot_renew_stops_before_another_may_lead(
    db_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock()
    async with databases(db_target) as (da, dbb):
        wa = Work()
        a = wa.attach(coordinator(da, "A", clock))
        b = coordinator(dbb, "B", clock)
        await a.beat()
        assert a.leading

        async def unreachable(*_args: object) -> bool:
            raise ConnectionError("database unreachable")

        monkeypatch.setattr(a.repo, "renew", unreachable)
        monkeypatch.setattr(a.repo, "heartbeat", unreachable)
        clock.advance(5)
        await a.beat()
        assert a.leading and wa.events == ["start"]  # still within its lease
        clock.advance(TTL - 5 - a.margin)  # the deadline: the lease minus the margin
        await a.beat()
        assert not a.leading and wa.events == ["start", "stop"]
        await b.beat()  # the lease itself has not expired yet: nobody leads in the gap
        assert not b.leading
        clock.advance(a.margin)
        await b.beat()
        assert b.leading and b.token == 2


async def test_a_clean_stop_hands_the_lease_over_at_once(db_target: str) -> None:
    clock = WallClock()
    async with databases(db_target) as (da, dbb):
        wa = Work()
        a = wa.attach(coordinator(da, "A", clock))
        b = coordinator(dbb, "B", clock)
        await a.start()
        await a.stop()
        assert wa.events == ["start", "stop"]
        await b.beat()
        assert b.leading and b.token == 2


def test_a_heartbeat_as_long_as_the_lease_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        Coordinator(None, leader_ttl=10, every=10)  # type: ignore[arg-type]
