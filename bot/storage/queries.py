"""Read queries behind the query service. Synchronous; run on the database thread.

Every function returns domain view objects (``bot.domain.views``), never rows. Removed (withdrawn)
articles never appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.domain.views import CoverageItem, StoryRow, TopicCount
from bot.storage.dialect import Connection, nocase_key, nocase_param

_ITEM_COLS = (
    "i.id, i.url, i.title, i.excerpt, p.name, i.published_at, i.quality, i.heat, i.is_article, "
    "i.image_url, i.story_id, i.type"
)
_ITEM_FROM = "items i LEFT JOIN providers p ON p.id = i.provider_id"

_STORY_COLS = (
    "s.id, s.article_count, s.item_count, s.provider_count, s.best_quality, s.max_heat, "
    "s.first_published_at, s.last_published_at, s.first_seen_at, s.last_seen_at, s.rank_key, "
    "s.lead_item_id"
)


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _item(row: Sequence) -> CoverageItem:
    return CoverageItem(
        id=row[0],
        url=row[1],
        title=row[2],
        excerpt=row[3],
        provider=row[4],
        published_at=_dt(row[5]),
        quality=row[6],
        heat=row[7],
        is_article=bool(row[8]),
        image_url=row[9],
        story_id=row[10],
        type=row[11],
    )


def items_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, CoverageItem]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} WHERE i.id IN ({marks})", ids)
    return {row[0]: _item(row) for row in rows}


def _story_rows(conn: Connection, rows: list[Sequence]) -> list[StoryRow]:
    leads = items_by_ids(conn, [r[11] for r in rows if r[11] is not None])
    topics = story_topic_names(conn, [r[0] for r in rows])
    out = []
    for r in rows:
        lead = leads.get(r[11])
        if lead is None:
            continue
        out.append(
            StoryRow(
                id=r[0],
                article_count=r[1],
                item_count=r[2],
                provider_count=r[3],
                best_quality=r[4],
                max_heat=r[5],
                first_published_at=_dt(r[6]),
                last_published_at=_dt(r[7]),
                first_seen_at=_dt(r[8]),
                last_seen_at=_dt(r[9]),
                rank_key=r[10],
                lead=lead,
                topics=tuple(topics.get(r[0], ())),
            )
        )
    return out


def story_topic_names(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    if not story_ids:
        return {}
    marks = ",".join("?" * len(story_ids))
    out: dict[int, list[str]] = {}
    for sid, name in conn.execute(
        f"SELECT st.story_id, t.name FROM story_topics st JOIN topics t ON t.id = st.topic_id "
        f"WHERE st.story_id IN ({marks}) ORDER BY t.article_count DESC, t.name",
        story_ids,
    ):
        out.setdefault(sid, []).append(name)
    return out


# -- topics ------------------------------------------------------------------------------------
def topic_by_name(conn: Connection, name: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT id, name FROM topics WHERE key = ?", (name.strip().casefold(),))
    found = row.fetchone()
    return None if found is None else (found[0], found[1])


def topics(
    conn: Connection,
    *,
    since: int | None,
    until: int | None,
    limit: int,
    offset: int,
) -> list[TopicCount]:
    if since is None and until is None:
        rows = conn.execute(
            "SELECT name, article_count, story_count FROM topics WHERE article_count > 0 "
            "ORDER BY article_count DESC, name LIMIT ? OFFSET ?",
            (limit, offset),
        )
    else:
        rows = conn.execute(
            "SELECT t.name, count(*), count(DISTINCT i.story_id) FROM items i "
            "JOIN item_topics it ON it.item_id = i.id JOIN topics t ON t.id = it.topic_id "
            "WHERE i.is_article = 1 AND i.removed = 0 AND i.published_at >= ? "
            "AND i.published_at < ? GROUP BY t.id, t.name ORDER BY count(*) DESC, t.name "
            "LIMIT ? OFFSET ?",
            (
                since if since is not None else -(1 << 62),
                until if until is not None else 1 << 62,
                limit,
                offset,
            ),
        )
    return [TopicCount(name, articles, stories) for name, articles, stories in rows]


def topic_names_like(conn: Connection, text: str, limit: int) -> list[str]:
    """Topic names starting with ``text`` first, then containing it; most used first."""
    key = text.strip().casefold()
    if not key:
        rows = conn.execute(
            "SELECT name FROM topics WHERE article_count > 0 ORDER BY article_count DESC, name "
            "LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]
    like = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT name FROM topics WHERE article_count > 0 AND key LIKE ? ESCAPE '\\' "
        "ORDER BY key NOT LIKE ? ESCAPE '\\', article_count DESC, name LIMIT ?",
        (f"%{like}%", f"{like}%", limit),
    )
    return [r[0] for r in rows]


# -- stories -----------------------------------------------------------------------------------
def stories(
    conn: Connection,
    *,
    topic_id: int | None,
    min_quality: int | None,
    since: int | None,
    until: int | None,
    limit: int,
    offset: int,
) -> list[StoryRow]:
    where = ["s.article_count > 0"]
    params: list = []
    if min_quality is not None:
        where.append("s.best_quality >= ?")
        params.append(min_quality)
    if since is not None:
        where.append("s.last_published_at >= ?")
        params.append(since)
    if until is not None:
        where.append("s.last_published_at < ?")
        params.append(until)
    if topic_id is not None:
        sql = (
            f"SELECT {_STORY_COLS} FROM story_topics st JOIN stories s ON s.id = st.story_id "
            f"WHERE st.topic_id = ? AND {' AND '.join(where)} "
            "ORDER BY st.rank_key DESC, st.story_id DESC LIMIT ? OFFSET ?"
        )
        params = [topic_id, *params]
    else:
        sql = (
            f"SELECT {_STORY_COLS} FROM stories s WHERE {' AND '.join(where)} "
            "ORDER BY s.rank_key DESC, s.id DESC LIMIT ? OFFSET ?"
        )
    rows = conn.execute(sql, [*params, limit, offset]).fetchall()
    return _story_rows(conn, rows)


def resolve_story_id(conn: Connection, story_id: int) -> int | None:
    """The current id of a story, following merges."""
    row = conn.execute("SELECT id FROM stories WHERE id = ?", (story_id,)).fetchone()
    if row:
        return row[0]
    row = conn.execute("SELECT new_id FROM story_aliases WHERE old_id = ?", (story_id,)).fetchone()
    return row[0] if row else None


def story(conn: Connection, story_id: int) -> StoryRow | None:
    rows = conn.execute(
        f"SELECT {_STORY_COLS} FROM stories s WHERE s.id = ? AND s.article_count > 0", (story_id,)
    ).fetchall()
    found = _story_rows(conn, rows)
    return found[0] if found else None


def story_coverage(conn: Connection, story_id: int, limit: int) -> list[CoverageItem]:
    rows = conn.execute(
        f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} WHERE i.story_id = ? AND i.removed = 0 "
        "ORDER BY i.is_article DESC, i.quality IS NULL, i.quality DESC, i.published_at IS NULL, "
        "i.published_at, i.id "
        "LIMIT ?",
        (story_id, limit),
    )
    return [_item(r) for r in rows]


# -- articles ----------------------------------------------------------------------------------
def article_by_id(conn: Connection, item_id: int) -> CoverageItem | None:
    row = conn.execute(
        f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} WHERE i.id = ? AND i.removed = 0", (item_id,)
    ).fetchone()
    return None if row is None else _item(row)


def article_by_url(conn: Connection, url: str) -> CoverageItem | None:
    row = conn.execute(
        f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} WHERE i.url = ? AND i.removed = 0", (url,)
    ).fetchone()
    return None if row is None else _item(row)


def article_by_title(conn: Connection, title: str) -> CoverageItem | None:
    row = conn.execute(
        f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} "
        f"WHERE {nocase_key(conn, 'i.title')} = {nocase_param(conn)} "
        "AND i.is_article = 1 AND i.removed = 0 ORDER BY i.published_at DESC NULLS LAST, i.id "
        "LIMIT 1",
        (title.strip(),),
    ).fetchone()
    return None if row is None else _item(row)


def related_coverage(conn: Connection, item_id: int, limit: int, offset: int) -> list[CoverageItem]:
    """Items linked to the article in either direction (its related list, or lists naming it)."""
    rows = conn.execute(
        f"SELECT {_ITEM_COLS} FROM {_ITEM_FROM} WHERE i.removed = 0 AND i.id IN ("
        "SELECT dst_id FROM links WHERE src_id = ? UNION SELECT src_id FROM links WHERE dst_id = ?"
        ") ORDER BY i.quality IS NULL, i.quality DESC, i.published_at DESC NULLS LAST, i.id "
        "LIMIT ? OFFSET ?",
        (item_id, item_id, limit, offset),
    )
    return [_item(r) for r in rows]


def latest_story_time(
    conn: Connection,
    *,
    until: int,
    topic_ids: Sequence[int] | None,
    min_quality: int | None,
) -> int | None:
    """The newest ``last_published_at`` at or before ``until`` among matching stories."""
    where = ["s.article_count > 0", "s.last_published_at <= ?"]
    params: list = [until]
    if min_quality is not None:
        where.append("s.best_quality >= ?")
        params.append(min_quality)
    sql = f"SELECT max(s.last_published_at) FROM stories s WHERE {' AND '.join(where)}"
    if topic_ids:
        marks = ",".join("?" * len(topic_ids))
        sql += f" AND s.id IN (SELECT story_id FROM story_topics WHERE topic_id IN ({marks}))"
        params.extend(topic_ids)
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def stories_in_window(
    conn: Connection,
    *,
    since: int,
    until: int,
    topic_ids: Sequence[int] | None,
    min_quality: int | None,
    limit: int,
) -> list[StoryRow]:
    """Stories with coverage published in [since, until), best rank first (digest candidates)."""
    where = ["s.article_count > 0", "s.last_published_at >= ?", "s.last_published_at < ?"]
    params: list = [since, until]
    if min_quality is not None:
        where.append("s.best_quality >= ?")
        params.append(min_quality)
    sql = f"SELECT {_STORY_COLS} FROM stories s WHERE {' AND '.join(where)}"
    if topic_ids:
        marks = ",".join("?" * len(topic_ids))
        sql += f" AND s.id IN (SELECT story_id FROM story_topics WHERE topic_id IN ({marks}))"
        params.extend(topic_ids)
    sql += " ORDER BY s.rank_key DESC, s.id DESC LIMIT ?"
    params.append(limit)
    return _story_rows(conn, conn.execute(sql, params).fetchall())


def stories_by_ids(conn: Connection, story_ids: Sequence[int]) -> list[StoryRow]:
    """The live stories among ``story_ids`` (any order)."""
    if not story_ids:
        return []
    marks = ",".join("?" * len(story_ids))
    rows = conn.execute(
        f"SELECT {_STORY_COLS} FROM stories s WHERE s.id IN ({marks}) AND s.article_count > 0",
        list(story_ids),
    ).fetchall()
    return _story_rows(conn, rows)
