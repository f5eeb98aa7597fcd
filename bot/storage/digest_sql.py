"""SQL helpers shared by the digest repositories: the write transaction and UTC unix seconds.

Times are stored as INTEGER unix seconds (UTC) and returned as aware datetimes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.storage.db import StorageError, driver_errors
from bot.storage.dialect import Connection

T = TypeVar("T")


class LedgerUnavailable(StorageError):
    """The digest ledger could not be read or written (a lock held too long, a full disk, an
    I/O error); the message names the driver's reason. Worth retrying."""


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn(conn, ...)`` with the driver's errors raised as :class:`LedgerUnavailable`, so the
    services never see ``sqlite3``."""

    @functools.wraps(fn)
    def run(conn: Connection, *args: Any) -> T:
        try:
            return fn(conn, *args)
        except driver_errors() as exc:  # sqlite3's, and psycopg's on PostgreSQL
            if not getattr(conn, "broken", False) and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerUnavailable(f"database error: {exc}") from exc

    return run


def _ts(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp())


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
