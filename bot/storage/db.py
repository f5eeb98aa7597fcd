"""The database handle: one writer connection, a few reader connections, pragmas, migrations.

A database is named by a *target* (:func:`bot.storage.dialect.parse_target`): a SQLite path,
``:memory:``, ``sqlite:///abs/path``, or a ``postgresql://`` url. The shape is the same on both:

No SQL runs on the event loop. All writes go through one plain ``sqlite3`` connection owned by a
dedicated writer thread: batch work (an ingest batch, story grouping, a subscription) is written
as synchronous functions of a connection (a ``sqlite3.Connection``, or on PostgreSQL a
:class:`bot.storage.pg.PgConnection` with the same subset of its API) and run there in one hop with
:meth:`Database.run`, inside one explicit transaction. Reads that must never wait behind a write
(slash commands, autocomplete) run with :meth:`Database.read` on one of ``READERS`` read-only
connections, each on its own thread: in WAL mode a reader sees the last committed state and is
never blocked by the writer. :meth:`Database.reader` gives a view whose ``run`` reads, for a
service that only reads (the query service). A ``:memory:`` database has no separate readers
(each connection would be another, empty database): reads then use the writer. On
PostgreSQL the readers are connections whose transactions are read-only.

Transient failures (SQLite busy or locked; PostgreSQL connection lost, serialization failure,
deadlock, lock timeout) leave :meth:`Database.run` and :meth:`Database.read` as
:class:`StorageBusy`; a lost PostgreSQL connection is reopened on the next call.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.dialect import Dialect, Target, TargetError, parse_target
from bot.storage.migrations import MIGRATIONS
from bot.storage.story_cache import GroupingCache

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 2


class StorageError(Exception):
    """A database problem whose message is safe to show to an operator."""


class SchemaTooNewError(StorageError):
    pass


class StorageBusy(StorageError):
    """A transient failure: retrying the same call later may well succeed."""


def integrity_errors() -> tuple[type[Exception], ...]:
    """The constraint-failure exceptions of the drivers in use (for ``except`` clauses)."""
    errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.IntegrityError,)
    return errors


def driver_errors() -> tuple[type[Exception], ...]:
    """The base exceptions of the drivers in use (sqlite3, and psycopg once loaded)."""
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.Error,)
    return errors


def database_errors() -> tuple[type[Exception], ...]:
    """:class:`StorageError` and the drivers' error roots, for the surfaces that report any
    database failure (``except database_errors() as exc``)."""
    return (StorageError, *driver_errors())


def is_busy(exc: BaseException) -> bool:
    """Whether a driver error is transient (what :class:`StorageBusy` stands for)."""
    if _sqlite_busy(exc):
        return True
    return "psycopg" in sys.modules and _pg_transient(exc)


def _sqlite_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


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


# The writer's page cache, larger than a reader's (16 MB): an ingest or a feed poll touches the
# story-grouping tables (centroid weights, term counts) all over at every batch, and once they
# outgrow the cache each posting lookup and centroid insert is a read from the OS (measured,
# bench/feeds.py with 5,000 feeds: first poll 336 s with 16 MB, 290 s with 64 MB, peak RSS
# 159 -> 216 MiB; docs/performance.md). Pages are only allocated as they are used: a small
# database costs no more.
WRITER_CACHE_KIB = 65536


def configure(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


def configure_writer(conn: sqlite3.Connection) -> None:
    configure(conn)
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")


class _Connection:
    """One connection confined to its own thread (all calls go through it)."""

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.conn: Any = None
        self._connect: Callable[[], Any] | None = None
        self._postgres = False

    async def open(self, connect: Callable[[], Any], *, postgres: bool = False) -> None:
        self._connect, self._postgres = connect, postgres
        loop = asyncio.get_running_loop()
        self.conn = await loop.run_in_executor(self._thread, connect)

    def _invoke(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self.conn
        if self._postgres and conn.broken and self._connect is not None:
            log.warning("database connection lost: reconnecting")
            conn = self.conn = self._connect()
        try:
            return fn(conn, *args)
        except BaseException:
            if self._postgres and not conn.broken and conn.in_transaction:
                conn.execute("ROLLBACK")  # one hop = one transaction: never leave one open
            raise

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.conn is None:
            raise ValueError("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._invoke, fn, args)
        except StorageError:
            raise
        except Exception as exc:
            if _sqlite_busy(exc) or (self._postgres and _pg_transient(exc)):
                raise StorageBusy(f"the database is busy: {exc}") from exc
            raise

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        loop = asyncio.get_running_loop()
        if conn is not None:
            await loop.run_in_executor(self._thread, conn.close)
        await asyncio.to_thread(self._thread.shutdown, wait=True)


def _pg_transient(exc: BaseException) -> bool:
    from bot.storage.pg import is_transient

    return is_transient(exc)


def _fetchall(conn: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _fetchone(conn: Any, sql: str, params: Sequence[Any]) -> Any:
    return conn.execute(sql, params).fetchone()


class Database:
    """An open, migrated database. Create with :func:`open_database`.

    ``dialect`` is ``"sqlite"`` or ``"postgresql"``; ``display`` names the target for logs and
    messages (any password as ``***``); ``path`` is the SQLite file (None on PostgreSQL).
    """

    def __init__(
        self,
        writer: _Connection,
        path: str | None,
        *,
        dialect: Dialect = "sqlite",
        display: str | None = None,
        reader_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._writer = writer
        self._readers: asyncio.Queue[_Connection] | None = None
        self._all_readers: list[_Connection] = []
        self.path = path
        self.dialect: Dialect = dialect
        self.display = display if display is not None else str(path)
        self._reader_factory = reader_factory
        # what the writer's story grouping keeps between its transactions (writer thread only)
        self.grouping = GroupingCache()

    async def _open_readers(self, count: int) -> None:
        if self._reader_factory is None:
            return
        queue: asyncio.Queue[_Connection] = asyncio.Queue()
        for number in range(count):
            reader = _Connection(f"newsbot-db-read{number}")
            self._all_readers.append(reader)
            await reader.open(self._reader_factory, postgres=self.dialect == "postgresql")
            queue.put_nowait(reader)
        self._readers = queue

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the writer thread; return its result.

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

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.read(_fetchall, sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
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
        self.dialect = db.dialect
        self.display = db.display
        self.grouping = db.grouping

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


def _sqlite_connect(path: str, *, read_only: bool) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        if read_only:
            configure(conn)
            conn.execute("PRAGMA query_only = ON")
        return conn

    return connect


def target_of(target: str | Path) -> Target:
    """Parse ``target``; a malformed one is a :class:`StorageError`."""
    try:
        return parse_target(target)
    except TargetError as exc:
        raise StorageError(str(exc)) from exc


@asynccontextmanager
async def open_database(target: str | Path, *, readers: int = READERS) -> AsyncIterator[Database]:
    """Open (creating if needed), configure and migrate the database; close it on exit.

    ``target`` is a SQLite path, ``:memory:``, ``sqlite:///path`` or a ``postgresql://`` url.
    """
    parsed = target_of(target)
    if parsed.dialect == "postgresql":
        from bot.storage.pg_schema import open_postgres

        async with open_postgres(parsed, readers=readers) as db:
            yield db
        return
    path = parsed.location
    if path != ":memory:":
        await asyncio.to_thread(_check_folder, path)
    writer = _Connection("newsbot-db-write")
    try:
        await writer.open(_sqlite_connect(path, read_only=False))
    except sqlite3.Error as exc:
        await writer.close()
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    db = Database(
        writer,
        path,
        dialect="sqlite",
        display=path,
        reader_factory=None if path == ":memory:" else _sqlite_connect(path, read_only=True),
    )
    try:
        try:
            await db.run(configure_writer)
            await db.run(migrate, path)
            if readers > 0:
                await db._open_readers(readers)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path}: not a usable newsbot database: {exc}") from exc
        yield db
    finally:
        await db.close()
