"""Storage test helpers: an ingest into a fresh database, and a database's content by url."""

from __future__ import annotations

from pathlib import Path

from bot.services.ingest import IngestService
from bot.storage.db import open_database
from tests.support.backends import rows


async def ingest(db_path: Path | str, *paths: Path | str, workers: int = 1):
    async with open_database(db_path) as db:
        return await IngestService(db, workers=workers).ingest([str(p) for p in paths])


def content(db_path: Path | str) -> dict[str, list]:
    """Everything ingest stores, keyed by urls (not ids) so two databases can be compared
    (of either backend: a SQLite path or a PostgreSQL url)."""
    q = lambda sql: sorted(rows(db_path, sql))  # noqa: E731
    stories: dict[int, set[str]] = {}
    for story_id, url in rows(
        db_path, "SELECT story_id, url FROM items WHERE story_id IS NOT NULL"
    ):
        stories.setdefault(story_id, set()).add(url)
    return {
        "items": q(
            "SELECT url, title, excerpt, published_at, quality, heat, image_url, type, "
            "is_article, removed, version_key FROM items"
        ),
        "links": q(
            "SELECT DISTINCT a.url, b.url FROM links l JOIN items a ON a.id = l.src_id "
            "JOIN items b ON b.id = l.dst_id"
        ),
        "topics": q(
            "SELECT i.url, t.name FROM item_topics it JOIN items i ON i.id = it.item_id "
            "JOIN topics t ON t.id = it.topic_id"
        ),
        "topic_counts": q("SELECT name, article_count, story_count FROM topics"),
        "providers": q("SELECT key, name, domain FROM providers"),
        "files": q("SELECT path, digest, error FROM files"),
        "stories": sorted(sorted(s) for s in stories.values()),
        "story_stats": q(
            "SELECT (SELECT url FROM items WHERE id = lead_item_id), article_count, "
            "item_count, provider_count, best_quality, round(CAST(rank_key AS NUMERIC), 6) "
            "FROM stories"
        ),
    }
