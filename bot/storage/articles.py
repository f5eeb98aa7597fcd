"""Writing ingested files into the database: articles, related items, topics, images, links.

Everything here is synchronous and runs on the database writer thread (``Database.run``). One call
of :func:`write_batch` is one transaction; inside it each file is written under its own savepoint,
so one file the database refuses (a value it cannot store, a bug) is rejected with the reason and
the rest of the batch is still written.

Which version of an article wins: a new version of a file always replaces that same file's old
version (an edit may move ``publishedDateTime`` back); between different files carrying the same
url the later ``publishedDateTime`` (then mtime) wins. When a file's url changes, the article of
its old url is hidden (``removed``) unless another file still carries it.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.domain.models import Article, ParsedArticle, SourceFile
from bot.storage.article_rows import (
    _Lookups,
    _upsert_article,
    _upsert_related,
    _version_key,
)
from bot.storage.db import driver_errors
from bot.storage.dialect import Connection, insert_rows, is_postgres, pipelined, resume
from bot.storage.stories import StoryGrouper
from bot.storage.story_cache import GroupingCache

__all__ = [
    "BatchOutcome",
    "KnownFile",
    "known_files",
    "store_articles",
    "write_batch",
]

# The path a feed entry's version is recorded under: no file ever has it, so the version rules
# treat a feed copy like a copy from another file.
FEED_ENTRY_PATH = "<feed entry>"
MAX_WARNINGS_TEXT = 8_000  # characters of parser notes stored per file
# What one file's values can make the database refuse; anything else (locked, I/O) aborts the batch
_SQLITE_FILE_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
    ValueError,
    TypeError,
)


def _file_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")  # loaded when a PostgreSQL database is open
    if psycopg is None:
        return _SQLITE_FILE_ERRORS
    # a value PostgreSQL refuses (out of range, NUL in text), a constraint, a bad parameter
    return (*_SQLITE_FILE_ERRORS, psycopg.DataError, psycopg.IntegrityError)


@dataclass(slots=True)
class BatchOutcome:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    related: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KnownFile:
    size: int
    mtime_ns: int
    digest: str
    error: str | None


def known_files(conn: Connection) -> dict[str, KnownFile]:
    """What the database remembers of every file it has read, by path."""
    rows = conn.execute("SELECT path, size, mtime_ns, digest, error FROM files")
    return {
        path: KnownFile(size, mtime, digest, error) for path, size, mtime, digest, error in rows
    }


def touch_files(conn: Connection, files: Sequence[SourceFile]) -> None:
    """Record a new size/mtime for files whose content hash did not change."""
    if not files:
        return
    conn.executemany(
        "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
        [(f.size, f.mtime_ns, f.path) for f in files],
    )


def warnings_text(warnings: Sequence[str], limit: int = MAX_WARNINGS_TEXT) -> str | None:
    """The stored form of a file's parser notes: newline-separated, at most ``limit`` chars."""
    text = "\n".join(warnings)
    if len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        text = text[: cut if cut > 0 else limit] + "\n(more notes not stored)"
    return text or None


def _record_file(
    conn: Connection,
    source: SourceFile,
    item_id: int | None,
    error: str | None,
    warnings: Sequence[str],
    now: int,
    version: str | None = None,
) -> int:
    return _file_row(conn, source, item_id, error, warnings, now, version)()


def _file_row(
    conn: Connection,
    source: SourceFile,
    item_id: int | None,
    error: str | None,
    warnings: Sequence[str],
    now: int,
    version: str | None,
) -> Callable[[], int]:
    """Upsert the files row of ``source``; returns what gives its id. On PostgreSQL the id is
    read when asked for: call it late in a pipelined block, so that the statements sent after
    the upsert go out before the round trip (SQLite reads it at once: a statement with
    ``RETURNING`` is not left half-read there)."""
    cursor = conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, item_id, error, warnings, ingested_at, "
        "version_key) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
        "size=excluded.size, mtime_ns=excluded.mtime_ns, digest=excluded.digest, "
        "item_id=coalesce(excluded.item_id, files.item_id), error=excluded.error, "
        "warnings=excluded.warnings, ingested_at=excluded.ingested_at, "
        "version_key=coalesce(excluded.version_key, files.version_key) RETURNING id",
        (
            source.path,
            source.size,
            source.mtime_ns,
            source.digest,
            item_id,
            error,
            warnings_text(warnings),
            now,
            version,
        ),
    )
    if is_postgres(conn):
        return lambda: cursor.fetchone()[0]
    (file_id,) = cursor.fetchone()
    return lambda: file_id


