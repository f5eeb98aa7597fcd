"""Work that a migration leaves for the code to finish (e.g. regrouping stories after an upgrade).

A migration inserts a row into ``pending_tasks``; the service that can do the work checks
:func:`is_pending` and calls :func:`clear` once the work has committed.
"""

from __future__ import annotations

from bot.storage.dialect import Connection

STORIES_REBUILD = "stories-rebuild"


def is_pending(conn: Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM pending_tasks WHERE name = ?", (name,)).fetchone() is not None
    )


def clear(conn: Connection, name: str) -> None:
    conn.execute("DELETE FROM pending_tasks WHERE name = ?", (name,))
