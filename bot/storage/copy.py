"""``newsbot db copy SRC DST``: move a whole database between backends (SQLite <-> PostgreSQL,
or SQLite -> SQLite), verified by row counts.

Rules (docs/scaling.md, "How to move"):

* SRC must be at this newsbot's schema version (else: ``newsbot --db SRC db migrate`` first);
  nothing in SRC is changed. DST is created and migrated if needed, and must then be empty (a
  freshly migrated database); a non-empty DST is refused unless ``resume``.
* Tables are copied in dependency order, ids kept, each table in ONE transaction on DST (atomic
  per table): an interrupted copy leaves every table either complete or as it was.
  ``resume`` skips the tables whose DST count already equals SRC's and copies the others again
  (cleared first, in the same transaction).
* Derived data is rebuilt on DST, not copied: the SQLite full-text index (FTS5 ``rebuild``); on
  PostgreSQL the ``tsvector`` is a generated column. PostgreSQL identity sequences are set past
  the highest id copied.
* Rows written by DST's own triggers while copying (a file's ``sources`` row, the items of a sent
  story in ``digest_sent_items``) are replaced by SRC's rows, so DST equals SRC exactly.

Synchronous and blocking (the CLI runs it in a thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.storage.db import StorageError, configure, target_of
from bot.storage.dialect import Connection, Target, is_postgres
from bot.storage.maintenance import refresh_statistics
from bot.storage.migrations import SCHEMA_VERSION
from bot.storage.schema import apply, current

__all__ = ["TABLES", "CopyError", "CopyReport", "TableCopy", "copy_database"]

# Every table, parents before children. ``stories`` is copied without ``lead_item_id`` (it
# points at items, which point at stories); the leads are set once the items are in.
TABLES = (
    "providers",
    "topics",
    "stories",
    "items",
    "item_topics",
    "images",
    "sources",  # before files: the files trigger then finds each file's row already there
    "files",
    "links",
    "feed_entries",
    "story_aliases",
    "story_topics",
    "story_terms",
    "story_ids",
    "term_buckets",
    "story_buckets",
    "pending_tasks",
    "digest_subscriptions",
    "digest_runs",
    "digest_messages",
    "digest_sent_stories",
    "digest_sent_items",  # after digest_sent_stories, whose trigger fills it: replaced
)
# Tables a fresh migration fills (so they are not "non-empty" in a new DST): replaced.
SEEDED = frozenset({"story_ids"})
# Tables DST's triggers write into while earlier tables are copied: cleared before their copy.
TRIGGER_FILLED = frozenset({"sources", "digest_sent_items"})
DEFERRED_COLUMNS = {"stories": ("lead_item_id",)}
BATCH = 2000


class CopyError(StorageError):
    pass


@dataclass(slots=True)
class TableCopy:
    table: str
    source: int
    target: int = 0
    copied: int = 0
    skipped: bool = False  # complete already (resume)

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass(slots=True)
class CopyReport:
    source: str
    target: str
    tables: list[TableCopy]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "ok": self.ok,
            "tables": [{**asdict(t), "ok": t.ok} for t in self.tables],
        }


Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in SRC


def _connect(target: Target, *, read_only: bool) -> Connection:
    if target.dialect == "postgresql":
        from bot.storage.schema import _pg_connect

        return _pg_connect(target, read_only=read_only)
    path = target.location
    if read_only:
        uri = Path(path).expanduser().resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        configure(conn)
    return conn


@contextmanager
def _opened(target: Target, *, read_only: bool) -> Iterator[Connection]:
    conn = _connect(target, read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()


def _count(conn: Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _columns(conn: Connection, table: str) -> list[str]:
    """The table's stored (not generated) columns, in order."""
    if is_postgres(conn):
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? AND is_generated = 'NEVER' ORDER BY "
            "ordinal_position",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]
    return [r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0]


def _check_source(src: Target) -> None:
    state = current(src.location)
    if state.version != SCHEMA_VERSION:
        raise CopyError(
            f"{src.display}: schema version {state.version}, this newsbot's is {SCHEMA_VERSION}: "
            f"migrate it first (newsbot --db SRC db migrate), then copy"
        )


