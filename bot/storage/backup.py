"""Database care: online backups, checks, restores, the pre-migration copy, and the run lock.

SQLite database files only: on PostgreSQL every function here refuses with a message pointing to
the server's tools (``pg_dump -Fc`` / ``pg_restore``; docs/scaling.md). Backups use SQLite's
online backup API (``sqlite3.Connection.backup``): the copy is one consistent snapshot even
while the bot writes (WAL readers never block the writer), written to ``PATH.partial`` and
renamed into place, so a half-written file never has the final name. Every function here is
synchronous and blocking: callers run them in a thread.

The run lock: ``newsbot run`` holds an exclusive advisory lock (``flock``) on ``DB.lock`` beside
the database for as long as it runs; ``restore`` refuses while it is held.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.storage.dialect import TargetError, parse_target
from bot.storage.migrations import SCHEMA_VERSION

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Unix: no run lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

COUNTED = {
    "articles": "SELECT count(*) FROM items WHERE is_article = 1 AND removed = 0",
    "related_items": "SELECT count(*) FROM items WHERE is_article = 0",
    "stories": "SELECT count(*) FROM stories WHERE article_count > 0",
    "topics": "SELECT count(*) FROM topics",
    "files": "SELECT count(*) FROM files",
    "digest_subscriptions": "SELECT count(*) FROM digest_subscriptions",
    "digest_runs": "SELECT count(*) FROM digest_runs",
}


class BackupError(Exception):
    """A backup, check or restore problem; the message is safe to print."""


class DatabaseInUse(BackupError):
    """A running bot holds the database's run lock."""


PG_REFUSAL = (
    "{display}: {what} is for SQLite database files; on PostgreSQL use the server's own tools: "
    "pg_dump -Fc for a backup, pg_restore to restore it, and the server's amcheck for checks "
    "(docs/scaling.md)"
)


def database_kind(target: str | Path) -> str:
    """``"postgresql"`` for a ``postgresql://`` url, else ``"sqlite"``."""
    try:
        return parse_target(target).dialect
    except TargetError as exc:
        raise BackupError(str(exc)) from exc


def _sqlite_path(target: str | Path, what: str) -> str:
    """The SQLite file of ``target``; a PostgreSQL target is refused, pointing to pg_dump."""
    try:
        parsed = parse_target(target)
    except TargetError as exc:
        raise BackupError(str(exc)) from exc
    if parsed.dialect != "sqlite":
        raise BackupError(PG_REFUSAL.format(display=parsed.display, what=what))
    return parsed.location


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")


# -- the run lock -------------------------------------------------------------------------------
def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


@contextlib.contextmanager
def run_lock(db_path: str | Path) -> Iterator[None]:
    """Hold the database's run lock (raises :class:`DatabaseInUse` when another holds it)."""
    db_path = _sqlite_path(db_path, "the run lock")
    if fcntl is None or db_path == ":memory:":
        yield
        return
    path = lock_path(db_path)
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"{db_path}: a newsbot process is running on this database (it holds {path}); "
                "stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def is_locked(db_path: str | Path) -> bool:
    try:
        with run_lock(db_path):
            return False
    except DatabaseInUse:
        return True


