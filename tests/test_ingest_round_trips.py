"""Issue 12, PostgreSQL ingest speed: the writer's fewer round trips change nothing it writes.

On PostgreSQL a batch's files are written in pipeline mode, what each file would ask the
database is read ahead per batch, rows go in one statement per table, and the story store reads
several things per query. These tests pin that the content is the same as writing each file in
its own run, on both backends, and that a value PostgreSQL refuses in a statement whose result is
not read still rejects only its own file.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import stories as engine_module
from bot.domain.models import Article, RelatedItem
from bot.storage import articles as articles_store
from bot.storage import stories as grouper_module
from bot.storage.db import configure, migrate, open_database
from bot.storage.dialect import insert_rows
from bot.storage.stories import StoryGrouper
from tests.factories import related, write_article
from tests.support.backends import rows
from tests.support.ingest import ingest_at, scalar

T0 = 1_700_000_000


def _cross_linked(src: Path) -> list[Path]:
    """Files that make the read-ahead caches work: an article first named in an earlier file's
    related list, two files of one url, topics and images shared, a related entry renamed."""
    day = "2024-05-01T1{}:00:00Z"
    falcon, booster, harbour = (
        "https://a.example/falcon", "https://b.example/booster", "https://c.example/harbour"
    )  # fmt: skip
    return [
        write_article(
            src, "01.md", "Falcon rocket lands on a barge at sea", "https://a.example/falcon",
            published=day.format(0), topics=["Space", "Rockets"], image="https://img.example/1",
            related_items=[
                related("Falcon booster is recovered", booster, day.format(1)),
                related("Harbour welcomes the barge", harbour, day.format(2)),
            ],
        ),
        write_article(
            src, "02.md", "Falcon booster is recovered intact", "https://b.example/booster",
            published=day.format(1), topics=["Space"], provider="Other Wire",
            related_items=[
                related("Falcon rocket lands on a barge", falcon, day.format(0)),
                related("Harbour greets the barge crew", harbour, day.format(2)),
            ],
        ),
        write_article(
            src, "03.md", "Falcon booster recovered, engineers say", "https://b.example/booster",
            published=day.format(3), topics=["Rockets"], quality=90,
        ),
        write_article(
            src, "04.md", "Orchard harvest sets a record", "https://d.example/orchard",
            published=day.format(4), topics=["Food"], image="https://img.example/1",
            related_items=[
                related("Harbour greets the barge crew", harbour, day.format(2)),
            ],
        ),
    ]  # fmt: skip


def _content(target: str) -> dict[str, list[tuple]]:
    """Everything the writer stores, by url and path (ids differ between runs)."""
    return {
        "items": rows(
            target,
            "SELECT url, title, excerpt, published_at, quality, is_article, removed, "
            "version_key, first_seen_at FROM items ORDER BY url",
        ),
        "topics": rows(
            target,
            "SELECT i.url, t.key FROM item_topics x JOIN items i ON i.id = x.item_id "
            "JOIN topics t ON t.id = x.topic_id ORDER BY 1, 2",
        ),
        "images": rows(
            target,
            "SELECT i.url, m.position, m.url FROM images m JOIN items i ON i.id = m.item_id "
            "ORDER BY 1, 2",
        ),
        "links": rows(
            target,
            "SELECT f.path, s.url, d.url, l.position FROM links l JOIN files f ON f.id = l.file_id "
            "JOIN items s ON s.id = l.src_id JOIN items d ON d.id = l.dst_id ORDER BY 1, 4",
        ),
        "files": rows(
            target,
            "SELECT f.path, i.url, f.error FROM files f LEFT JOIN items i ON i.id = f.item_id "
            "ORDER BY 1",
        ),
        "providers": rows(target, "SELECT key, name FROM providers ORDER BY key"),
        "stories": rows(
            target,
            "SELECT i.url, (SELECT min(j.url) FROM items j WHERE j.story_id = i.story_id) "
            "FROM items i ORDER BY 1",
        ),
    }


async def test_one_batch_writes_what_one_file_per_run_writes(
    tmp_path: Path, db_target: str, another_db_target: str
) -> None:
    paths = _cross_linked(tmp_path / "src")
    report = await ingest_at(db_target, *paths, now=T0)
    assert report.new == 3 and report.updated == 1 and not report.rejected
    for path in paths:  # each file its own batch: nothing read ahead outlives a write
        await ingest_at(another_db_target, path, now=T0)
    batch, single = _content(db_target), _content(another_db_target)
    assert batch == single
    assert ("https://b.example/booster", "Falcon booster recovered, engineers say") in {
        r[:2] for r in batch["items"]
    }
    assert ("https://c.example/harbour", "Harbour greets the barge crew") in {
        r[:2] for r in batch["items"]
    }


async def test_corrected_url_in_the_same_batch_hides_the_old_article(
    tmp_path: Path, db_target: str
) -> None:
    """The previous article of a file is read ahead; the hide it causes is seen by a later file
    of the same batch that names the hidden url again."""
    src = tmp_path / "src"
    write_article(src, "a.md", "Typo url", "https://a.example/tpyo")
    await ingest_at(db_target, src, now=T0)
    write_article(src, "a.md", "Typo url", "https://a.example/typo")
    write_article(
        src, "b.md", "Other", "https://b.example/other",
        related_items=[related("Typo url", "https://a.example/tpyo", "2024-05-01T10:00:00Z")],
    )  # fmt: skip
    await ingest_at(db_target, src, now=T0 + 60)
    removed = scalar(db_target, "SELECT removed FROM items WHERE url = 'https://a.example/tpyo'")
    assert removed == 1
    assert scalar(db_target, "SELECT count(*) FROM items WHERE removed = 0 AND is_article = 1") == 2


async def test_insert_rows_writes_the_same_rows_on_both_backends(db_target: str) -> None:
    async with open_database(db_target, readers=0) as db:

        def write(conn) -> list:
            conn.execute("BEGIN IMMEDIATE")
            insert_rows(
                conn,
                "INSERT INTO story_buckets(bucket, stories, items)",
                ("bigint", "bigint", "bigint"),
                [(1, 1, 2), (2, 0, 5)],
            )
            returned = insert_rows(
                conn,
                "INSERT INTO story_buckets(bucket, stories, items)",
                ("bigint", "bigint", "bigint"),
                [(1, 3, 0), (3, 1, 1)],
                "ON CONFLICT(bucket) DO UPDATE SET "
                "stories = story_buckets.stories + excluded.stories",
                returning="bucket, stories",
            )
            assert insert_rows(conn, "INSERT INTO story_buckets(bucket)", ("bigint",), []) is None
            conn.execute("COMMIT")
            return [] if returned is None else sorted(tuple(r) for r in returned)

        returned = await db.run(write)
        got = await db.fetchall("SELECT bucket, stories, items FROM story_buckets ORDER BY bucket")
    assert [tuple(r) for r in got] == [(1, 4, 2), (2, 0, 5), (3, 1, 1)]
    if db_target.startswith("postgresql://"):
        assert returned == [(1, 4), (3, 1)]
    else:
        assert returned == []  # SQLite's executemany returns nothing: callers read after


async def test_a_refusal_met_late_in_the_pipeline_rejects_only_its_file(
    tmp_path: Path, db_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a statement whose result is never read fails at the server; the error comes
    back with a later statement of the file (or at the end of its block) and still rejects that
    file alone. (SQLite reads the cast as 0 and refuses nothing.)"""
    if not db_target.startswith("postgresql://"):
        pytest.skip("a server-side refusal in a pipelined statement is PostgreSQL's")
    src = tmp_path / "src"
    for i in range(12):
        write_article(src, f"{i:03d}.md", f"Headline {i}", f"https://e.example/{i}")
    real = articles_store._upsert_article

    def upsert(conn, lookups, article, source, now):
        found = real(conn, lookups, article, source, now)
        if article.url.endswith("/5"):
            conn.execute("SELECT CAST(? AS integer)", ("not a number",))  # result never read
        return found

    monkeypatch.setattr(articles_store, "_upsert_article", upsert)
    report = await ingest_at(db_target, src, now=T0)
    assert report.new == 11
    [rejected] = report.rejected
    assert rejected["path"].endswith("005.md") and "could not be stored" in rejected["reason"]
    assert scalar(db_target, "SELECT count(*) FROM items WHERE is_article = 1") == 11
    assert scalar(db_target, "SELECT count(*) FROM items WHERE url = 'https://e.example/5'") == 0
    grouped = scalar(db_target, "SELECT count(*) FROM items WHERE story_id IS NOT NULL")
    assert grouped == 11


