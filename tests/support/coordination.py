"""Helpers for the coordination tests: several "processes" (each its own ``Database``, so its
own connections) on one database, a settable wall clock, and ledger runs to claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.storage.db import Database, open_database

NOW = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


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


async def open_runs(db: Database, count: int) -> list[int]:
    """``count`` digest runs planned and not posted (one subscription each; an empty digest
    is posted: ``post_when_empty``), their ids."""
    service = DigestService(
        db,
        DigestConfig(post_when_empty=True, max_subscriptions_per_guild=1000),
        clock=lambda: NOW,
    )
    ids = []
    for i in range(count):
        sub = await service.subscribe(
            guild_id=1, channel_id=100 + i, time="08:00", timezone="Europe/London"
        )
        planned = await service.plan_scheduled(sub.id, now=NOW)
        assert planned is not None and planned[1].is_open
        ids.append(planned[1].id)
    return ids
