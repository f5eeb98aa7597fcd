"""Which database a connection or a target is, and the few helpers where the dialects differ.

Storage SQL is written once, in the subset SQLite 3.40 and PostgreSQL 15 share: ``?``
placeholders, ``INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE SET x = excluded.x``,
``IS [NOT] DISTINCT FROM``, ``RETURNING id`` (not ``lastrowid``), ``CASE`` (not the scalar
``max(a, b)``), ``lower(x) = lower(?)`` (not ``COLLATE NOCASE``), ``count(*) FILTER (WHERE ...)``
(not ``sum(x = 1)``). What cannot be shared goes through a helper here.

A *target* names a database: a SQLite path, ``:memory:``, ``sqlite:///abs/path``,
``sqlite:relative`` or a ``postgresql://`` / ``postgres://`` url.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from bot.storage.pg import PgConnection

    Connection: TypeAlias = sqlite3.Connection | PgConnection
else:
    Connection: TypeAlias = Any

Dialect = Literal["sqlite", "postgresql"]

__all__ = [
    "Connection",
    "Dialect",
    "Target",
    "dialect",
    "display_target",
    "greatest_sql",
    "insert_rows",
    "is_postgres",
    "least_sql",
    "lock_stories",
    "nocase_key",
    "nocase_param",
    "one_of",
    "parse_target",
    "pipelined",
    "redact",
    "resume",
]


def dialect(conn: Any) -> Dialect:
    """``"sqlite"`` for a ``sqlite3.Connection``, ``"postgresql"`` for a ``PgConnection``."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


def is_postgres(conn: Any) -> bool:
    return not isinstance(conn, sqlite3.Connection)


def nocase_key(conn: Any, expr: str) -> str:
    """``expr`` as a case-insensitive sort and comparison key (matching the title indexes:
    ``title COLLATE NOCASE`` on SQLite, ``lower(title) COLLATE "C"`` on PostgreSQL). Compare
    it with :func:`nocase_param` values."""
    return f'(lower({expr}) COLLATE "C")' if is_postgres(conn) else f"{expr} COLLATE NOCASE"


def nocase_param(conn: Any) -> str:
    """The placeholder that goes with :func:`nocase_key` (``?`` or ``lower(?)``)."""
    return "lower(?)" if is_postgres(conn) else "?"


def greatest_sql(conn: Any, a: str, b: str) -> str:
    """SQL for the larger of two non-NULL expressions (scalar ``max`` / ``greatest``)."""
    return f"greatest({a}, {b})" if is_postgres(conn) else f"max({a}, {b})"


def least_sql(conn: Any, a: str, b: str) -> str:
    """SQL for the smaller of two non-NULL expressions (scalar ``min`` / ``least``)."""
    return f"least({a}, {b})" if is_postgres(conn) else f"min({a}, {b})"


def pipelined(conn: Any) -> AbstractContextManager[Any]:
    """A block whose statements need not each wait for the server: on PostgreSQL the
    adapter's pipeline mode (:meth:`bot.storage.pg.PgConnection.pipeline`; a round trip only
    where a result is read, and one at the end of the block, which raises the first error of
    any statement in it), on SQLite nothing (a statement is a function call there). Inside,
    read results with ``fetchone``/``fetchall``/iteration, never ``rowcount``."""
    return conn.pipeline() if is_postgres(conn) else nullcontext()


def insert_rows(
    conn: Any,
    insert: str,
    types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: str = "",
    *,
    returning: str = "",
) -> list[Any] | None:
    """``insert`` (``INSERT INTO t(a, b)``) of every row of ``rows``, then ``conflict`` (an
    ``ON CONFLICT ...`` clause, or nothing), as ONE statement on PostgreSQL: the rows go as one
    array per column (``types``: the columns' PostgreSQL types) through ``unnest``, in order,
    where an ``executemany`` would run a statement per row on the server. SQLite runs the
    ``executemany`` (a statement is a function call there). In one statement a row cannot
    update what an earlier row of it wrote: give an ``ON CONFLICT DO UPDATE`` distinct keys.

    ``returning`` (columns): PostgreSQL returns those of the rows the statement inserted or
    updated; SQLite (an ``executemany``) returns None: read what is needed after."""
    if not rows:
        return [] if returning else None
    if is_postgres(conn):
        arrays = ", ".join(f"CAST(? AS {t}[])" for t in types)
        cursor = conn.execute(
            f"{insert} SELECT * FROM unnest({arrays}) {conflict}"
            + (f" RETURNING {returning}" if returning else ""),
            [list(column) for column in zip(*rows, strict=True)],
        )
        return cursor.fetchall() if returning else None
    marks = ", ".join("?" * len(types))
    conn.executemany(f"{insert} VALUES ({marks}) {conflict}", rows)
    return None


