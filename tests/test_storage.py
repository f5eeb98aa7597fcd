"""Storage on real temporary databases: migrations, idempotent ingest, merges, updates."""

from __future__ import annotations

import os
import sqlite3

import pytest

from bot.storage import db as dbmod
from bot.storage.db import SchemaTooNewError, StorageError, open_database
from bot.storage.migrations import SCHEMA_VERSION
from tests.factories import related, write_article
from tests.support.backends import rows
from tests.support.storage import content, ingest


# -- migrations (SQLite: PRAGMA user_version, WAL, the file; PostgreSQL's are in
# tests/test_pg_schema.py) -----------------------------------------------------------------------
async def test_fresh_database_is_migrated_and_reopening_is_a_no_op(tmp_path):
    """SQLite only: the file's PRAGMAs (user_version, WAL, foreign keys); PostgreSQL's
    migrations are tested in test_pg_schema."""
    path = tmp_path / "n.db"
    async with open_database(path) as db:
        (version,) = await db.fetchone("PRAGMA user_version")
        (mode,) = await db.fetchone("PRAGMA journal_mode")
        (fk,) = await db.fetchone("PRAGMA foreign_keys")
    assert (version, mode, fk) == (SCHEMA_VERSION, "wal", 1)
    async with open_database(path) as db:
        (version,) = await db.fetchone("PRAGMA user_version")
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
    assert version == SCHEMA_VERSION
    assert {"items", "links", "files", "stories", "topics", "providers", "items_fts"} <= tables


async def test_the_writer_has_the_larger_page_cache_and_readers_the_default(tmp_path):
    """SQLite only: the writer (ingest, feed polls) gets WRITER_CACHE_KIB; the readers that
    serve queries keep the 16 MB of PRAGMAS (each process holds two of them)."""
    async with open_database(tmp_path / "n.db") as db:
        writer = await db.run(lambda conn: conn.execute("PRAGMA cache_size").fetchone()[0])
        reader = await db.read(lambda conn: conn.execute("PRAGMA cache_size").fetchone()[0])
    assert writer == -dbmod.WRITER_CACHE_KIB
    assert reader == -16000 and dbmod.WRITER_CACHE_KIB > 16000


async def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    """SQLite only: PRAGMA user_version (PostgreSQL: test_pg_schema's newer database)."""
    path = tmp_path / "n.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match=r"newer than this newsbot understands"):
        async with open_database(path):
            pass


async def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    """SQLite only: a bogus SQLite step (PostgreSQL: test_pg_schema's failing migration)."""
    # all pending migrations run in one transaction: a new database stays empty (see
    # tests/test_ops_backup.py for an existing database, its data and its backup copy)
    monkeypatch.setattr(dbmod, "MIGRATIONS", (*dbmod.MIGRATIONS, "CREATE TABLE x(a); BOGUS SQL;"))
    path = tmp_path / "n.db"
    with pytest.raises(StorageError, match="migration from schema version 0 to"):
        async with open_database(path):
            pass
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'x'").fetchone()[0] == 0
    assert (
        conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'items'").fetchone()[0] == 0
    )
    conn.close()


async def test_missing_folder_and_garbage_file_are_clear_errors(tmp_path):
    """SQLite only: a database file's folder and content."""
    with pytest.raises(StorageError, match="does not exist"):
        async with open_database(tmp_path / "nope" / "n.db"):
            pass
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a usable newsbot database"):
        async with open_database(junk):
            pass


# -- ingest semantics ---------------------------------------------------------------------------
async def test_same_files_twice_change_nothing(tmp_path, db_target):
    path = db_target
    first = await ingest(path, "seeds")
    assert (first.files, first.new, first.updated, first.unchanged) == (2, 2, 0, 0)
    before = content(path)
    second = await ingest(path, "seeds")
    assert (second.files, second.new, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert second.rejected == []
    assert content(path) == before


async def test_touched_but_identical_file_is_unchanged(tmp_path, db_target):
    src = tmp_path / "src"
    f = write_article(src, "a.md", "Alpha launches a rocket", "https://a.example/1")
    path = db_target
    await ingest(path, src)
    before = content(path)
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10_000_000_000))
    report = await ingest(path, src)
    assert (report.new, report.updated, report.unchanged) == (0, 0, 1)
    assert content(path) == before


