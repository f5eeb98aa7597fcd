"""Helpers for the coordination tests: several "processes" (each its own ``Database``, so its
own connections) on one database, a settable wall clock, and ledger runs to claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from bot.storage.db import Database, open_database


class WallClock:
    """A settable ``time.time()``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@asynccontextmanager
async def databases(target: str, n: int = 2) -> AsyncIterator[list[Database]]:
    """``n`` independent handles on the database ``target`` (as ``n`` processes have)."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_database(target)) for _ in range(n)]


def _insert_runs(conn, count: int) -> list[int]:
    conn.execute("BEGIN")
    (sub_id,) = conn.execute(
        "INSERT INTO digest_subscriptions(guild_id, channel_id, name, local_time, timezone, "
        "max_stories, created_at, updated_at) VALUES (1, 100, 'Daily', '08:00', 'UTC', 10, 0, 0) "
        "RETURNING id"
    ).fetchone()
    ids = []
    for i in range(count):
        (run_id,) = conn.execute(
            "INSERT INTO digest_runs(subscription_id, local_date, kind, channel_id, "
            "scheduled_for, window_start, window_end, status, created_at, updated_at) "
            "VALUES (?, '2024-06-03', 'manual', ?, ?, 0, 0, 'planned', 0, 0) RETURNING id",
            (sub_id, 100 + i, 1000 + i),
        ).fetchone()
        ids.append(int(run_id))
    conn.execute("COMMIT")
    return ids


async def open_runs(db: Database, count: int) -> list[int]:
    """``count`` ledger rows of digests planned and not posted yet, their ids (written as SQL:
    the ledger's own storage is tested elsewhere)."""
    return await db.run(_insert_runs, count)
