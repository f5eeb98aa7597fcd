"""The schema version of a database target, and migrating it on request (``newsbot db current``
and ``newsbot db migrate``). Synchronous and blocking: callers run these in a thread."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.storage.db import StorageError, configure, migrate, target_of
from bot.storage.dialect import Dialect, Target
from bot.storage.migrations import SCHEMA_VERSION

if TYPE_CHECKING:
    from bot.storage.pg import PgConnection


@dataclass(frozen=True, slots=True)
class SchemaState:
    dialect: Dialect
    database: str  # the target as it may be shown (no password)
    version: int
    latest: int = SCHEMA_VERSION

    @property
    def pending(self) -> int:
        return max(self.latest - self.version, 0)

    def to_dict(self) -> dict[str, object]:
        return {
            "dialect": self.dialect,
            "database": self.database,
            "version": self.version,
            "latest": self.latest,
            "pending": self.pending,
        }


def _sqlite_file(target: Target) -> str:
    path = target.location
    if path != ":memory:" and not Path(path).expanduser().is_file():
        raise StorageError(f"{path}: no database file there")
    return path


def current(target_text: str | Path) -> SchemaState:
    """The version the database is at (nothing is changed)."""
    target = target_of(target_text)
    if target.dialect == "postgresql":
        from bot.storage.pg_schema import schema_version

        pg = _pg_connect(target, read_only=True)
        try:
            return SchemaState("postgresql", target.display, schema_version(pg))
        finally:
            pg.close()
    path = _sqlite_file(target)
    if path == ":memory:":
        return SchemaState("sqlite", path, 0)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()
    return SchemaState("sqlite", path, version)


def apply(target_text: str | Path) -> tuple[SchemaState, SchemaState]:
    """Apply the pending migrations (a database newer than the code is refused); (before, after).
    A missing SQLite file is created, as the first start of the bot would."""
    target = target_of(target_text)
    if target.dialect == "postgresql":
        from bot.storage.pg_schema import migrate_postgres, schema_version

        pg = _pg_connect(target, read_only=False)
        try:
            before = SchemaState("postgresql", target.display, schema_version(pg))
            after = migrate_postgres(pg, target.display)
        finally:
            pg.close()
        return before, SchemaState("postgresql", target.display, after)
    path = target.location
    if path == ":memory:":
        raise StorageError(":memory: is a new empty database each time: nothing to migrate")
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise StorageError(f"{path}: folder {parent} does not exist")
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    try:
        configure(conn)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        after = migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: not a usable newsbot database: {exc}") from exc
    finally:
        conn.close()
    return SchemaState("sqlite", path, version), SchemaState("sqlite", path, after)


def _pg_connect(target: Target, *, read_only: bool) -> PgConnection:
    try:
        import psycopg

        from bot.storage.pg import connect
    except ImportError as exc:
        raise StorageError(
            f"{target.display}: PostgreSQL support needs psycopg; install newsbot with the "
            "postgresql extra: pip install 'newsbot[postgresql]'"
        ) from exc
    try:
        return connect(target.location, read_only=read_only)
    except psycopg.Error as exc:
        raise StorageError(f"{target.display}: cannot connect to PostgreSQL: {exc}") from exc