async def test_same_url_in_two_files_is_one_article_newest_fields_and_union_of_related(
    tmp_path, db_target, another_db_target
):
    src = tmp_path / "src"
    rel_a = related("Outlet A covers the rocket", "https://ra.example/1", "2024-05-01T09:00:00Z")
    rel_b = related("Outlet B covers the rocket", "https://rb.example/1", "2024-05-02T09:00:00Z")
    write_article(
        src,
        "old.md",
        "Alpha launches a rocket",
        "https://a.example/1",
        published="2024-05-01T10:00:00Z",
        quality=50,
        related_items=[rel_a],
    )
    write_article(
        src,
        "new.md",
        "Alpha launches a bigger rocket",
        "https://A.example/1#frag",
        published="2024-05-02T10:00:00Z",
        quality=90,
        related_items=[rel_b],
    )
    path = db_target
    report = await ingest(path, src)
    assert report.rejected == []
    c = content(path)
    articles = [i for i in c["items"] if i[8] == 1]
    assert len(articles) == 1
    url, title, _, _, quality, *_ = articles[0]
    assert (url, title, quality) == ("https://a.example/1", "Alpha launches a bigger rocket", 90)
    assert set(c["links"]) == {
        ("https://a.example/1", "https://ra.example/1"),
        ("https://a.example/1", "https://rb.example/1"),
    }
    # order of arrival does not matter
    other = another_db_target
    await ingest(other, src / "new.md")
    await ingest(other, src / "old.md")
    assert content(other)["items"] == c["items"]
    assert content(other)["links"] == c["links"]


async def test_file_that_comes_back_longer_updates_its_article(tmp_path, db_target):
    src = tmp_path / "src"
    rel1 = related("Rocket story at B", "https://b.example/1", "2024-05-01T09:00:00Z")
    rel2 = related("Rocket story at C", "https://c.example/1", "2024-05-01T11:00:00Z")
    f = write_article(
        src,
        "a.md",
        "Alpha launches a rocket",
        "https://a.example/1",
        quality=50,
        related_items=[rel1],
    )
    path = db_target
    await ingest(path, src)
    write_article(
        src,
        "a.md",
        "Alpha launches a rocket",
        "https://a.example/1",
        quality=77,
        related_items=[rel1, rel2],
    )
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 5_000_000_000))
    report = await ingest(path, src)
    assert (report.new, report.updated, report.unchanged) == (0, 1, 0)
    c = content(path)
    assert [i[4] for i in c["items"] if i[0] == "https://a.example/1"] == [77]
    assert len(c["links"]) == 2


async def test_related_item_that_is_an_article_is_the_same_row(tmp_path, db_target):
    src = tmp_path / "src"
    write_article(
        src,
        "a.md",
        "Alpha launches a rocket",
        "https://a.example/1",
        related_items=[
            related("Beta on the rocket", "https://b.example/2", "2024-05-01T12:00:00Z", quality=10)
        ],
    )
    write_article(
        src,
        "b.md",
        "Beta on the rocket",
        "https://b.example/2",
        published="2024-05-01T12:00:00Z",
        quality=88,
    )
    path = db_target
    await ingest(path, src)
    c = content(path)
    rows = [i for i in c["items"] if i[0] == "https://b.example/2"]
    assert len(rows) == 1 and rows[0][4] == 88 and rows[0][8] == 1


