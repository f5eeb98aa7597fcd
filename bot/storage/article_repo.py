"""The articles repository: what the ingest service and the query service ask of stored articles.

:class:`ArticleRepository` methods are async and each is one transaction (or one read); the
synchronous functions they run on the database thread live in ``articles``, ``queries`` and
``stats``. Callers see domain objects only: no connection, no SQL, no driver.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence

from bot.domain.models import ParsedArticle, SourceFile
from bot.domain.views import CoverageItem
from bot.storage import maintenance
from bot.storage import queries as q
from bot.storage.articles import BatchOutcome, KnownFile, known_files, touch_files, write_batch
from bot.storage.db import Database, StorageError, is_busy
from bot.storage.stats import database_stats
from bot.storage.story_cache import GroupingCache

__all__ = ["ArticleRepository", "BatchOutcome", "FileEntry", "KnownFile", "WriteRefused"]


class WriteRefused(StorageError):
    """The database took nothing of a batch for a reason no file is to blame for (a full disk,
    an I/O error): nothing was written; the next ingest retries."""


FileEntry = tuple[SourceFile, ParsedArticle | None, str | None]


def _touch(conn, files: list[SourceFile]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        touch_files(conn, files)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _operational(exc: BaseException) -> bool:
    """A driver error about the database's state (full, I/O, gone), not about a value."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


def _write(
    conn, entries: list[FileEntry], now: int, path: str, cache: GroupingCache
) -> BatchOutcome:
    try:
        # looked up at call time (tests spy on it)
        return write_batch(conn, entries, now, cache=cache)
    except Exception as exc:
        if not _operational(exc) or is_busy(exc):
            raise  # a transient error: Database.run raises it as StorageBusy
        raise WriteRefused(f"{path}: database error: {exc}") from exc


class ArticleRepository:
    """Stored files and articles. Every method is async; each is one transaction or read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the ingest write path (writer connection) ---------------------------------------------
    async def known_files(self) -> dict[str, KnownFile]:
        """What the database remembers of every file it has read, by path."""
        return await self._db.run(known_files)

    async def touch(self, files: Sequence[SourceFile]) -> None:
        """Record new sizes/mtimes of files whose content did not change (one transaction)."""
        await self._db.run(_touch, list(files))

    async def write_batch(self, entries: Sequence[FileEntry], now: int) -> BatchOutcome:
        """Store a batch of read files (articles, related rows, stories) in one transaction.

        A file the database refuses is recorded as rejected and the rest is written; a batch
        refused as a whole raises ``StorageBusy`` (locked: retry soon) or :class:`WriteRefused`
        (disk full, I/O), or the error a file caused outside its own savepoint."""
        return await self._db.run(_write, list(entries), now, self._db.display, self._db.grouping)

    async def after_bulk_write(self, files: int) -> bool:
        """Tell the database that one ingest wrote ``files`` files: from
        ``maintenance.BULK_WRITE`` on, its planner statistics are refreshed (PostgreSQL)."""
        if files < maintenance.BULK_WRITE:
            return False
        return await self._db.run(maintenance.refresh_statistics)

    # -- reads ----------------------------------------------------------------------------------
    async def by_id(self, item_id: int) -> CoverageItem | None:
        return await self._db.read(q.article_by_id, item_id)

    async def by_url(self, url: str) -> CoverageItem | None:
        """The article of a canonical url."""
        return await self._db.read(q.article_by_url, url)

    async def by_title(self, title: str) -> CoverageItem | None:
        """The article whose title is exactly ``title`` (case-insensitively)."""
        return await self._db.read(q.article_by_title, title)

    async def related(self, item_id: int, limit: int, offset: int) -> list[CoverageItem]:
        """The other coverage of ``item_id``'s story and its related links, a page of it."""
        return await self._db.read(q.related_coverage, item_id, limit, offset)

    async def stats(self) -> dict:
        """Database-wide counts (``newsbot stats``)."""
        return await self._db.read(database_stats, self._db.path)
