"""A writer keeps its grouping's term statistics from one transaction to the next
(bot/storage/story_cache.py), and the result never depends on it.

Each test ingests the same files twice, into two fresh databases of one backend: once as the
bot does it (the cache kept between the ingest's many small transactions) and once with the cache
disabled (every transaction reads afresh); the stored grouping state must be identical, row for
row. In between, the things that must make a writer drop what it kept: another writer, a
transaction rolled back after its counts were written, a rebuild.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.services import ingest as ingest_module
from bot.services.ingest import IngestService
from bot.storage import stories as stories_module
from bot.storage.db import Database, open_database
from bot.storage.story_cache import GroupingCache
from bot.storage.story_repo import StoryRepository
from tests.factories import related, write_article
from tests.support.backends import rows

T0 = 1_720_000_000
START = datetime(2024, 5, 1, 9, tzinfo=UTC)
EVENTS = [
    "Falcon rocket lands on a drone ship at sea",
    "Central bank raises interest rates again",
    "Storm floods the coastal towns overnight",
    "Chip maker unveils a faster laptop processor",
    "Museum returns stolen bronze statues",
    "Striking rail workers reach a pay deal",
]
OUTLETS = ["Daily Wire", "Morning Post", "City Herald", "Tech Journal"]


def _files(src: Path, first: int, count: int) -> None:
    """Articles ``first`` .. ``first + count - 1``: two outlets a few hours apart on each
    event, the events recurring every nine days, the dates moving on with ``n`` (so that later
    transactions weigh their items in IDF windows of weeks not seen before), some with a
    related entry."""
    for n in range(first, first + count):
        event = EVENTS[(n // 2) % len(EVENTS)]
        outlet = OUTLETS[n % len(OUTLETS)]
        at = START + timedelta(days=(n // 2) * 1.5, hours=(n % 2) * 5)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        extra: dict[str, Any] = {}
        if n % 5 == 0:
            extra["related_items"] = [
                related(f"{event}: live updates", f"https://live.example/{n}", stamp)
            ]
        write_article(
            src,
            f"{n:03d}.md",
            f"{event} ({outlet} {n % 3})",
            f"https://{outlet.lower().replace(' ', '')}.example/{n}",
            published=stamp,
            excerpt=f"{outlet} reports: {event.lower()}, report number {n}.",
            provider=outlet,
            **extra,
        )


def _parts(root: Path, names: str) -> None:
    """Folders of 12 articles each, named by ``names``, continuing one another."""
    for k, name in enumerate(names):
        _files(root / name, 12 * k, 12)


def _state(target: str) -> dict[str, list[tuple]]:
    """Everything the grouping stores, in a comparable order."""
    return {
        "items": rows(target, "SELECT url, story_id FROM items ORDER BY url"),
        "stories": rows(
            target,
            "SELECT id, size, round(CAST(norm2 AS numeric), 9), span_first, span_last "
            "FROM stories ORDER BY id",
        ),
        "terms": rows(
            target,
            "SELECT term, story_id, round(CAST(weight AS numeric), 9), anchor FROM story_terms "
            "ORDER BY term, story_id",
        ),
        "term_buckets": rows(target, "SELECT * FROM term_buckets ORDER BY term, bucket"),
        "story_buckets": rows(target, "SELECT * FROM story_buckets ORDER BY bucket"),
        "ids": rows(target, "SELECT last_id, held, items FROM story_ids"),
    }


async def _ingest(db: Database, folder: Path) -> None:
    async with IngestService(db, workers=1, clock=lambda: T0) as ing:
        report = await ing.ingest([str(folder)])
    assert not report.rejected


@pytest.fixture
def targets(
    db_target: str, another_db_target: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Two fresh databases of one backend: the first ingested with the cache, the second
    without; ingests write three files a transaction (many transactions)."""
    monkeypatch.setattr(ingest_module, "WRITE_BATCH", 3)
    return db_target, another_db_target


def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GroupingCache, "keep", lambda self, stats, generation: None)