async def test_malformed_file_is_reported_and_the_rest_loads_and_stays_reported(
    tmp_path, db_target
):
    src = tmp_path / "src"
    write_article(src, "good.md", "Alpha launches a rocket", "https://a.example/1")
    (src / "bad.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    path = db_target
    report = await ingest(path, src)
    assert report.new == 1
    assert [r["path"] for r in report.rejected] == [str((src / "bad.md").resolve())]
    assert "line" in report.rejected[0]["reason"]
    again = await ingest(path, src)
    assert again.rejected == report.rejected and again.unchanged == 1


async def test_removed_article_is_stored_but_hidden(tmp_path, db_target):
    src = tmp_path / "src"
    write_article(
        src,
        "gone.md",
        "Withdrawn rocket claims",
        "https://a.example/gone",
        removed=True,
        topics=["Space"],
    )
    path = db_target
    await ingest(path, src)
    assert rows(path, "SELECT removed FROM items WHERE url LIKE '%gone'") == [(1,)]
    assert rows(path, "SELECT count(*) FROM stories WHERE article_count > 0") == [(0,)]
    assert rows(path, "SELECT article_count FROM topics WHERE name='Space'") == [(0,)]


async def test_missing_path_is_reported(tmp_path, db_target):
    report = await ingest(db_target, tmp_path / "does-not-exist")
    assert len(report.rejected) == 1
    assert "does-not-exist" in report.rejected[0]["path"]


# -- incremental story grouping -----------------------------------------------------------------
def _stories(db_path: str) -> list[set[str]]:
    groups = content(db_path)["stories"]
    return [set(g) for g in groups]


async def test_bridging_article_merges_two_stories_and_keeps_an_alias(tmp_path, db_target):
    src = tmp_path / "src"
    write_article(
        src,
        "a.md",
        "Volcano erupts near Reykjavik airport",
        "https://a.example/1",
        excerpt="Lava flows toward the airport as Iceland evacuates Grindavik.",
        published="2024-05-01T08:00:00Z",
    )
    write_article(
        src,
        "b.md",
        "Grindavik evacuated as Reykjavik volcano lava advances",
        "https://b.example/1",
        published="2024-05-01T20:00:00Z",
        excerpt="Iceland evacuates Grindavik while lava from the volcano advances.",
    )
    write_article(
        src,
        "c.md",
        "Quarterly earnings beat forecasts at bakery chain",
        "https://c.example/1",
        published="2024-05-01T09:00:00Z",
        excerpt="Croissant sales lifted revenue.",
    )
    path = db_target
    await ingest(path, src / "a.md", src / "c.md")
    first = _stories(path)
    assert len(first) == 2  # the volcano and the bakery are different events
    [(volcano_id,)] = rows(path, "SELECT story_id FROM items WHERE url = 'https://a.example/1'")
    await ingest(path, src / "b.md")  # joins the volcano story, never the bakery one
    groups = _stories(path)
    assert {"https://a.example/1", "https://b.example/1"} in groups
    assert {"https://c.example/1"} in groups

    # two separate stories, then a bridge listing both: they merge, and the old id resolves
    write_article(
        src,
        "d.md",
        "Volcano lava reaches Grindavik defences near Reykjavik",
        "https://d.example/1",
        published="2024-05-02T08:00:00Z",
        excerpt="The Reykjavik volcano lava reached Grindavik defences overnight.",
        related_items=[
            related(
                "Lava reaches Grindavik defences, Reykjavik volcano",
                "https://e.example/1",
                "2024-05-02T07:00:00Z",
                excerpt="Volcano lava reached the Grindavik defences.",
            )
        ],
    )
    await ingest(path, src / "d.md")
    ids = {
        r[0]
        for r in rows(
            path,
            "SELECT story_id FROM items WHERE url IN "
            "('https://a.example/1', 'https://d.example/1', 'https://e.example/1')",
        )
    }
    assert len(ids) == 1
    (current,) = ids
    alias = rows(path, "SELECT new_id FROM story_aliases WHERE old_id = ?", (volcano_id,))
    assert volcano_id == current or alias == [(current,)]


async def test_story_span_is_capped_so_daily_follow_ups_do_not_chain_forever(tmp_path, db_target):
    src = tmp_path / "src"
    for day in range(12):
        write_article(
            src,
            f"{day:02d}.md",
            f"Volcano lava update Grindavik Reykjavik day {day}",
            f"https://v.example/{day}",
            published=f"2024-05-{day + 1:02d}T08:00:00Z",
            excerpt="Volcano lava Grindavik Reykjavik evacuation continues.",
        )
    path = db_target
    await ingest(path, src)
    spans = rows(path, "SELECT max(published_at) - min(published_at) FROM items GROUP BY story_id")
    assert len(spans) > 1
    assert all(span <= 7 * 86400 for (span,) in spans)
