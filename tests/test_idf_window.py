"""Issue 10, item 2: term weights from the frequencies of a recent window, kept incrementally.

N and the story / item frequencies an item is weighed with are sums over the weekly buckets
within ``StorySettings.idf_window`` weeks of its date; the same in memory and in the database
(both backends), across transactions, and after a rebuild.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.stories import (
    UNDATED,
    StoryEngine,
    StorySettings,
    idf_bucket,
    idf_window,
    in_window,
)
from bot.domain.story_memory import InMemoryStore
from bot.services.ingest import IngestService
from bot.storage.db import configure, migrate, open_database
from bot.storage.migrations import MIGRATIONS
from bot.storage.stories import SqliteStore
from tests.factories import SEEDS
from tests.support.backends import rows

DAY0 = datetime(2024, 1, 3, 12, tzinfo=UTC)


def at(days: float) -> datetime:
    return DAY0 + timedelta(days=days)


def test_buckets_are_weeks_and_the_window_is_weeks_either_side() -> None:
    assert idf_bucket(None) == UNDATED
    assert idf_bucket(at(0)) == int(at(0).timestamp()) // (7 * 86400)
    assert idf_bucket(at(7)) == idf_bucket(at(0)) + 1
    week = idf_bucket(at(0))
    assert idf_window(at(0)) == (week - 8, week + 8)
    assert idf_window(None) is None  # an undated item: every bucket
    assert idf_window(at(0), StorySettings(idf_window=None)) is None
    assert in_window(week + 8, (week - 8, week + 8)) and not in_window(week + 9, (week, week))
    assert in_window(UNDATED, (week, week)) and in_window(week + 100, None)


def _season_store(store) -> None:
    """Twenty stories on day 0 that all say "season" (one of them twice: a merge), each with a
    word of its own, then one story on day 90 with a fresh word."""
    for i in range(20):
        story = store.new_story()
        store.add(story, i, {"season": 0.6, f"show{i}": 0.8}, at(0))
    store.merge(1, 2)  # both held "season": counted once again
    store.add(store.new_story(), 100, {"zorblax": 1.0}, at(90))


def test_a_term_common_90_days_ago_but_rare_now_regains_weight() -> None:
    store = InMemoryStore()
    _season_store(store)
    engine = StoryEngine(store)
    then = engine.vector("Season finale of Zorblax", None, at(1))
    now = engine.vector("Season finale of Zorblax", None, at(90))
    forever = StoryEngine(store, StorySettings(idf_window=None)).vector(
        "Season finale of Zorblax", None, at(90)
    )
    # day 1: "season" is in 19 of the 19 stories of the window, weighs far less than "finale"
    assert then["season"] < 0.5 * then["final"]
    # day 90: the window holds none of them: "season" is as rare as a new word again
    assert now["season"] == pytest.approx(now["final"])
    # counted over every item held, it would stay common
    assert forever["season"] < 0.5 * forever["final"]
    window = idf_window(at(90))
    assert store.stories(window) == 1 and store.dfs(["season", "zorblax"], window) == {"zorblax": 1}
    assert store.stories() == 20 and store.dfs(["season"]) == {"season": 19}
    assert store.item_dfs(["season"], idf_window(at(2))) == (20, {"season": 20})


def _in_database(conn) -> list[tuple]:
    """The season scenario through ``SqliteStore``, in two transactions; what it then reads."""
    conn.execute("BEGIN IMMEDIATE")
    store = SqliteStore(conn, 0)
    for i in range(20):
        story = store.new_story()
        store.add(story, i, {"season": 0.6, f"show{i}": 0.8}, at(0))
    first = min(r[0] for r in conn.execute("SELECT id FROM stories").fetchall())
    store.merge(first, first + 1)
    mid_batch = store.dfs(["season"], idf_window(at(0)))  # pending changes count at once
    store.write_stats()
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    store = SqliteStore(conn, 0)
    store.add(store.new_story(), 100, {"zorblax": 1.0}, at(90))
    out = [("mid", mid_batch)]
    for day in (0, 1, 90, None):
        window = None if day is None else idf_window(at(day))
        out.append(
            (
                day,
                store.stories(window),
                store.dfs(["season", "zorblax", "show3"], window),
                store.item_dfs(["season", "zorblax"], window),
            )
        )
    store.write_stats()
    conn.execute("COMMIT")
    return out


async def test_the_database_keeps_the_same_windowed_counts_as_memory(db_target: str) -> None:
    async with open_database(db_target) as db:
        got = await db.run(_in_database)
        stored = await db.run(
            lambda conn: conn.execute(
                "SELECT CAST(sum(stories) AS BIGINT), CAST(sum(items) AS BIGINT) "
                "FROM term_buckets WHERE term = 'season'"
            ).fetchone()
        )
    memory = InMemoryStore()
    _season_store(memory)
    expected: list[tuple] = [("mid", {"season": 19})]
    for day in (0, 1, 90, None):
        window = None if day is None else idf_window(at(day))
        expected.append(
            (
                day,
                memory.stories(window),
                memory.dfs(["season", "zorblax", "show3"], window),
                memory.item_dfs(["season", "zorblax"], window),
            )
        )
    assert got == expected
    assert tuple(stored) == (19, 20)


BEFORE_WINDOWS = 8  # the last schema version with all-time term statistics


async def test_an_older_database_migrates_and_regroups_into_weekly_counts(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    migrate(conn, path, MIGRATIONS[:BEFORE_WINDOWS])
    conn.execute("INSERT INTO stories(id, updated_at) VALUES (3, 0)")
    conn.execute("INSERT INTO term_stats(term, stories, items) VALUES ('ukrain', 1, 1)")
    conn.close()

    async with open_database(path) as db:
        pending = await db.run(
            lambda c: [r[0] for r in c.execute("SELECT name FROM pending_tasks")]
        )
        assert pending == ["stories-rebuild"]  # left by step 9
        service = IngestService(db)
        try:
            assert (await service.ingest([str(SEEDS)])).new == 2
        finally:
            await service.close()
    tables = {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "term_stats" not in tables and {"term_buckets", "story_buckets"} <= tables
    assert rows(path, "SELECT count(*) FROM pending_tasks") == [(0,)]
    (grouped,) = rows(path, "SELECT count(*) FROM items WHERE story_id IS NOT NULL")[0]
    assert grouped > 2
    assert rows(path, "SELECT sum(items) FROM story_buckets") == [(grouped,)]
    assert rows(path, "SELECT sum(stories) FROM story_buckets") == rows(
        path, "SELECT count(*) FROM stories"
    )
