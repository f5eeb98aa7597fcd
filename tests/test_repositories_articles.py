"""Contract tests of the article, story and search repositories: each public method once, on
every backend (``db_target``: SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.models import SourceFile
from bot.services.ingest import IngestService
from bot.storage.article_repo import ArticleRepository
from bot.storage.db import Database, open_database
from bot.storage.search_repo import SearchRepository
from bot.storage.story_repo import StoryRepository
from tests.factories import related, write_article
from tests.support.backends import execute, rows

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


@pytest.fixture
async def db(db_target: str, tmp_path: Path) -> AsyncIterator[Database]:
    """Three articles: two of one story (the second lists the first as related), one alone."""
    src = tmp_path / "src"
    write_article(
        src,
        "a.md",
        "Falcon rocket lands on barge",
        "https://a.example/1",
        published="2024-05-01T10:00:00Z",
        topics=["Space", "Rockets"],
        quality=80,
    )
    write_article(
        src,
        "b.md",
        "Falcon rocket lands again",
        "https://b.example/2",
        published="2024-05-01T11:00:00Z",
        topics=["Space"],
        quality=60,
        related_items=[
            related("Falcon rocket lands on barge", "https://a.example/1", "2024-05-01T10:00:00Z")
        ],
    )
    write_article(src, "c.md", "Orchard harvest record", "https://c.example/3",
                  published="2024-04-20T09:00:00Z", topics=["Food"], quality=50)  # fmt: skip
    async with open_database(db_target) as database:
        async with IngestService(database, workers=1, clock=lambda: T) as ingest:
            report = await ingest.ingest([str(src)])
        assert report.new == 3 and report.ok
        yield database


async def _id(db: Database, url: str) -> int:
    item = await ArticleRepository(db).by_url(url)
    assert item is not None
    return item.id


# -- ArticleRepository ---------------------------------------------------------------------------
async def test_known_files_and_touch(db: Database, tmp_path: Path) -> None:
    repo = ArticleRepository(db)
    known = await repo.known_files()
    path = str(tmp_path / "src" / "a.md")
    assert set(known) == {str(tmp_path / "src" / n) for n in ("a.md", "b.md", "c.md")}
    assert known[path].error is None and known[path].digest
    await repo.touch([SourceFile(path, 12345, 67890, known[path].digest)])
    after = (await repo.known_files())[path]
    assert (after.size, after.mtime_ns, after.digest) == (12345, 67890, known[path].digest)


async def test_write_batch_records_a_rejected_file(db: Database, tmp_path: Path) -> None:
    repo = ArticleRepository(db)
    outcome = await repo.write_batch([(SourceFile("/x/bad.md", 1, 2, "d"), None, "no yaml")], T)
    assert outcome.rejected == [("/x/bad.md", "no yaml")] and outcome.new == 0
    assert (await repo.known_files())["/x/bad.md"].error == "no yaml"


async def test_article_lookups(db: Database) -> None:
    repo = ArticleRepository(db)
    first = await repo.by_url("https://a.example/1")
    assert first is not None and first.title == "Falcon rocket lands on barge"
    assert (await repo.by_id(first.id)) == first
    assert (await repo.by_title("falcon ROCKET lands on barge")) == first
    assert await repo.by_url("https://nowhere.example/") is None
    assert await repo.by_id(10**9) is None


async def test_related_pages_both_directions(db: Database) -> None:
    repo = ArticleRepository(db)
    a, b = await _id(db, "https://a.example/1"), await _id(db, "https://b.example/2")
    assert [i.id for i in await repo.related(b, 10, 0)] == [a]
    assert [i.id for i in await repo.related(a, 10, 0)] == [b]
    assert await repo.related(a, 10, 1) == []


async def test_stats(db: Database) -> None:
    stats = await ArticleRepository(db).stats()
    assert (stats["articles"], stats["stories"], stats["topics"], stats["files"]) == (3, 2, 3, 3)
    assert stats["last_published"] == "2024-05-01T11:00:00Z"


# -- StoryRepository -----------------------------------------------------------------------------
async def test_topics(db: Database) -> None:
    repo = StoryRepository(db)
    found = await repo.topic_by_name("  SPACE ")
    assert found is not None and found[1] == "Space"
    assert await repo.topic_by_name("nothing") is None
    every = await repo.topics(since=None, until=None, limit=10, offset=0)
    assert (every[0].name, every[0].articles, every[0].stories) == ("Space", 2, 1)
    window = await repo.topics(since=T - 86400 * 3, until=T, limit=10, offset=0)
    assert "Food" not in {t.name for t in window} and {"Space", "Rockets"} <= {
        t.name for t in window
    }
    assert await repo.topic_names_like("ock", 5) == ["Rockets"]


async def test_stories_detail_and_window(db: Database) -> None:
    repo = StoryRepository(db)
    listed = await repo.stories(
        topic_id=None, min_quality=None, since=None, until=None, limit=10, offset=0
    )
    assert [s.article_count for s in listed] == [2, 1]  # best rank first
    space = await repo.topic_by_name("Space")
    assert space is not None
    only = await repo.stories(
        topic_id=space[0], min_quality=70, since=None, until=None, limit=10, offset=0
    )
    assert [s.id for s in only] == [listed[0].id]
    detail = await repo.story_detail(listed[0].id, 10)
    assert detail is not None
    row, coverage = detail
    assert row.id == listed[0].id and len(coverage) == 2
    assert await repo.story_detail(10**9, 10) is None
    assert {s.id for s in await repo.stories_by_ids([listed[1].id, 10**9])} == {listed[1].id}
    end, window = await repo.window_or_latest(
        end=T + 86400 * 30, span=86400, topic_ids=None, min_quality=None, limit=5
    )
    assert end == int(datetime(2024, 5, 1, 11, tzinfo=UTC).timestamp())  # fell back
    assert [s.id for s in window] == [listed[0].id]


async def test_rebuild_and_pending(db: Database, db_target: str) -> None:
    repo = StoryRepository(db)
    assert not await repo.rebuild_pending()
    execute(db_target, "INSERT INTO pending_tasks(name, since) VALUES ('stories-rebuild', ?)", (T,))
    assert await repo.rebuild_pending()
    report = await repo.rebuild(T)
    assert (report.articles, report.stories_after, report.multi_item_stories) == (3, 2, 1)
    assert not await repo.rebuild_pending()
    assert rows(db_target, "SELECT count(*) FROM stories WHERE article_count > 0") == [(2,)]


# -- SearchRepository ----------------------------------------------------------------------------
async def test_search(db: Database) -> None:
    repo = SearchRepository(db)
    assert repo.searchable("falcon!") and not repo.searchable(" ?! ")
    hits = await repo.search("falcon rocket", quality_weight=0.5, limit=10, offset=0)
    assert [h.url for h, _ in hits] == ["https://a.example/1", "https://b.example/2"]
    assert hits[0][1] >= hits[1][1]
    assert await repo.search('"&|!():* \\', quality_weight=0.5, limit=10, offset=0) == []


async def test_titles_and_stories_matching(db: Database) -> None:
    repo = SearchRepository(db)
    pairs = await repo.title_matches("Falcon rocket lands o", 5)
    assert pairs[0][1] == "Falcon rocket lands on barge"
    best = await repo.best_title_match("orchard")
    assert best is not None and best.url == "https://c.example/3"
    assert await repo.best_title_match("zzzz") is None
    stories = await repo.stories_matching("falcon", 10)
    assert [s.article_count for s in stories] == [2]


async def test_after_bulk_write_refreshes_postgres_statistics(db: Database) -> None:
    """A bulk ingest ANALYZEs on PostgreSQL (the planner must not take a freshly loaded items
    table for empty); small ingests and SQLite do nothing."""
    repo = ArticleRepository(db)
    assert await repo.after_bulk_write(3) is False
    ran = await repo.after_bulk_write(500)
    assert ran is (db.dialect == "postgresql")
    if ran:
        (analyzed,) = await db.read(
            lambda conn: conn.execute(
                "SELECT count(*) FROM pg_stat_user_tables "
                "WHERE relname = 'items' AND last_analyze IS NOT NULL"
            ).fetchone()
        )
        assert analyzed == 1
