"""Cheap reads for the health checks and the metrics scrape (run on the database thread)."""

from __future__ import annotations

from bot.storage.dialect import Connection


def ping(conn: Connection) -> None:
    """A round trip through the database connection (raises when it is unusable)."""
    conn.execute("SELECT 1").fetchone()


def counts(conn: Connection) -> tuple[int, int]:
    """(visible articles, visible stories), each through an index."""
    (articles,) = conn.execute(
        "SELECT count(*) FROM items WHERE is_article = 1 AND removed = 0"
    ).fetchone()
    (stories,) = conn.execute("SELECT count(*) FROM stories WHERE article_count > 0").fetchone()
    return articles, stories


def stuck_digest_runs(conn: Connection, older_than: int) -> list[tuple[int, int]]:
    """(run id, subscription id) of digest runs still planned or sending whose last change was
    before the unix time ``older_than`` (uses the partial index on open runs)."""
    rows = conn.execute(
        "SELECT id, subscription_id FROM digest_runs "
        "WHERE status IN ('planned', 'sending') AND updated_at < ? ORDER BY id LIMIT 20",
        (older_than,),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]
