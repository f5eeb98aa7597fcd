"""Issue 8, ingest half: bounded values and warnings, versions, first-seen times, ghosts, globs,
text safety, the writer's robustness and quiet debug logs."""

from __future__ import annotations

import logging
import os
import sqlite3
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.digest_selection import Window
from bot.ingest.loader import expand_paths
from bot.ingest.parser import MAX_ENTRIES, ArticleParseError, parse_article
from bot.ingest.values import MAX_WARNINGS_PER_KIND, clean_text
from bot.services.ingest import IngestService
from bot.storage import articles as articles_store
from bot.storage.articles import MAX_WARNINGS_TEXT
from bot.storage.db import open_database
from bot.storage.digest_candidates import candidate_stories
from tests.factories import article_text, related, write_article
from tests.support.ingest import ingest_at, item, scalar

HUGE = 10**19  # above 2**63 - 1
T0 = 1_700_000_000


# -- 3: integers beyond what SQLite stores ------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"quality": HUGE}, "quality"),
        ({"heat": -HUGE}, "heat"),
        ({"heat": "99999999999999999999999"}, "heat"),
        ({"quality": 1e19}, "quality"),
        ({"images": [{"url": "https://img.example/a.jpg", "width": HUGE, "height": 3}]}, "width"),
        (
            {"related": [{**related("R", "https://r.example/1", "2024-05-01"), "quality": HUGE}]},
            "related[0].quality",
        ),
    ],
)  # fmt: skip
def test_out_of_range_integer_is_dropped_with_a_warning(extra: dict, field: str) -> None:
    text = article_text("Huge", "https://example.com/huge", extra=extra)
    parsed = parse_article(text.encode())
    notes = [w for w in parsed.warnings if field in w and "out of range" in w]
    assert notes, parsed.warnings
    a = parsed.article
    values = [a.quality, a.heat, *(i.width for i in a.images), *(r.quality for r in a.related)]
    assert all(v is None or -(2**63) <= v < 2**63 for v in values)


async def test_one_huge_integer_does_not_abort_the_ingest(tmp_path: Path, db_target: str) -> None:
    src = tmp_path / "src"
    for i in range(120):
        extra = {"quality": HUGE} if i == 7 else None
        write_article(src, f"{i:03d}.md", f"Headline {i}", f"https://e.example/{i}", extra=extra)
    report = await ingest_at(db_target, src)
    assert report.new == 120 and not report.rejected
    assert item(db_target, "https://e.example/7")["quality"] is None