# -- check --------------------------------------------------------------------------------------
def _connect_ro(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from exc


def inspect(conn: sqlite3.Connection, *, full: bool = True) -> dict[str, Any]:
    """Integrity, schema version and counts of an open database (read only)."""
    pragma = "integrity_check" if full else "quick_check"
    problems = [row[0] for row in conn.execute(f"PRAGMA {pragma}(20)").fetchall()]
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    counts: dict[str, int] = {}
    for name, sql in COUNTED.items():
        table = sql.split(" FROM ")[1].split()[0]
        if table in tables:
            counts[name] = conn.execute(sql).fetchone()[0]
    return {
        "integrity": "ok" if problems == ["ok"] else "damaged",
        "problems": [] if problems == ["ok"] else problems,
        "schema_version": version,
        "code_schema_version": SCHEMA_VERSION,
        "newsbot": version >= 1 and "items" in tables,
        "counts": counts,
    }


def check(path: str | Path) -> dict[str, Any]:
    """``newsbot db check``: integrity, schema version and counts of the database at ``path``."""
    path = Path(_sqlite_path(path, "newsbot db check"))
    conn = _connect_ro(path)
    try:
        report = inspect(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return {"path": str(path), "bytes": size, **report}


def problems_of(report: dict[str, Any]) -> list[str]:
    """Why a checked database cannot be used as a newsbot database (empty when it can)."""
    found = []
    if report["integrity"] != "ok":
        found.append("it fails PRAGMA integrity_check: " + "; ".join(report["problems"][:3]))
    if not report["newsbot"]:
        found.append("it is not a newsbot database (no schema)")
    if report["schema_version"] > SCHEMA_VERSION:
        found.append(
            f"its schema version {report['schema_version']} is newer than this newsbot "
            f"understands ({SCHEMA_VERSION}); upgrade newsbot first"
        )
    return found


# -- backup -------------------------------------------------------------------------------------
def _copy(source: sqlite3.Connection, dest_path: Path) -> None:
    """Snapshot ``source`` into ``dest_path`` (via ``dest_path.partial``, then renamed)."""
    partial = Path(f"{dest_path}.partial")
    partial.unlink(missing_ok=True)
    dest = sqlite3.connect(partial)
    try:
        source.backup(dest)  # all pages in one step: one consistent snapshot
        dest.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
    finally:
        dest.close()
    os.replace(partial, dest_path)


def backup(db_path: str | Path, dest: str | Path) -> dict[str, Any]:
    """``newsbot db backup``: an online, consistent copy of ``db_path`` at ``dest``, checked."""
    db_path = _sqlite_path(db_path, "newsbot db backup")
    src_path, dest_path = Path(db_path), Path(dest)
    if dest_path.is_dir():
        dest_path = dest_path / f"{src_path.name}.{stamp()}.bak"
    if dest_path.resolve() == src_path.resolve():
        raise BackupError(f"{dest_path}: the backup cannot overwrite the database itself")
    if not dest_path.parent.is_dir():
        raise BackupError(f"{dest_path}: folder {dest_path.parent} does not exist")
    source = _connect_ro(src_path)
    try:
        source.execute("PRAGMA busy_timeout = 10000")
        _copy(source, dest_path)
    except sqlite3.Error as exc:
        Path(f"{dest_path}.partial").unlink(missing_ok=True)
        raise BackupError(f"{src_path}: backup failed: {exc}") from exc
    finally:
        source.close()
    report = check(dest_path)
    if report["integrity"] != "ok":
        raise BackupError(f"{dest_path}: the copy fails its integrity check: {report['problems']}")
    return report


def pre_migration_backup(
    conn: sqlite3.Connection, db_path: str, from_version: int, to_version: int
) -> Path:
    """A copy of the database beside it before migrating: ``DB.pre-vN-YYYYmmddTHHMMSS.bak``."""
    dest = Path(f"{db_path}.pre-v{to_version}-{stamp()}.bak")
    try:
        _copy(conn, dest)
    except (sqlite3.Error, OSError) as exc:
        Path(f"{dest}.partial").unlink(missing_ok=True)
        raise BackupError(
            f"{db_path}: cannot write the backup copy {dest} before migrating from schema "
            f"version {from_version} to {to_version}: {exc}; nothing was changed"
        ) from exc
    return dest


# -- restore ------------------------------------------------------------------------------------
def restore(
    backup_path: str | Path, db_path: str | Path, *, keep_current: bool = True
) -> dict[str, Any]:
    """``newsbot db restore``: replace the database at ``db_path`` with the backup's content.

    Checks the backup first (integrity, schema version), refuses while a bot runs on the target
    (the run lock, held throughout), and keeps the current database as
    ``DB.pre-restore-STAMP.bak`` unless ``keep_current`` is false. The copy goes through SQLite
    (backup API into the target), so a crash mid-restore leaves the old content, not a mix.
    """
    db_path = _sqlite_path(db_path, "newsbot db restore")
    backup_path, db_path = Path(backup_path), Path(db_path)
    report = check(backup_path)
    problems = problems_of(report)
    if problems:
        raise BackupError(f"{backup_path}: refusing to restore: {'; '.join(problems)}")
    if not db_path.parent.is_dir():
        raise BackupError(f"{db_path}: folder {db_path.parent} does not exist")
    kept: Path | None = None
    with run_lock(db_path):
        target = sqlite3.connect(db_path, isolation_level=None)
        try:
            target.execute("PRAGMA busy_timeout = 10000")
            if keep_current and db_path.stat().st_size > 0:
                kept = Path(f"{db_path}.pre-restore-{stamp()}.bak")
                _copy(target, kept)
            source = _connect_ro(backup_path)
            try:
                source.backup(target)
            finally:
                source.close()
            target.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise BackupError(f"{db_path}: restore failed, database unchanged: {exc}") from exc
        finally:
            target.close()
    return {
        **report,
        "path": str(db_path),
        "restored_from": str(backup_path),
        "previous_copy": str(kept) if kept else None,
    }