def _same(src: Target, dst: Target) -> bool:
    if src.dialect != dst.dialect:
        return False
    if src.dialect == "sqlite":
        here = Path(src.location).expanduser().resolve()
        return here == Path(dst.location).expanduser().resolve()
    return src.location == dst.location


def _copy_table(
    src: Connection,
    dst: Connection,
    table: str,
    *,
    clear: bool,
    batch: int,
    progress: Progress | None,
    total: int,
) -> int:
    """Copy one table in one DST transaction; the rows copied."""
    wanted = set(_columns(dst, table))
    cols = [c for c in _columns(src, table) if c in wanted]
    later = [c for c in DEFERRED_COLUMNS.get(table, ()) if c in cols]
    cols = [c for c in cols if c not in later]
    names = ", ".join(cols)
    insert = f"INSERT INTO {table}({names}) VALUES ({', '.join('?' * len(cols))})"
    dst.execute("BEGIN IMMEDIATE")
    try:
        if clear:
            dst.execute(f"DELETE FROM {table}")
        cursor = src.execute(f"SELECT {names} FROM {table}")
        done = 0
        while True:
            chunk = cursor.fetchmany(batch)
            if not chunk:
                break
            dst.executemany(insert, [tuple(r) for r in chunk])
            done += len(chunk)
            if progress:
                progress(table, done, total)
        if table == "items":  # the stories' leads, now that their items exist
            leads = src.execute(
                "SELECT lead_item_id, id FROM stories WHERE lead_item_id IS NOT NULL"
            ).fetchall()
            dst.executemany("UPDATE stories SET lead_item_id = ? WHERE id = ?", leads)
        dst.execute("COMMIT")
    except BaseException:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        raise
    return done


def _finish(dst: Connection) -> None:
    """Rebuild what is derived: the FTS index (SQLite); identity sequences and the planner
    statistics (PostgreSQL)."""
    if not is_postgres(dst):
        dst.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
        return
    rows = dst.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in rows:
        dst.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"coalesce(max({column}), 1), max({column}) IS NOT NULL) FROM {table}"
        )
    refresh_statistics(dst)


def copy_database(
    source: str | Path,
    target: str | Path,
    *,
    resume: bool = False,
    batch: int = BATCH,
    progress: Progress | None = None,
    tables: Sequence[str] = TABLES,
) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (see the module docstring)."""
    src, dst = target_of(source), target_of(target)
    if ":memory:" in (src.location, dst.location):
        raise CopyError(":memory: is a new empty database each time: copy from or to a file")
    if _same(src, dst):
        raise CopyError(f"{src.display}: source and target are the same database")
    _check_source(src)
    apply(dst.location)  # created and migrated (a newer DST is refused there)
    with _opened(src, read_only=True) as s, _opened(dst, read_only=False) as d:
        # One snapshot of SRC for the whole copy: consistent even while a bot writes to it.
        s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if is_postgres(s) else "BEGIN")
        counts = {t: _count(s, t) for t in tables}
        present = {t: _count(d, t) for t in tables}
        filled = sorted(t for t in tables if present[t] and t not in SEEDED)
        if filled and not resume:
            raise CopyError(
                f"{dst.display} is not empty ({', '.join(filled[:5])}"
                f"{', ...' if len(filled) > 5 else ''} have rows): copy into a new database, "
                "or add --resume to finish an interrupted copy"
            )
        report = CopyReport(src.display, dst.display, [])
        for table in tables:
            entry = TableCopy(table, counts[table])
            complete = present[table] == counts[table]
            if resume and complete and table not in SEEDED | TRIGGER_FILLED:
                entry.skipped = True
            else:
                clear = bool(present[table]) or table in SEEDED or table in TRIGGER_FILLED
                entry.copied = _copy_table(
                    s, d, table, clear=clear, batch=batch, progress=progress, total=counts[table]
                )
            report.tables.append(entry)
        d.execute("BEGIN IMMEDIATE")
        try:
            _finish(d)
            d.execute("COMMIT")
        except BaseException:
            if d.in_transaction:
                d.execute("ROLLBACK")
            raise
        for entry in report.tables:
            entry.target = _count(d, entry.table)
    return report
