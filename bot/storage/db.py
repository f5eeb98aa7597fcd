"""The database handle: one aiosqlite connection, its pragmas, and migrations.

All SQL runs on aiosqlite's connection thread, never on the event loop. Batch work (an ingest batch,
story grouping) is written as plain synchronous functions of a ``sqlite3.Connection`` and run there
in one hop with :meth:`Database.run`, inside one explicit transaction; small queries use
:meth:`Database.fetchall` / :meth:`Database.fetchone`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)

T = TypeVar("T")


class StorageError(Exception):
    """A database problem whose message is safe to show to an operator."""


class SchemaTooNewError(StorageError):
    pass


PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -16000",
)


def migrate(
    conn: sqlite3.Connection, path: str = "<db>", migrations: Sequence[str] | None = None
) -> int:
    """Bring the schema up to the latest version; refuse a database newer than the code.

    An existing database is first copied beside itself (``DB.pre-vN-STAMP.bak``, see
    :func:`bot.storage.backup.pre_migration_backup`), and the pending migrations run in ONE
    transaction: a failure leaves the database exactly as it was.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    target = len(migrations)  # SCHEMA_VERSION, unless a test injects its own list
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > target:
        raise SchemaTooNewError(
            f"{path}: database schema version {version} is newer than this newsbot understands "
            f"({target}); upgrade newsbot, or point it at another database"
        )
    if version == target:
        return target
    copy = None
    if version > 0 and path != ":memory:" and Path(path).is_file():
        from bot.storage.backup import BackupError, pre_migration_backup

        try:
            copy = pre_migration_backup(conn, path, version, target)
        except BackupError as exc:
            raise StorageError(str(exc)) from exc
        log.info(
            "database %s is at schema version %d: backup copy %s written before migrating to %d",
            path,
            version,
            copy,
            target,
        )
    steps = "\n".join(
        f"{migrations[n - 1]}\nPRAGMA user_version = {n};" for n in range(version + 1, target + 1)
    )
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{steps}\nCOMMIT;")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        kept = f"; a copy from before is at {copy}" if copy else ""
        raise StorageError(
            f"{path}: migration from schema version {version} to {target} failed: {exc}; the "
            f"database was left unchanged at version {version}{kept}"
        ) from exc
    log.info("database %s migrated from schema version %d to %d", path, version, target)
    return target


def configure(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


class Database:
    """An open, migrated database. Create with :func:`open_database`."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(sqlite3_connection, *args)`` on the connection's own thread; return its result.

        aiosqlite has no public hook for this; its ``_execute`` queue is the one place that runs
        a callable on the connection thread, which keeps all SQL on one thread and an ingest
        batch to a single hop instead of thousands of awaits. Covered by the storage tests.
        """
        return await self._conn._execute(fn, self._conn._conn, *args)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def close(self) -> None:
        await self._conn.close()


def _check_folder(path: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise StorageError(f"{path}: folder {parent} does not exist")


@asynccontextmanager
async def open_database(path: str | Path) -> AsyncIterator[Database]:
    """Open (creating if needed), configure and migrate the database; close it on exit."""
    path = str(path)
    if path != ":memory:":
        await asyncio.to_thread(_check_folder, path)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        db = Database(conn, path)
        try:
            await db.run(configure)
            await db.run(migrate, path)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path}: not a usable newsbot database: {exc}") from exc
        yield db
    finally:
        await conn.close()
