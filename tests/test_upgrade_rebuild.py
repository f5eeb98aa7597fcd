"""An upgrade that changes how stories are grouped regroups the old stories by itself, once.
A new database has nothing to regroup, on both backends."""

from __future__ import annotations

import sqlite3

from bot.services.ingest import IngestService
from bot.storage.db import configure, migrate, open_database
from bot.storage.migrations import MIGRATIONS
from tests.factories import SEEDS

BEFORE_CENTROIDS = 5  # the last schema version whose stories carried no centroids


def _old_database(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    migrate(conn, path, MIGRATIONS[:BEFORE_CENTROIDS])
    conn.execute(
        "INSERT INTO stories(id, article_count, item_count, provider_count, updated_at) "
        "VALUES (7, 1, 1, 1, 0)"
    )
    conn.execute(
        "INSERT INTO items(url, title, published_at, is_article, first_seen_at, updated_at, "
        "story_id) VALUES ('https://example.com/old', 'Ukraine uses facial recognition on "
        "soldiers', 1648150000, 1, 0, 0, 7)"
    )
    conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, item_id, ingested_at) "
        "SELECT '/old/a.md', 1, 1, 'x', id, 0 FROM items"
    )
    conn.close()


def _pending(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM pending_tasks")]


async def test_first_ingest_after_the_upgrade_regroups_old_stories_once(tmp_path):
    """SQLite only: the old database is built with the SQLite steps on a bare sqlite3
    connection (the PostgreSQL steps' upgrade path: test_pg_schema's step-by-step migration)."""
    path = str(tmp_path / "old.db")
    _old_database(path)
    async with open_database(path) as db:
        assert await db.run(_pending) == ["stories-rebuild"]  # left by the migration
        service = IngestService(db)
        try:
            report = await service.ingest([str(SEEDS)])
            assert report.new == 2
            assert await db.run(_pending) == []
            size, terms = await db.run(
                lambda conn: conn.execute(
                    "SELECT s.size, (SELECT count(*) FROM story_terms t WHERE t.story_id = s.id) "
                    "FROM items i JOIN stories s ON s.id = i.story_id "
                    "WHERE i.url = 'https://example.com/old'"
                ).fetchone()
            )
            assert size >= 1 and terms > 0  # the old item now sits in a story with a centroid
            (old_alias,) = await db.run(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM story_aliases WHERE old_id = 7"
                ).fetchone()
            )
            assert old_alias == 1  # the old id still leads to its new story (sent lists)
            again = await service.ingest([str(SEEDS)])
            assert again.unchanged == 2
        finally:
            await service.close()


async def test_a_new_database_has_nothing_to_regroup(db_target):
    async with open_database(db_target) as db:
        assert await db.run(_pending) == []
