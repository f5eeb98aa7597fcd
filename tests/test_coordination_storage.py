"""Leases, claims and the shared send pacing (bot/storage/coordination.py), with several
independent connections on one database, as several processes have."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.coordination import LEADER, run_claim
from bot.storage import coordination as co
from bot.storage.coordination import Coordination
from tests.support.coordination import databases, open_runs

TTL = 15.0
T0 = 1_700_000_000.0


@pytest.fixture
def target(db_target: str) -> str:
    return db_target


async def test_a_lease_is_held_by_one_holder_until_it_expires(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        assert await ra.acquire(LEADER, "A", T0, TTL) == 1
        assert await rb.acquire(LEADER, "B", T0 + 1, TTL) is None
        assert await ra.acquire(LEADER, "A", T0 + 5, TTL) == 1  # its own: renewed, same token
        lease = await rb.get(LEADER)
        assert lease is not None and (lease.holder, lease.expires_at) == ("A", T0 + 5 + TTL)
        assert await rb.acquire(LEADER, "B", T0 + 5 + TTL - 0.001, TTL) is None
        # expired: taken over, and the fencing token moves on
        assert await rb.acquire(LEADER, "B", T0 + 5 + TTL, TTL) == 2


async def test_renew_fails_once_taken_over_and_release_keeps_the_token(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        token = await ra.acquire(LEADER, "A", T0, TTL)
        assert token == 1
        assert await ra.renew(LEADER, "A", 1, T0 + 5, TTL)
        assert await rb.acquire(LEADER, "B", T0 + 5 + TTL, TTL) == 2  # A stalled past its lease
        assert not await ra.renew(LEADER, "A", 1, T0 + 21, TTL)  # A learns it lost it
        assert not await ra.release(LEADER, "A", T0 + 21)  # and cannot release B's lease
        assert await rb.release(LEADER, "B", T0 + 22)
        assert await ra.acquire(LEADER, "A", T0 + 22, TTL) == 3  # released: free at once


async def test_two_processes_racing_for_a_free_lease_one_wins(target: str) -> None:
    async with databases(target, 3) as dbs:
        repos = [Coordination(db) for db in dbs]
        winner, token = None, 0
        for round_ in range(6):
            now = T0 + round_ * (TTL + 1)  # the last lease has expired each round
            tokens = await asyncio.gather(
                *(r.acquire(LEADER, f"P{i}", now, TTL) for i, r in enumerate(repos))
            )
            won = [i for i, t in enumerate(tokens) if t is not None]
            assert len(won) == 1
            # the token moves on with every change of holder, not when the holder stays
            token += 1 if won[0] != winner else 0
            winner = won[0]
            assert tokens[winner] == token


async def test_heartbeat_renews_the_claims_still_held_and_counts_members(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        run_ids = await open_runs(a, 2)
        assert await ra.claim_runs("A", T0, 30, 10) == run_ids
        assert await ra.heartbeat("A", T0 + 20, 30) == 2  # renewed to T0 + 50
        await rb.heartbeat("B", T0 + 20, 30)
        assert await rb.live_members(T0 + 21) == ["A", "B"]
        assert await rb.claim_runs("B", T0 + 45, 30, 10) == []  # still A's
        assert await rb.claim_runs("B", T0 + 50, 30, 10) == run_ids  # A died: expired
        assert await rb.live_members(T0 + 51) == []
        assert await ra.heartbeat("A", T0 + 55, 30) == 0  # A's lost claims are not renewed


async def test_each_open_run_is_claimed_by_one_process(target: str) -> None:
    async with databases(target, 3) as dbs:
        run_ids = await open_runs(dbs[0], 12)
        repos = [Coordination(db) for db in dbs]
        claimed = await asyncio.gather(
            *(r.claim_runs(f"P{i}", T0, 30, 5) for i, r in enumerate(repos))
        )
        flat = [rid for ids in claimed for rid in ids]
        assert len(flat) == len(set(flat)) == 12 and set(flat) == set(run_ids)
        assert all(len(ids) <= 5 for ids in claimed)
        owner = next(i for i, ids in enumerate(claimed) if run_ids[0] in ids)
        other = (owner + 1) % 3
        assert not await repos[other].claim_run(run_ids[0], f"P{other}", T0 + 1, 30)
        assert await repos[owner].claim_run(run_ids[0], f"P{owner}", T0 + 1, 30)  # its own


async def test_a_finished_run_is_not_claimable_and_a_released_one_is(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        first, second = await open_runs(a, 2)
        assert await ra.claim_run(first, "A", T0, 30)
        assert not await rb.claim_run(first, "B", T0 + 1, 30)
        await ra.release_names([run_claim(first)], "A", T0 + 2)
        assert await rb.claim_run(first, "B", T0 + 3, 30)
        await a.run(
            lambda conn: conn.execute(
                "UPDATE digest_runs SET status = 'sent' WHERE id = ?", (second,)
            )
        )
        assert not await rb.claim_run(second, "B", T0 + 4, 30)
        assert await rb.claim_runs("B", T0 + 4, 30, 10) == []


async def test_a_feed_polled_meanwhile_is_not_claimed_again(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)

        def add_feed(conn):
            return conn.execute(
                "INSERT INTO sources(kind, locator, created_at, updated_at) "
                "VALUES ('feed', 'https://feeds.example.com/a.xml', 0, 0) RETURNING id"
            ).fetchone()[0]

        feed_id = await a.run(add_feed)
        now = int(T0)
        assert await ra.claim_due_feeds([feed_id], "A", T0, 30, now) == [feed_id]
        assert await rb.claim_due_feeds([feed_id], "B", T0, 30, now) == []  # A polls it
        await a.run(
            lambda conn: conn.execute(
                "UPDATE sources SET next_fetch_at = ? WHERE id = ?", (now + 900, feed_id)
            )
        )
        await ra.release_names([f"feed:{feed_id}"], "A", T0 + 1)
        # B read "due" before A's poll was written: the claim re-reads it and declines
        assert await rb.claim_due_feeds([feed_id], "B", T0 + 1, 30, now + 1) == []
        assert await rb.claim_due_feeds([feed_id], "B", T0 + 900, 30, now + 900) == [feed_id]


async def test_send_slots_are_spaced_across_processes(target: str) -> None:
    async with databases(target) as (a, b):
        ra, rb = Coordination(a), Coordination(b)
        slots = []
        for i in range(6):
            repo = ra if i % 2 else rb
            slots.append(await repo.take_slot("discord-global", T0, 0.02))
        assert slots == pytest.approx([T0 + 0.02 * i for i in range(6)])
        assert await ra.take_slot("discord-global", T0 + 10, 0.02) == T0 + 10  # idle: at once


async def test_purge_forgets_old_claims_but_keeps_the_leader_token(target: str) -> None:
    async with databases(target, 1) as (a,):
        ra = Coordination(a)
        (run_id,) = await open_runs(a, 1)
        await ra.acquire(LEADER, "A", T0, TTL)
        await ra.claim_run(run_id, "A", T0, 30)
        await ra.heartbeat("A", T0, 30)
        assert await ra.purge(T0 + 1000) == 2  # the run claim and the membership
        assert await a.run(co.get, LEADER) is not None


async def test_a_run_claimed_meanwhile_does_not_leave_the_claimer_short(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run read as free whose claim is then refused (another process claimed it between the
    snapshot and the row lock) is replaced by the next claimable run, not given up."""
    import bot.storage.coordination as coordination

    real = coordination._acquire
    refused: set[str] = set()

    def acquire(conn, name, holder, now, ttl):
        if name in refused:
            return None  # as if another process had claimed it meanwhile
        return real(conn, name, holder, now, ttl)

    monkeypatch.setattr(coordination, "_acquire", acquire)
    async with databases(target, 1) as (db,):
        run_ids = await open_runs(db, 6)
        refused = {coordination.run_claim(run_ids[0]), coordination.run_claim(run_ids[1])}
        claimed = await Coordination(db).claim_runs("P", T0, 30, 3)
        assert claimed == run_ids[2:5]
