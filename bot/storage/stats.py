"""Database-wide counts for ``newsbot stats``."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from typing import Any

from bot.storage.dialect import Connection, is_postgres


def _iso(ts: int | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    )


def database_stats(conn: Connection, path: str | None) -> dict[str, Any]:
    one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
    articles, removed, first, last = one(
        "SELECT count(*) FILTER (WHERE removed = 0), count(*) FILTER (WHERE removed = 1), "
        "min(published_at), max(published_at) FROM items WHERE is_article = 1"
    )
    size = 0
    if is_postgres(conn):
        size = one("SELECT pg_database_size(current_database())")[0]
    elif path is not None and path != ":memory:":
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.path.getsize(path + suffix)
    return {
        "articles": articles or 0,
        "removed_articles": removed or 0,
        "related_items": one("SELECT count(*) FROM items WHERE is_article = 0")[0],
        "related_links": one(
            "SELECT count(*) FROM (SELECT DISTINCT src_id, dst_id FROM links) AS l"
        )[0],
        "stories": one("SELECT count(*) FROM stories WHERE article_count > 0")[0],
        "providers": one("SELECT count(*) FROM providers")[0],
        "topics": one("SELECT count(*) FROM topics")[0],
        "files": one("SELECT count(*) FROM files")[0],
        "rejected_files": one("SELECT count(*) FROM files WHERE error IS NOT NULL")[0],
        "first_published": _iso(first),
        "last_published": _iso(last),
        "database_bytes": size,
    }
