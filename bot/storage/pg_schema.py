"""Opening and migrating a PostgreSQL database (imported only when a PostgreSQL target is used).

The schema version lives in the one-row table ``schema_version``. Migrating takes
``pg_advisory_xact_lock`` first and runs every pending step in ONE transaction, so two
processes starting together cannot race (the second waits, then finds nothing to do) and a
failing step leaves the database exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.storage.db import Database, SchemaTooNewError, StorageError, _Connection
from bot.storage.dialect import Target
from bot.storage.migrations import PG_MIGRATIONS

if TYPE_CHECKING:
    from bot.storage.pg import PgConnection

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6E657773626F74  # "newsbot": the advisory lock key migrations hold

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
)


def schema_version(conn: PgConnection) -> int:
    """The database's schema version (0: empty, no ``schema_version`` table yet)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    return int(found[0]) if found else 0


def migrate_postgres(
    conn: PgConnection, display: str = "<db>", migrations: Sequence[str] | None = None
) -> int:
    """Bring the schema up to the latest version; refuse a database newer than the code."""
    import psycopg

    migrations = PG_MIGRATIONS if migrations is None else migrations
    target = len(migrations)
    version = 0
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        conn.execute(_VERSION_TABLE)
        version = schema_version(conn)
        if version > target:
            raise SchemaTooNewError(
                f"{display}: database schema version {version} is newer than this newsbot "
                f"understands ({target}); upgrade newsbot, or point it at another database"
            )
        for number in range(version + 1, target + 1):
            conn.executescript(migrations[number - 1])
        if version < target:
            conn.execute(
                "INSERT INTO schema_version(id, version) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (target,),
            )
        conn.execute("COMMIT")
    except psycopg.Error as exc:
        if not conn.broken and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StorageError(
            f"{display}: migration from schema version {version} to {target} failed: {exc}; "
            f"the database was left unchanged at version {version}"
        ) from exc
    except BaseException:
        if not conn.broken and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if version < target:
        log.info("database %s migrated from schema version %d to %d", display, version, target)
    return target


@asynccontextmanager
async def open_postgres(target: Target, *, readers: int) -> AsyncIterator[Database]:
    """Connect (one writer, ``readers`` read-only readers), migrate; close everything on exit."""
    try:
        import psycopg

        from bot.storage.pg import connect
    except ImportError as exc:
        raise StorageError(
            f"{target.display}: PostgreSQL support needs psycopg; install newsbot with the "
            "postgresql extra: pip install 'newsbot[postgresql]'"
        ) from exc
    url = target.location

    def writer_connect() -> PgConnection:
        return connect(url)

    def reader_connect() -> PgConnection:
        return connect(url, read_only=True)

    writer = _Connection("newsbot-db-write")
    try:
        await writer.open(writer_connect, postgres=True)
    except psycopg.Error as exc:
        await writer.close()
        raise StorageError(f"{target.display}: cannot connect to PostgreSQL: {exc}") from exc
    db = Database(
        writer, None, dialect="postgresql", display=target.display, reader_factory=reader_connect
    )
    try:
        await db.run(migrate_postgres, target.display)
        if readers > 0:
            try:
                await db._open_readers(readers)
            except psycopg.Error as exc:
                raise StorageError(
                    f"{target.display}: cannot open reader connections: {exc}"
                ) from exc
        yield db
    finally:
        await db.close()