async def test_kept_statistics_group_exactly_as_fresh_reads_do(
    tmp_path: Path, targets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_target, another_db_target = targets
    _files(tmp_path / "src", 0, 36)
    async with open_database(db_target) as db:
        await _ingest(db, tmp_path / "src")
        kept = db.grouping
        assert kept.reused >= 10 and kept.fresh == 1  # one fresh start, then kept throughout
    _no_cache(monkeypatch)
    async with open_database(another_db_target) as db:
        await _ingest(db, tmp_path / "src")
        assert db.grouping.reused == 0
    assert _state(db_target) == _state(another_db_target)
    assert rows(db_target, "SELECT count(*) FROM stories WHERE size > 1")[0][0] >= len(EVENTS)


async def test_another_writer_makes_the_kept_statistics_stale(
    tmp_path: Path, targets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_target, another_db_target = targets
    _parts(tmp_path, "abc")
    async with open_database(db_target) as first:
        await _ingest(first, tmp_path / "a")
        fresh = first.grouping.fresh
        async with open_database(db_target) as second:  # another writer in between
            await _ingest(second, tmp_path / "b")
        await _ingest(first, tmp_path / "c")
        assert first.grouping.fresh == fresh + 1  # its next transaction read afresh
    _no_cache(monkeypatch)
    async with open_database(another_db_target) as db:
        for part in "abc":
            await _ingest(db, tmp_path / part)
    assert _state(db_target) == _state(another_db_target)


async def test_a_transaction_rolled_back_after_writing_its_counts_leaves_nothing_kept(
    tmp_path: Path, targets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_target, another_db_target = targets
    _parts(tmp_path, "ab")
    real = stories_module.refresh_stories
    calls = {"n": 0}

    def fail_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # after write_stats kept the statistics; the batch rolls back
            raise RuntimeError("refresh failed")
        real(*args, **kwargs)

    async with open_database(db_target) as db:
        await _ingest(db, tmp_path / "a")
        monkeypatch.setattr(stories_module, "refresh_stories", fail_once)
        fresh = db.grouping.fresh
        # the failed batch is rolled back, and the ingest writes its files one by one
        await _ingest(db, tmp_path / "b")
        assert calls["n"] > 1
        assert db.grouping.fresh == fresh + 1  # the rolled-back batch's counts were not used
    _no_cache(monkeypatch)
    async with open_database(another_db_target) as db:
        await _ingest(db, tmp_path / "a")
        await _ingest(db, tmp_path / "b")
    assert _state(db_target) == _state(another_db_target)


async def test_a_rebuild_starts_a_new_generation(
    tmp_path: Path, targets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_target, another_db_target = targets
    _parts(tmp_path, "ab")
    async with open_database(db_target) as db:
        await _ingest(db, tmp_path / "a")
        before = rows(db_target, "SELECT generation FROM story_ids")[0][0]
        await StoryRepository(db).rebuild(T0)
        assert rows(db_target, "SELECT generation FROM story_ids")[0][0] > before
        fresh = db.grouping.fresh
        await _ingest(db, tmp_path / "b")
        assert db.grouping.fresh == fresh + 1
    _no_cache(monkeypatch)
    async with open_database(another_db_target) as db:
        await _ingest(db, tmp_path / "a")
        await StoryRepository(db).rebuild(T0)
        await _ingest(db, tmp_path / "b")
    assert _state(db_target) == _state(another_db_target)


def test_the_cache_drops_what_grew_past_its_bound() -> None:
    from bot.storage.term_stats import TermStats

    cache = GroupingCache(max_held=2)
    stats = TermStats(None)  # type: ignore[arg-type]
    stats._spans = {t: (0, 1, []) for t in "abc"}
    cache.keep(stats, 7)
    assert cache.take(None, 7) is not stats and cache.fresh == 1
    small = TermStats(None)  # type: ignore[arg-type]
    cache.keep(small, 7)
    assert cache.take(None, 8) is not small  # another generation
    cache.keep(small, 8)
    assert cache.take(None, 8) is small and cache.reused == 1
    assert cache.take(None, 8) is not small  # taken: nothing kept until the next keep