def plain_rows(conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    """The rows of a read as plain tuples where the driver allows: on SQLite a cursor without
    the connection's ``sqlite3.Row`` factory (the hot reads of story grouping return 100s of
    rows an item; a tuple is cheaper to make and to unpack). Read by position only."""
    if is_postgres(conn):
        return conn.execute(sql, params)
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params)


def one_of(conn: Any, values: Sequence[Any], pg_type: str) -> tuple[str, list[Any]]:
    """``(condition, params)`` for "is one of ``values``": ``IN (?, ?, ...)`` on SQLite,
    ``= ANY(CAST(? AS pg_type[]))`` with one array on PostgreSQL, where the SQL text is then the
    same whatever the number of values: parsed and planned once (a prepared statement), not
    once per length. Use as ``f"WHERE col {condition}"``."""
    if is_postgres(conn):
        return f"= ANY(CAST(? AS {pg_type}[]))", [list(values)]
    return f"IN ({','.join('?' * len(values))})", list(values)


def resume(conn: Any) -> None:
    """After an error raised inside a :func:`pipelined` block: let the statements sent after
    the failed one come back skipped, so that the next statement (``ROLLBACK TO``) runs.
    Nothing to do outside a pipeline or on SQLite."""
    if is_postgres(conn):
        conn.resume()


# The advisory lock key every story-grouping transaction holds on PostgreSQL ("stories").
STORY_LOCK = 0x73746F72696573


def lock_stories(conn: Any) -> None:
    """Serialise story grouping and merging across processes until this transaction ends.

    Call first in every transaction that groups items into stories or merges stories, so two
    ingesting processes can neither split nor double-merge a story. PostgreSQL: a transaction
    advisory lock (released at COMMIT/ROLLBACK). SQLite: nothing to do, the writer's ``BEGIN
    IMMEDIATE`` already holds the database's one write lock.
    """
    if is_postgres(conn):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (STORY_LOCK,))


@dataclass(frozen=True)
class Target:
    """A parsed database target: the dialect, what to connect to, and a printable name."""

    dialect: Dialect
    location: str  # a SQLite path (or ":memory:"), or a PostgreSQL url
    display: str  # the target with any password replaced by ***

    @property
    def path(self) -> str | None:
        return self.location if self.dialect == "sqlite" else None


class TargetError(ValueError):
    pass


def redact(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def display_target(target: str | Path) -> str:
    """``target`` as it may be printed or logged (any password as ``***``)."""
    try:
        return parse_target(target).display
    except TargetError:
        return redact(str(target))


def parse_target(target: str | Path) -> Target:
    """Parse a database target (see the module docstring); raise TargetError when it is none."""
    text = str(target).strip() if isinstance(target, str) else str(target)
    if not text:
        raise TargetError("empty database target: give a SQLite path or a postgresql:// url")
    lowered = text.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        url = "postgresql://" + text.split("://", 1)[1]
        return Target("postgresql", url, redact(url))
    if lowered.startswith("sqlite:"):
        rest = text[len("sqlite:") :]
        if rest.startswith("//"):
            rest = rest[2:]
        if not rest:
            raise TargetError(f"{text}: a sqlite: target needs a path (sqlite:///abs/path)")
        return Target("sqlite", rest, rest)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise TargetError(
            f"{redact(text)}: unknown database scheme {scheme!r}; use a SQLite path, "
            "sqlite:///path or postgresql://..."
        )
    return Target("sqlite", text, text)


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction on either dialect (``BEGIN IMMEDIATE`` is ``BEGIN`` on PostgreSQL):
    committed when the block ends, rolled back when it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