def _previous_item(conn: Connection, lookups: _Lookups, path: str) -> int | None:
    """The article the files row of ``path`` holds (read ahead for the batch: the row is
    written right after this, so the read-ahead entry is used once)."""
    if path in lookups.previous:
        return lookups.previous.pop(path)
    row = conn.execute("SELECT item_id FROM files WHERE path = ?", (path,)).fetchone()
    return None if row is None else row[0]


def _hide_if_orphaned(conn: Connection, item_id: int, path: str) -> bool:
    """The file ``path`` no longer carries ``item_id``: hide that article unless another file
    still carries it (a corrected url must not leave a ghost article behind)."""
    other = conn.execute(
        "SELECT 1 FROM files WHERE item_id = ? AND path != ? LIMIT 1", (item_id, path)
    ).fetchone()
    if other is not None:
        return False
    hidden = conn.execute(
        "UPDATE items SET removed = 1 WHERE id = ? AND is_article = 1 AND removed = 0 RETURNING id",
        (item_id,),
    ).fetchone()
    return hidden is not None


def _store_reason(err: Exception) -> str:
    return f"could not be stored: {type(err).__name__}: {str(err)[:200]}"


def write_batch(
    conn: Connection,
    entries: Sequence[tuple[SourceFile, ParsedArticle | None, str | None]],
    now: int,
    grouper_factory=StoryGrouper,
    cache: GroupingCache | None = None,
) -> BatchOutcome:
    """Record one batch of read files in a single transaction and regroup the touched stories.

    ``entries`` are (file, parsed article or None, error or None). A rejected file is recorded
    with its reason; the article it produced before (if any) is kept, so nothing is lost.
    """
    outcome = BatchOutcome()
    lookups = _Lookups(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Each file is completed (article, related rows, links, story) before the next starts, so
        # the result does not depend on where batch boundaries fall: a re-run after a crash ends
        # with the same content as an uninterrupted run.
        grouper = grouper_factory(conn, now, cache=cache)
        # PostgreSQL: one pipeline for the batch, a round trip only where a result is read
        with pipelined(conn):
            _write_files(conn, entries, now, lookups, grouper, outcome)
            grouper.flush()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcome


def _write_files(
    conn: Connection,
    entries: Sequence[tuple[SourceFile, ParsedArticle | None, str | None]],
    now: int,
    lookups: _Lookups,
    grouper: StoryGrouper,
    outcome: BatchOutcome,
) -> None:
    """The files of :func:`write_batch`, each under its own savepoint.

    In a pipeline an error reaches Python with a LATER statement than the one that failed,
    and every statement after that one was skipped. Each file's savepoint therefore has its
    own name: an error met while writing file n is undone with ``ROLLBACK TO`` file n's
    savepoint, which exists only if the failed statement came after it, i.e. belongs to file
    n. An error from an earlier file's statement finds no such savepoint: the batch fails as a
    whole, and the ingest service writes its files one by one (each then its own batch)."""
    parsed_files = [(s.path, p.article) for s, p, _ in entries if p is not None]
    lookups.prefetch(parsed_files)
    grouper.read_ahead([a for _, a in parsed_files if not a.removed])
    for n, (source, parsed, error) in enumerate(entries):
        if parsed is None:
            reason = error or "unreadable"
            lookups.previous.pop(source.path, None)
            _record_file(conn, source, None, reason, (), now)
            outcome.rejected.append((source.path, reason))
            continue
        savepoint = f"newsbot_file_{n}"
        grouped = grouper.entered
        try:
            conn.execute(f"SAVEPOINT {savepoint}")
            result, links = _write_one(conn, lookups, grouper, source, parsed, now)
            conn.execute(f"RELEASE {savepoint}")
        except _file_errors() as err:
            if grouper.entered != grouped and grouped:
                # its grouping failed part way: the rollback would undo its story rows but
                # not the grouper's caches and pending counts, which also hold the earlier
                # files' grouping. The batch fails; the ingest writes its files one by one.
                raise
            # this file only: undo its rows, record why, go on with the batch
            try:
                resume(conn)
                conn.execute(f"ROLLBACK TO {savepoint}")
                resume(conn)  # its outcome before anything else is sent
            except driver_errors() as lost:  # the failed statement was an earlier file's
                raise err from lost
            conn.execute(f"RELEASE {savepoint}")
            lookups.forget_all()  # what it read ahead or cached may have been undone
            if grouper.entered != grouped:  # the first grouping of the batch: nothing else pends
                grouper.reset()
            reason = _store_reason(err)
            _record_file(conn, source, None, reason, (), now)
            outcome.rejected.append((source.path, reason))
            lookups.articles.pop(parsed.article.url, None)
            continue
        setattr(outcome, result, getattr(outcome, result) + 1)
        outcome.related += links
        outcome.warnings.extend((source.path, w) for w in parsed.warnings)


def _write_one(
    conn: Connection,
    lookups: _Lookups,
    grouper: StoryGrouper,
    source: SourceFile,
    parsed: ParsedArticle,
    now: int,
) -> tuple[str, int]:
    """One parsed file: article row, file row, related rows, links, story.

    Returns the outcome ('new' | 'updated' | 'unchanged') and the number of links written.
    """
    article = parsed.article
    previous = _previous_item(conn, lookups, source.path)
    item_id, result = _upsert_article(conn, lookups, article, source, now)
    lookups.articles[article.url] = item_id
    version = _version_key(article, source.mtime_ns)
    file_row = _file_row(conn, source, item_id, None, parsed.warnings, now, version)
    if previous is not None and previous != item_id:
        lookups.forget_item(previous)  # its row may be hidden now
        if _hide_if_orphaned(conn, previous, source.path):
            grouper.refresh_removed([previous])
    related = {r.url: r for r in article.related}
    related_ids = _upsert_related(conn, lookups, related, now) if related else {}
    file_id = file_row()
    conn.execute("DELETE FROM links WHERE file_id = ?", (file_id,))
    link_rows = [
        (file_id, item_id, related_ids[r.url], position)
        for position, r in enumerate(article.related)
        if related_ids[r.url] != item_id
    ]
    insert_rows(
        conn,
        "INSERT INTO links(file_id, src_id, dst_id, position)",
        ("bigint", "bigint", "bigint", "integer"),
        link_rows,
        "ON CONFLICT DO NOTHING",
    )
    if article.removed:
        grouper.refresh_removed([item_id])
    else:
        grouper.add_article(item_id, article, related_ids)
    return result, len(link_rows)


def store_articles(
    conn: Connection,
    articles: Sequence[tuple[Article, int, int | None]],
    now: int,
    grouper_factory=StoryGrouper,
    cache: GroupingCache | None = None,
) -> tuple[BatchOutcome, list[tuple[int, str]]]:
    """Upsert articles that come from a source other than a file (a feed), and group them.

    The same article upsert and story grouping as :func:`write_batch`, without a file row or a
    related list; the CALLER owns the transaction (so that a source's own bookkeeping commits
    with its articles). Each entry is ``(article, version_ns, first_seen_at or None)``: a newly
    stored article gets ``first_seen_at`` when given (a feed's old backlog), else ``now``.
    Returns the counts and ``(item id, 'new' | 'updated' | 'unchanged')`` per article.
    """
    outcome = BatchOutcome()
    lookups = _Lookups(conn)
    grouper = grouper_factory(conn, now, cache=cache)
    results: list[tuple[int, str]] = []
    for article, version_ns, seen_at in articles:
        source = SourceFile(FEED_ENTRY_PATH, 0, version_ns, "")
        item_id, result = _upsert_article(conn, lookups, article, source, now)
        if result == "new" and seen_at is not None and seen_at < now:
            conn.execute(
                "UPDATE items SET first_seen_at = ? WHERE id = ? AND first_seen_at > ?",
                (seen_at, item_id, seen_at),
            )
        lookups.articles[article.url] = item_id
        setattr(outcome, result, getattr(outcome, result) + 1)
        results.append((item_id, result))
        if article.removed:
            grouper.refresh_removed([item_id])
        elif result != "unchanged":
            grouper.add_article(item_id, article, {})
    grouper.flush()
    return outcome, results
