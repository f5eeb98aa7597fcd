"""Work that a migration leaves for the code to finish (e.g. regrouping stories after an upgrade).

A migration inserts a row into ``pending_tasks``; the service that can do the work checks
:func:`is_pending` and calls :func:`clear` once the work has committed.
"""

from __future__ import annotations

from bot.storage.dialect import Connection, is_postgres

STORIES_REBUILD = "stories-rebuild"


def is_pending(conn: Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pending_tasks WHERE name = ?", (name,)).fetchone() is not None
    )


def clear(conn: Connection, name: str) -> None:
    conn.execute("DELETE FROM pending_tasks WHERE name = ?", (name,))


BULK_WRITE = 500  # files written by one ingest from which the planner statistics are refreshed


def refresh_statistics(conn: Connection) -> bool:
    """After a bulk write, refresh PostgreSQL's planner statistics at once (``ANALYZE``).

    autovacuum would analyze the grown tables eventually, but until it does the planner takes a
    freshly loaded ``items`` table for nearly empty and walks the whole of it for a search
    (measured: 55 ms p99 instead of a few ms at corpus scale). SQLite needs nothing: its search
    and autocomplete plans are fixed in the SQL (``INDEXED BY``, ``CROSS JOIN``). Returns whether
    it ran.
    """
    if not is_postgres(conn):
        return False
    conn.execute("ANALYZE")
    return True