async def test_a_file_the_database_refuses_is_rejected_and_the_batch_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer robustness: a value that slips past the parser and makes SQLite raise rejects that
    one file with a reason; the files before and after it (same batch, later batches) are kept.
    SQLite only: PostgreSQL takes 2**64 as a numeric, so nothing is refused there."""
    src = tmp_path / "src"
    for i in range(150):
        write_article(src, f"{i:03d}.md", f"Headline {i}", f"https://e.example/{i}")
    real = articles_store._upsert_article

    def upsert(conn, lookups, article, source, now):
        if article.url.endswith("/5"):
            conn.execute("SELECT ?", (2**64,))  # OverflowError, as a huge int used to give
        return real(conn, lookups, article, source, now)

    monkeypatch.setattr(articles_store, "_upsert_article", upsert)
    report = await ingest_at(tmp_path / "db.sqlite", src)
    assert report.new == 149
    [rejected] = report.rejected
    assert rejected["path"].endswith("005.md")
    assert "could not be stored" in rejected["reason"] and "OverflowError" in rejected["reason"]
    assert scalar(tmp_path / "db.sqlite", "SELECT count(*) FROM items WHERE is_article = 1") == 149


# -- 6: a related item that becomes an article is new -----------------------------------------
async def test_article_first_seen_as_related_reaches_the_next_digest(
    tmp_path: Path, db_target: str
) -> None:
    db_path = db_target
    src = tmp_path / "src"
    b_url = "https://b.example/later"
    write_article(
        src,
        "a.md",
        "Alpha rockets launch from the desert",
        "https://a.example/first",
        published="2024-05-01T10:00:00Z",
        related_items=[
            related("Unrelated gardening tips for spring", b_url, "2024-05-01T09:00:00Z")
        ],
    )
    await ingest_at(db_path, src, now=T0)
    assert item(db_path, b_url)["first_seen_at"] == T0
    # the previous digest's window ends here; B's own file arrives a day later
    write_article(
        src,
        "b.md",
        "Unrelated gardening tips for spring",
        b_url,
        published="2024-05-01T09:00:00Z",
    )
    later = T0 + 86_400
    await ingest_at(db_path, src, now=later)
    row = item(db_path, b_url)
    assert row["is_article"] == 1 and row["first_seen_at"] == later
    at = lambda ts: datetime.fromtimestamp(ts, UTC)  # noqa: E731
    window = Window(at(T0 + 60), at(later + 60), datetime(2024, 4, 1, tzinfo=UTC))
    async with open_database(db_path) as db:
        stories = await db.read(candidate_stories, window)
    leads = {s.lead.url for s in stories}
    assert b_url in leads, leads


# -- 7: a file edited to an earlier date -----------------------------------------------------
async def test_same_file_edited_to_an_earlier_date_replaces_its_article(
    tmp_path: Path, db_target: str
) -> None:
    db_path = db_target
    path = write_article(
        tmp_path / "src", "a.md", "Old title", "https://a.example/x", quality=10,
        published="2024-05-02T10:00:00Z",
    )  # fmt: skip
    await ingest_at(db_path, path)
    write_article(
        tmp_path / "src", "a.md", "Corrected title", "https://a.example/x", quality=90,
        published="2024-05-01T10:00:00Z",
    )  # fmt: skip
    os.utime(path, ns=(1, 1))  # even an older mtime: it is the same file's new version
    report = await ingest_at(db_path, path)
    assert report.updated == 1 and report.unchanged == 0
    row = item(db_path, "https://a.example/x")
    assert (row["title"], row["quality"]) == ("Corrected title", 90)


async def test_an_older_copy_in_another_file_still_loses(tmp_path: Path, db_target: str) -> None:
    db_path = db_target
    src = tmp_path / "src"
    write_article(src, "new.md", "New", "https://a.example/x", published="2024-05-02T10:00:00Z")
    await ingest_at(db_path, src)
    write_article(src, "old.md", "Old", "https://a.example/x", published="2024-05-01T10:00:00Z")
    report = await ingest_at(db_path, src)
    assert report.unchanged == 2
    assert item(db_path, "https://a.example/x")["title"] == "New"


# -- Also: a corrected url leaves no ghost ------------------------------------------------------
async def test_corrected_url_hides_the_old_article(tmp_path: Path, db_target: str) -> None:
    db_path = db_target
    src = tmp_path / "src"
    write_article(src, "a.md", "Typo url", "https://a.example/tpyo")
    write_article(src, "shared1.md", "Shared", "https://a.example/shared")
    await ingest_at(db_path, src)
    write_article(src, "a.md", "Typo url", "https://a.example/typo")
    await ingest_at(db_path, src)
    assert item(db_path, "https://a.example/tpyo")["removed"] == 1
    assert item(db_path, "https://a.example/typo")["removed"] == 0
    visible = scalar(db_path, "SELECT count(*) FROM items WHERE is_article = 1 AND removed = 0")
    assert visible == 2
    stories = scalar(db_path, "SELECT count(*) FROM stories WHERE article_count > 0")
    assert stories == 2
    # a url another file still carries stays
    write_article(src, "shared2.md", "Shared", "https://a.example/shared")
    await ingest_at(db_path, src)
    write_article(src, "shared1.md", "Moved", "https://a.example/moved")
    await ingest_at(db_path, src)
    assert item(db_path, "https://a.example/shared")["removed"] == 0


# -- 8: warnings are bounded ----------------------------------------------------------------
def _flood(n: int) -> bytes:
    head = article_text("Flood", "https://flood.example/a").rstrip().removesuffix("---")
    return (head + "related:\n" + "- a\n" * n + "---\n").encode()


def test_warnings_are_capped_per_kind_with_a_count() -> None:
    parsed = parse_article(_flood(50_000), max_bytes=5_000_000)
    assert len(parsed.warnings) == MAX_WARNINGS_PER_KIND + 1
    assert parsed.warnings[-1] == (
        f"related[]: and {50_000 - MAX_WARNINGS_PER_KIND} more warnings of this kind"
    )


def _peak(data: bytes) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            outcome: object = parse_article(data, max_bytes=5_000_000)
        except ArticleParseError as err:
            outcome = err
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


def test_a_flood_file_is_refused_before_parsing_and_memory_stays_small() -> None:
    peak, outcome = _peak(_flood(1_200_000))  # 4.8 MB of "- a", as in the issue
    assert isinstance(outcome, ArticleParseError) and "too large" in str(outcome)
    assert peak < 30_000_000, peak


def test_a_large_flood_under_the_limit_stays_bounded_in_memory() -> None:
    peak, outcome = _peak(_flood(MAX_ENTRIES - 100))
    assert not isinstance(outcome, ArticleParseError), outcome
    assert len(outcome.warnings) == MAX_WARNINGS_PER_KIND + 1  # type: ignore[attr-defined]
    assert peak < 150_000_000, peak


async def test_flood_file_stores_a_bounded_warnings_text(tmp_path: Path, db_target: str) -> None:
    path = tmp_path / "flood.md"
    path.write_bytes(_flood(100_000))
    db_path = db_target
    report = await ingest_at(db_path, path)
    assert len(report.warnings) == MAX_WARNINGS_PER_KIND + 1
    stored = scalar(db_path, "SELECT warnings FROM files")
    assert len(stored) <= MAX_WARNINGS_TEXT + 40
    assert "more warnings of this kind" in stored


def test_stored_warnings_text_is_capped() -> None:
    text = articles_store.warnings_text(["x" * 290] * 1000)
    assert len(text) <= MAX_WARNINGS_TEXT + 40 and text.endswith("(more notes not stored)")


# -- 9: globs and symlink loops -----------------------------------------------------------------
@pytest.mark.timeout(60)
def test_recursive_glob_with_a_symlink_loop_finishes_and_reads_each_file_once(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    write_article(src / "a" / "b", "deep.md", "Deep", "https://d.example/1")
    write_article(src, "top.md", "Top", "https://d.example/2")
    (src / "a" / "b" / "loop").symlink_to(src, target_is_directory=True)
    (src / "a" / "self").symlink_to(src / "a", target_is_directory=True)
    (src / "alias.md").symlink_to(src / "top.md")
    for spec in (f"{src}/**/*.md", f"{src}/**", str(src)):
        paths, errors = expand_paths([spec])
        assert errors == []
        names = sorted(Path(p).name for p in paths)
        assert names in (["deep.md", "top.md"], ["alias.md", "deep.md"]), (spec, paths)


def test_recursive_glob_matches_like_glob_without_loops(tmp_path: Path) -> None:
    import glob

    for rel in ("x.md", "a/y.md", "a/b/z.md", "a/b/z.txt", ".hidden/h.md", "a/.k.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    for pattern in ("**/*.md", "a/**", "**/b/*", "*/**/z.*", "a/**/b"):
        spec = str(tmp_path / pattern)
        expected, _ = expand_paths([])
        expected = sorted(
            os.path.abspath(p)
            for m in glob.glob(spec, recursive=True)
            for p in ([m] if os.path.isfile(m) else expand_paths([m])[0])
        )
        got, _ = expand_paths([spec])
        assert sorted(got) == sorted(set(expected)), pattern


# -- Also: control, bidi and zero-width characters ----------------------------------------------
def test_clean_text_strips_controls_bidi_and_zero_width() -> None:
    assert clean_text("A\x00B\x07C\x9f D") == "ABC D"
    assert clean_text("line\none\ttab\r\n") == "line one tab"
    assert clean_text("\u202eevil\u202c \u2066iso\u2069 zw\u200bj\u200c\u200d \ufeffbom") == (
        "evil iso zwj bom"
    )
    assert clean_text("plain ünïcode — “quotes” 😀") == "plain ünïcode — “quotes” 😀"


def test_titles_excerpts_and_provider_names_are_cleaned_at_parse_time() -> None:
    text = article_text(
        "Bad\u202e title\u200b",
        "https://c.example/1",
        excerpt="ex\u2066cerpt\x1b[31m",
        provider="Pro\u200dvider",
        related_items=[
            {
                **related("Rel\ufeff\u202d title", "https://c.example/2", "2024-05-01T09:00:00Z"),
                "excerpt": "rel\u2067 ex",
                "provider": {"name": "Rel\u200b Pro"},
            }
        ],
    )
    a = parse_article(text.encode()).article
    assert (a.title, a.excerpt, a.provider.name) == ("Bad title", "excerpt[31m", "Provider")
    [r] = a.related
    assert (r.title, r.excerpt, r.provider.name) == ("Rel title", "rel ex", "Rel Pro")


# -- Also: -v does not log the repr of every batch ---------------------------------------------
async def test_debug_logging_of_an_ingest_stays_small(
    tmp_path: Path, db_target: str, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "src"
    for i in range(60):
        write_article(src, f"{i:02d}.md", f"Headline number {i}", f"https://l.example/{i}")
    with caplog.at_level(logging.DEBUG):
        await ingest_at(db_target, src)
    assert caplog.records
    for record in caplog.records:
        message = record.getMessage()
        assert len(message) < 2_000, message[:300]
        assert "ParsedArticle(" not in message and "SourceFile(" not in message


# -- 10: reads never wait behind writes --------------------------------------------------------
async def test_reads_do_not_wait_behind_a_long_write(tmp_path: Path) -> None:
    """SQLite only: WAL readers beside a ``BEGIN IMMEDIATE`` writer (PostgreSQL's readers never
    wait behind writers, by MVCC; its read connections are tested in test_pg_adapter)."""
    import asyncio
    import threading

    async with open_database(tmp_path / "db.sqlite") as db:
        release = threading.Event()
        holding = threading.Event()

        def long_write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO topics(key, name) VALUES ('k', 'K')")
            holding.set()
            release.wait(30)
            conn.execute("COMMIT")

        writing = asyncio.ensure_future(db.run(long_write))
        await asyncio.to_thread(holding.wait, 30)
        try:
            # while the writer holds its transaction: reads answer, and see the committed state
            async with asyncio.timeout(10):
                (count,) = await db.fetchone("SELECT count(*) FROM topics")
                rows = await db.reader().run(
                    lambda conn: conn.execute("SELECT count(*) FROM items").fetchone()[0]
                )
            assert count == 0 and rows == 0
            assert not writing.done()
        finally:
            release.set()
            await writing
        (count,) = await db.fetchone("SELECT count(*) FROM topics")
        assert count == 1


async def test_reader_connections_refuse_writes(db_target: str) -> None:
    import psycopg

    async with open_database(db_target) as db:
        with pytest.raises((sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)):
            await db.read(lambda conn: conn.execute("INSERT INTO topics(key, name) VALUES (1, 1)"))
        assert tuple(await db.fetchone("SELECT count(*) FROM topics")) == (0,)


async def test_ingest_transactions_are_bounded(tmp_path: Path, db_target: str, monkeypatch) -> None:
    """Other writers (a /digest subscribe) wait at most one bounded ingest transaction."""
    from bot.services import ingest as ingest_mod
    from bot.storage import article_repo

    sizes: list[int] = []
    real = article_repo.write_batch

    def spy(conn, entries, now, *args, **kwargs):
        sizes.append(len(entries))
        return real(conn, entries, now, *args, **kwargs)

    monkeypatch.setattr(article_repo, "write_batch", spy)
    src = tmp_path / "src"
    for i in range(260):
        write_article(src, f"{i:03d}.md", f"Headline {i} {i * 7}", f"https://b.example/{i}")
    async with open_database(db_target) as db, IngestService(db, workers=1) as ing:
        report = await ing.ingest([str(src)])
    assert report.new == 260
    assert max(sizes) <= ingest_mod.WRITE_BATCH < 260


def test_window_helper_is_timezone_aware() -> None:  # guards the digest test's construction
    w = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC),
               datetime(2024, 1, 1, tzinfo=UTC) - timedelta(days=1))  # fmt: skip
    assert w.since.tzinfo is UTC
