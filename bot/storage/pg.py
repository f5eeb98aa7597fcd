"""PostgreSQL behind the subset of the ``sqlite3`` API the storage functions use.

The storage layer is synchronous functions of a connection, each run in one hop on the
connection's own thread (see :mod:`bot.storage.db`). On SQLite they get the raw
``sqlite3.Connection``; on PostgreSQL they get a :class:`PgConnection`, which wraps a psycopg 3
connection in autocommit mode (the storage functions begin and commit their transactions
explicitly, as on SQLite) and offers ``execute``/``executemany``/``in_transaction``/``close``,
plus ``pipeline()`` (:func:`bot.storage.dialect.pipelined`), where statements whose results are
not read go out without a round trip each:

- SQL keeps ``?`` placeholders; they are translated once per SQL string to psycopg's ``%s``
  (a literal ``%`` is doubled; a ``?`` inside a string literal, a quoted name or a comment is
  left alone). ``BEGIN IMMEDIATE``/``DEFERRED``/``EXCLUSIVE`` become ``BEGIN``.
- Rows behave like ``sqlite3.Row``: ``row[0]``, ``row["name"]``, ``tuple(row)``, ``row.keys()``.
- A Python ``bool`` is sent as the integer 0/1 (flags are INTEGER columns on both dialects);
  ``numeric`` results (``sum``, ``avg``) come back as ``int`` when integral, else ``float``.

psycopg is imported by this module only: :mod:`bot.storage.db` imports it when a PostgreSQL
target is opened, so the default (SQLite) install does not need it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from functools import lru_cache
from typing import Any

import psycopg
import psycopg.errors
from psycopg.adapt import Buffer, Dumper, Loader
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker

__all__ = ["PgConnection", "Row", "connect", "is_transient", "translate"]

_BEGIN = re.compile(r"\s*BEGIN\s+(?:IMMEDIATE|DEFERRED|EXCLUSIVE)(?:\s+TRANSACTION)?\b", re.I)
# a string literal, a quoted name, a line comment, a block comment, or one special character
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|[?%]", re.S)


def _begin(sql: str) -> str:
    return _BEGIN.sub("BEGIN", sql, count=1) if _BEGIN.match(sql) else sql


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` and every literal ``%`` doubled."""
    sql = _begin(sql)

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _TOKEN.sub(one, sql)


class Row(tuple):
    """A result row: a tuple that also answers ``row["name"]`` and ``row.keys()``."""

    _index: dict[str, int]
    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                lowered = {k.lower(): v for k, v in self._index.items()}
                if key.lower() in lowered:
                    return tuple.__getitem__(self, lowered[key.lower()])
                raise IndexError(f"no such column: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    description = cursor.description
    names = tuple(c.name for c in description) if description else ()
    index = {name: n for n, name in enumerate(names)}
    return lambda values: Row(values, names, index)


class _BoolAsInt(Dumper):
    oid = psycopg.postgres.types["int4"].oid

    def dump(self, obj: Any) -> Buffer:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    def load(self, data: Buffer) -> Any:
        value = Decimal(bytes(data).decode())
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)


def _configure(raw: psycopg.Connection[Any]) -> None:
    raw.adapters.register_dumper(bool, _BoolAsInt)
    raw.adapters.register_loader("numeric", _NumericLoader)


class _NoRows:
    """The result of an ``executemany`` of no rows (nothing was sent)."""

    rowcount = 0

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Row]:
        return []

    def __iter__(self) -> Iterator[Row]:
        return iter(())


_NO_ROWS = _NoRows()


class PgConnection:
    """The ``sqlite3.Connection`` subset the storage functions use, over psycopg 3."""

    def __init__(self, raw: psycopg.Connection[Row]) -> None:
        self.raw = raw
        self._pipeline: psycopg.Pipeline | None = None

    # Cursors are typed Any, as sqlite3's rows are: storage code reads both the same way.
    def execute(self, sql: str, params: Sequence[Any] = (), *, prepare: bool | None = None) -> Any:
        """``prepare=False``: never a server-side prepared statement, so every run is planned
        for its own parameters (psycopg prepares a statement from its 5th run, and the server's
        generic plan of a full-text match cannot tell a rare word from a common one)."""
        if not params:
            return self.raw.execute(_begin(sql), prepare=prepare)
        return self.raw.execute(translate(sql), tuple(params), prepare=prepare)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        """Many rows in one pipeline; none costs no round trip, one is a plain execute."""
        batch = [tuple(r) for r in rows]
        if not batch:
            return _NO_ROWS
        if len(batch) == 1:
            return self.raw.execute(translate(sql), batch[0])
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), batch)
        return cursor

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Statements inside the block are sent without waiting for their results (psycopg's
        pipeline mode): a round trip is paid only where a result is read (``fetchone``,
        ``fetchall``, iterating a cursor) and once at the end of the block, which waits for
        every statement and raises the first error any of them met. ``rowcount`` is not known
        before a result is read: inside a block, use ``RETURNING`` and fetch instead."""
        if self._pipeline is not None:  # nested: the outer block's pipeline goes on
            yield
            return
        with self.raw.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None

    def resume(self) -> None:
        """After an error raised inside :meth:`pipeline`: wait for the statements sent after
        the failed one (the server skipped them), so that the next statement runs."""
        if self._pipeline is None:
            return
        with suppress(psycopg.errors.PipelineAborted):  # the skipped statements: expected
            self._pipeline.sync()

    def executescript(self, sql: str) -> None:
        """Run several statements (no parameters), as ``sqlite3.Connection.executescript``."""
        self.raw.execute(sql.encode())

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.raw.close()


def connect(
    url: str, *, read_only: bool = False, application_name: str = "newsbot"
) -> PgConnection:
    """A new connection to ``url`` in autocommit mode (read-only when asked)."""
    raw = psycopg.connect(
        url, autocommit=True, row_factory=_row_factory, application_name=application_name
    )
    _configure(raw)
    raw.execute("SET TIME ZONE 'UTC'")
    if read_only:
        raw.execute("SET default_transaction_read_only = on")
    return PgConnection(raw)


_TRANSIENT = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.AdminShutdown,
    psycopg.errors.CannotConnectNow,
    psycopg.errors.QueryCanceled,
)


def is_transient(exc: BaseException) -> bool:
    """A PostgreSQL error worth retrying: connection lost, serialization failure, deadlock,
    lock or statement timeout."""
    if isinstance(exc, _TRANSIENT):
        return True
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.ProgrammingError
    )
