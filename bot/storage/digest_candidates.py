"""Digest candidates storage: what a digest may select, and what its channel was already sent.

Synchronous functions of a connection (``sqlite3.Connection`` or ``PgConnection``; the SQL
is the portable subset, see ``dialect``), run on the database thread through
``Database.run``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from bot.domain.digest_selection import Window
from bot.domain.views import StoryRow
from bot.storage.dialect import Connection
from bot.storage.digest_sql import _ts
from bot.storage.queries import _STORY_COLS, _story_rows

SENT_MEMORY_DAYS = 60  # stories sent longer ago than this are not checked (stories span < 7 days)


def candidate_stories(
    conn: Connection,
    window: Window,
    *,
    topics: Sequence[str] = (),
    min_quality: int | None = None,
) -> list[StoryRow]:
    """Stories with coverage first seen in the window and published recently enough."""
    where = [
        "s.article_count > 0",
        "s.last_seen_at > ?",
        "s.last_seen_at <= ?",
        "s.last_published_at >= ?",
    ]
    params: list = [_ts(window.since), _ts(window.until), _ts(window.published_since)]
    if min_quality is not None:
        where.append("s.best_quality >= ?")
        params.append(min_quality)
    if topics:
        marks = ",".join("?" * len(topics))
        where.append(
            "s.id IN (SELECT st.story_id FROM story_topics st JOIN topics t ON t.id = st.topic_id "
            f"WHERE t.key IN ({marks}))"
        )
        params.extend(t.strip().casefold() for t in topics)
    sql = f"SELECT {_STORY_COLS} FROM stories s WHERE {' AND '.join(where)}"
    return _story_rows(conn, conn.execute(sql, params).fetchall())


def _in_chunks(ids: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def coverage_texts(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Title and excerpt of every visible item of each story (for keyword filters)."""
    out: dict[int, list[str]] = {}
    for chunk in _in_chunks(list(story_ids)):
        marks = ",".join("?" * len(chunk))
        for sid, title, excerpt in conn.execute(
            f"SELECT story_id, title, excerpt FROM items WHERE story_id IN ({marks}) "
            "AND removed = 0",
            chunk,
        ):
            texts = out.setdefault(sid, [])
            texts.append(title)
            if excerpt:
                texts.append(excerpt)
    return out


def coverage_providers(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Distinct outlet names of each story, articles and better quality first."""
    out: dict[int, list[str]] = {}
    for chunk in _in_chunks(list(story_ids)):
        marks = ",".join("?" * len(chunk))
        for sid, name in conn.execute(
            "SELECT i.story_id, p.name FROM items i JOIN providers p ON p.id = i.provider_id "
            f"WHERE i.story_id IN ({marks}) AND i.removed = 0 "
            "ORDER BY i.story_id, i.is_article DESC, i.quality IS NULL, i.quality DESC, i.id",
            chunk,
        ):
            names = out.setdefault(sid, [])
            if name not in names:
                names.append(name)
    return out


def sent_story_ids(conn: Connection, channel_id: int, since: datetime) -> set[int]:
    """Current ids of the stories sent to ``channel_id`` since ``since``.

    By item: a story counts as sent when it holds an item that was in a story posted to the
    channel (``digest_sent_items``, filled by a trigger on ``digest_sent_stories``), so merges and
    ``stories rebuild`` are followed without trusting story ids; plus the sent ids themselves
    (ids are never given twice) and their aliases.
    """
    rows = conn.execute(
        "SELECT i.story_id FROM digest_sent_items d JOIN items i ON i.id = d.item_id "
        "WHERE d.channel_id = ? AND d.sent_at >= ? AND i.story_id IS NOT NULL "
        "UNION SELECT coalesce(a.new_id, s.story_id) FROM digest_sent_stories s "
        "LEFT JOIN story_aliases a ON a.old_id = s.story_id "
        "WHERE s.channel_id = ? AND s.sent_at >= ?",
        (channel_id, _ts(since), channel_id, _ts(since)),
    )
    return {r[0] for r in rows}


def items_version(conn: Connection) -> int:
    """A number that changes whenever an item is added: the highest item id (0 when none)."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0]
