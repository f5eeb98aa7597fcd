"""The database handle: one writer connection, a few reader connections, pragmas, migrations.

No SQL runs on the event loop. All writes go through one plain ``sqlite3`` connection owned by a
dedicated writer thread: batch work (an ingest batch, story grouping, a subscription) is written
as synchronous functions of a ``sqlite3.Connection`` and run there in one hop with
:meth:`Database.run`, inside one explicit transaction. Reads that must never wait behind a write
(slash commands, autocomplete) run with :meth:`Database.read` on one of ``READERS`` read-only
connections, each on its own thread: in WAL mode a reader sees the last committed state and is
never blocked by the writer. :meth:`Database.reader` gives a view whose ``run`` reads, for a
service that only reads (the query service). A ``:memory:`` database has no separate readers
(each connection would be another, empty database): reads then use the writer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 2


class StorageError(Exception):
    """A database problem whose message is safe to show to an operator."""


class SchemaTooNewError(StorageError):
    pass


class StorageBusy(StorageError):
    """A transient database failure (SQLite locked/busy; on PostgreSQL a lost connection, a
    serialization failure, a deadlock, a lock timeout): nothing was written, worth retrying.
    :meth:`Database.run` and :meth:`Database.read` raise it for the drivers' transient errors."""


def database_errors() -> tuple[type[Exception], ...]:
    """:class:`StorageError` and the drivers' error roots, for the surfaces that report any
    database failure (``except database_errors() as exc``)."""
    return (StorageError, sqlite3.Error)


def is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


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


class _Connection:
    """One ``sqlite3`` connection confined to its own thread (all calls go through it)."""

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.conn: sqlite3.Connection | None = None

    async def open(self, path: str, *, read_only: bool) -> None:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.row_factory = sqlite3.Row
            if read_only:
                configure(conn)
                conn.execute("PRAGMA query_only = ON")
            return conn

        loop = asyncio.get_running_loop()
        self.conn = await loop.run_in_executor(self._thread, connect)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self.conn
        if conn is None:
            raise ValueError("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, functools.partial(fn, conn, *args))
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise StorageBusy(f"the database is busy: {exc}") from exc
            raise

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        loop = asyncio.get_running_loop()
        if conn is not None:
            await loop.run_in_executor(self._thread, conn.close)
        await asyncio.to_thread(self._thread.shutdown, wait=True)


def _fetchall(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def _fetchone(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
    return conn.execute(sql, params).fetchone()


class Database:
    """An open, migrated database. Create with :func:`open_database`."""

    def __init__(self, writer: _Connection, path: str) -> None:
        self._writer = writer
        self._readers: asyncio.Queue[_Connection] | None = None
        self._all_readers: list[_Connection] = []
        self.path = path
        self.display = path  # the target as shown to people (never a password)

    async def _open_readers(self, count: int) -> None:
        queue: asyncio.Queue[_Connection] = asyncio.Queue()
        for number in range(count):
            reader = _Connection(f"newsbot-db-read{number}")
            self._all_readers.append(reader)
            await reader.open(self.path, read_only=True)
            queue.put_nowait(reader)
        self._readers = queue

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(sqlite3_connection, *args)`` on the writer thread; return its result.

        Writes queue here one after another: keep each call's transaction short.
        """
        return await self._writer.call(fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on a read-only connection: it never waits behind a write."""
        readers = self._readers
        if readers is None:
            return await self._writer.call(fn, *args)
        reader = await readers.get()
        try:
            return await reader.call(fn, *args)
        finally:
            readers.put_nowait(reader)

    def reader(self) -> Database:
        """A view of this database whose ``run`` reads (for services that only read)."""
        return _ReadView(self)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self.read(_fetchall, sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return await self.read(_fetchone, sql, params)

    async def close(self) -> None:
        readers, self._readers = self._all_readers, None
        self._all_readers = []
        for reader in readers:
            await reader.close()
        await self._writer.close()


class _ReadView(Database):
    def __init__(self, db: Database) -> None:  # shares the connections; closing is the owner's
        self._db = db
        self.path = db.path
        self.display = db.display

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.read(fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.read(fn, *args)

    def reader(self) -> Database:
        return self

    async def close(self) -> None:
        return None


def _check_folder(path: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise StorageError(f"{path}: folder {parent} does not exist")


@asynccontextmanager
async def open_database(path: str | Path, *, readers: int = READERS) -> AsyncIterator[Database]:
    """Open (creating if needed), configure and migrate the database; close it on exit."""
    path = str(path)
    if path != ":memory:":
        await asyncio.to_thread(_check_folder, path)
    writer = _Connection("newsbot-db-write")
    try:
        await writer.open(path, read_only=False)
    except sqlite3.Error as exc:
        await writer.close()
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    db = Database(writer, path)
    try:
        try:
            await db.run(configure)
            await db.run(migrate, path)
            if path != ":memory:" and readers > 0:
                await db._open_readers(readers)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path}: not a usable newsbot database: {exc}") from exc
        yield db
    finally:
        await db.close()