async def test_a_refusal_met_in_the_next_file_fails_the_batch_not_that_file(
    tmp_path: Path,
    db_target: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL: a statement sent last for a file (no read of that file follows it) fails at
    the server; the error reaches Python while the NEXT file is written. That file's savepoint
    was never made (the server skipped it), so neither file is blamed wrongly: the batch fails,
    the ingest writes its files one by one, and only the file at fault is rejected."""
    if not db_target.startswith("postgresql://"):
        pytest.skip("a server-side refusal in a pipelined statement is PostgreSQL's")
    src = tmp_path / "src"
    for i in range(12):
        write_article(src, f"{i:03d}.md", f"Headline {i}", f"https://e.example/{i}")
    real = articles_store._write_one

    def write_one(conn, lookups, grouper, source, parsed, now):
        found = real(conn, lookups, grouper, source, parsed, now)
        if parsed.article.url.endswith("/5"):
            conn.execute("SELECT CAST(? AS integer)", ("not a number",))  # result never read
        return found

    monkeypatch.setattr(articles_store, "_write_one", write_one)
    with caplog.at_level(logging.WARNING, logger="bot.services.ingest"):
        report = await ingest_at(db_target, src, now=T0)
    assert "writing them one by one" in caplog.text
    assert report.new == 11
    [rejected] = report.rejected
    assert rejected["path"].endswith("005.md") and "could not be stored" in rejected["reason"]
    assert scalar(db_target, "SELECT count(*) FROM items WHERE is_article = 1") == 11
    assert scalar(db_target, "SELECT count(*) FROM files WHERE error IS NULL") == 11


def test_read_ahead_tokenises_only_what_may_be_grouped_and_only_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL read-ahead reads the term frequencies of the batch's items in a few
    queries. It skips related entries outside the article's grouping window (add_item_group
    never groups them), and the engine reuses the tokens it computed: each text is tokenised
    once per batch, not once by the read-ahead and again by the grouping."""
    seen: list[str] = []
    real = engine_module.item_tokens

    def counting(title: str, excerpt: str | None):
        seen.append(title)
        return real(title, excerpt)

    monkeypatch.setattr(engine_module, "item_tokens", counting)
    monkeypatch.setattr(grouper_module, "item_tokens", counting)
    path = str(tmp_path / "t.db")
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    migrate(conn, path)
    at = datetime(2024, 5, 1, tzinfo=UTC)
    article = Article(
        url="https://a.example/falcon",
        title="Falcon rocket lands on a barge",
        published_at=at,
        related=(
            RelatedItem("https://b.example/near", "Falcon booster recovered", None, at),
            RelatedItem("https://c.example/far", "Harbour of old", None, at - timedelta(days=40)),
        ),
    )
    conn.execute("BEGIN")
    grouper = StoryGrouper(conn, T0)
    grouper.store._read_ahead = True  # as on PostgreSQL; the logic is the dialect's same
    grouper.read_ahead([article])
    assert seen == ["Falcon rocket lands on a barge", "Falcon booster recovered"]
    grouper.engine.add(1, article.title, None, at)
    assert seen == ["Falcon rocket lands on a barge", "Falcon booster recovered"]  # reused
    conn.execute("ROLLBACK")
    conn.close()


def _story_state(target: str) -> dict[str, list[tuple]]:
    """What grouping keeps besides ``items.story_id``: the counts and centroids (story ids are
    given in the order stories are made, so they differ between runs: stories by their urls)."""
    story = "(SELECT min(j.url) FROM items j WHERE j.story_id = {})"

    def rounded(found: list[tuple]) -> list[tuple]:  # sums of floats, made in another order
        return [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in found]

    return {
        "terms": rows(target, "SELECT term, bucket, stories, items FROM term_buckets ORDER BY 1,2"),
        "buckets": rows(target, "SELECT bucket, stories, items FROM story_buckets ORDER BY 1"),
        "counts": rows(target, "SELECT held, items FROM story_ids"),
        "centroids": rounded(
            rows(
                target,
                f"SELECT {story.format('t.story_id')}, t.term, t.weight FROM story_terms t "
                "ORDER BY 1, 2",
            )
        ),
        "heads": rounded(
            rows(
                target,
                f"SELECT {story.format('s.id')}, s.size, s.norm2, s.span_first, s.span_last "
                "FROM stories s ORDER BY 1",
            )
        ),
    }


async def test_a_grouping_that_fails_part_way_leaves_no_trace_in_the_story_state(
    tmp_path: Path, db_target: str, another_db_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose grouping fails after it changed the story store (its rows and its pending
    counts) is rejected alone, and the stories, their centroids and the term counts are exactly
    those of an ingest without it: the rollback of its savepoint does not leave the grouper's
    caches and pending counts holding what was undone (the batch is written again file by file
    when earlier files of it were grouped; a batch's first grouping resets the grouper)."""
    src, good = tmp_path / "src", tmp_path / "good"
    day = "2024-05-0{}T10:00:00Z"
    for folder in (src, good):
        write_article(folder, "01.md", "Falcon rocket lands on a barge", "https://a.example/1",
                      published=day.format(1))  # fmt: skip
        write_article(folder, "03.md", "Falcon rocket barge landing filmed", "https://c.example/3",
                      published=day.format(1))  # fmt: skip
    write_article(src, "02.md", "Zebra crossing Falcon barge parade", "https://b.example/2",
                  published=day.format(1))  # fmt: skip
    real = grouper_module.SqliteStore.add

    def add(self, story, item, vec, at):
        real(self, story, item, vec, at)  # its rows written, its counts pending
        if any(t.startswith("zebra") for t in vec):
            raise ValueError("grouping failed part way")

    monkeypatch.setattr(grouper_module.SqliteStore, "add", add)
    report = await ingest_at(db_target, src, now=T0)  # one batch, the failure in its middle
    [rejected] = report.rejected
    assert rejected["path"].endswith("02.md") and "part way" in rejected["reason"]
    assert report.new == 2
    await ingest_at(another_db_target, good, now=T0)
    expected = _story_state(another_db_target)
    assert expected["terms"] and expected["centroids"]
    assert _story_state(db_target) == expected
    assert _content(db_target)["stories"] == _content(another_db_target)["stories"]


def _lists_entry(folder: Path, name: str, excerpt: str, other: str | None = None) -> None:
    """An article whose related list names the entry ``https://e.example/entry`` (and, given
    ``other``, the entry ``https://e.example/other`` with that excerpt)."""
    entries = [related("Falcon barge returns", "https://e.example/entry", "2024-05-01T09:00:00Z",
                       excerpt=excerpt)]  # fmt: skip
    if other is not None:
        entries.append(related("Barge crew greeted", "https://e.example/other",
                               "2024-05-01T09:30:00Z", excerpt=other))  # fmt: skip
    write_article(folder, name, f"Barge report {name}", f"https://a.example/{name}",
                  related_items=entries)  # fmt: skip


async def test_a_related_entry_listed_again_holds_what_the_last_list_says(
    tmp_path: Path, db_target: str, another_db_target: str
) -> None:
    """The same entry in many related lists of one batch is written once per change of its
    fields, and the stored row ends as the last list says, as when each file is its own run:
    listed v1, v1, v2 it is v2 (a list is not taken for an earlier one of the same url); listed
    v1, v2, v1 it is v1 (nor for an earlier one with the same fields)."""
    src = tmp_path / "src"
    for name, entry, other in (("01.md", "v1", "v1"), ("02.md", "v1", "v2"), ("03.md", "v2", "v1")):
        _lists_entry(src, name, entry, other)
    report = await ingest_at(db_target, src, now=T0)  # one batch
    assert report.new == 3 and not report.rejected
    for path in sorted(src.iterdir()):
        await ingest_at(another_db_target, path, now=T0)
    query = "SELECT excerpt FROM items WHERE url = 'https://e.example/{}'"
    assert scalar(db_target, query.format("entry")) == "v2"
    assert scalar(db_target, query.format("other")) == "v1"
    assert _content(db_target) == _content(another_db_target)


async def test_a_related_entry_written_by_a_file_that_is_undone_is_written_again(
    tmp_path: Path, db_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that wrote the entry as v2 and then failed is rolled back to its savepoint: the
    entry is v1 again in the database, so the next file's v2 must be written, not taken for
    what the undone file wrote."""
    src = tmp_path / "src"
    for name, excerpt in (("01.md", "v1"), ("02.md", "v2"), ("03.md", "v2")):
        _lists_entry(src, name, excerpt)
    real = articles_store._upsert_related

    def upsert_related(conn, lookups, items, now):
        ids = real(conn, lookups, items, now)
        writing = {u for u in lookups.articles if u.startswith("https://a.example/")}
        if max(writing) == "https://a.example/02.md":  # the file 02.md is being written
            raise ValueError("the file failed after its related rows")
        return ids

    monkeypatch.setattr(articles_store, "_upsert_related", upsert_related)
    report = await ingest_at(db_target, src, now=T0)  # one batch
    [rejected] = report.rejected
    assert rejected["path"].endswith("02.md")
    assert report.new == 2
    assert (
        scalar(db_target, "SELECT excerpt FROM items WHERE url = 'https://e.example/entry'") == "v2"
    )
