"""Full-text search and title autocomplete over items. Synchronous; runs on the database thread.

SQLite: the FTS5 table ``items_fts`` ranked by ``bm25``. PostgreSQL: the generated ``tsvector``
column ``items.search_doc`` (title weight A, excerpt weight B, GIN index) ranked by ``ts_rank``.
Both score ``relevance * (1 + quality_weight * quality / 100)`` over the newest ``scan`` matches.
User text is reduced to words (runs of letters, digits and _) that are quoted into the query,
so neither FTS5 nor tsquery syntax is ever interpreted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from bot.domain.views import CoverageItem
from bot.storage import search_pg
from bot.storage.dialect import Connection, is_postgres
from bot.storage.queries import _item as item_view  # a row of items_by_ids' columns
from bot.storage.queries import items_by_ids

if TYPE_CHECKING:
    from bot.storage.pg import PgConnection

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_terms(text: str, limit: int = 12) -> list[str]:
    """Words of user text, safe to quote into an FTS5 query (no operators survive)."""
    return [w for w in _WORD.findall(text.casefold())][:limit]


def _quoted(words: Sequence[str], prefix_last: bool = False) -> list[str]:
    out = [f'"{w}"' for w in words]
    if prefix_last and out:
        out[-1] += "*"
    return out


def _sqlite_matches(conn: Connection, words: list[str], scan: int) -> list[tuple[int, float]]:
    """(item id, relevance: higher is better) of the ``scan`` newest items matching every word,
    else (none does) of the ``scan`` newest matching any word."""
    for joiner in (" ", " OR "):
        rows = conn.execute(
            "SELECT f.rowid, bm25(items_fts, 3.0, 1.0) FROM items_fts f "
            "WHERE items_fts MATCH ? ORDER BY f.rowid DESC LIMIT ?",
            (joiner.join(_quoted(words)), scan),
        ).fetchall()
        if rows or len(words) == 1:
            break
    return [(r[0], -r[1]) for r in rows]


def _pool(
    conn: Connection, words: list[str], scan: int, pool: int
) -> tuple[list[tuple[CoverageItem, float]], set[int]]:
    """The ``pool`` most relevant of the ``scan`` newest matches, most relevant first (newest
    first among equals), and the removed among them. PostgreSQL: one statement
    (:mod:`bot.storage.search_pg`)."""
    if is_postgres(conn):
        rows = search_pg.pooled_matches(cast("PgConnection", conn), words, scan, pool)
        return [(item_view(r), r[-2]) for r in rows], {r[0] for r in rows if r[-1]}
    ranked = _sqlite_matches(conn, words, scan)
    ranked.sort(key=lambda r: -r[1])
    ranked = ranked[:pool]
    items = items_by_ids(conn, [r[0] for r in ranked])
    found = [(items[rowid], relevance) for rowid, relevance in ranked if rowid in items]
    return found, _removed_ids(conn, [i.id for i, _ in found])


def search(
    conn: Connection,
    text: str,
    *,
    quality_weight: float,
    limit: int,
    offset: int,
    pool: int = 100,
    scan: int = 500,
) -> list[tuple[CoverageItem, float]]:
    """Full-text search, ranked by relevance (title weighted 3x) blended with quality.

    All words must match; when that finds nothing, any word may match. User text is reduced to
    quoted words, so FTS5 syntax (quotes, OR, NEAR, *, -, parentheses) is never interpreted.
    Relevance (bm25 on SQLite, ts_rank on PostgreSQL) is computed for the ``scan`` newest
    matches only (id order is ingest order): a word found in half of 100k items would otherwise
    cost ~100 ms; the best ``pool`` of those are blended with quality and paged.
    """
    words = fts_terms(text)
    if not words:
        return []
    found, removed = _pool(conn, words, scan, pool)
    scored = []
    for item, relevance in found:
        if item.id in removed:
            continue
        quality = item.quality if item.quality is not None else 50
        scored.append((item, relevance * (1.0 + quality_weight * quality / 100.0)))
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored[offset : offset + limit]


def _removed_ids(conn: Connection, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {
        r[0]
        for r in conn.execute(f"SELECT id FROM items WHERE removed = 1 AND id IN ({marks})", ids)
    }


def title_matches(conn: Connection, text: str, limit: int) -> list[tuple[int, str]]:
    """Articles for autocomplete: title prefix matches first, then titles containing the words."""
    text = " ".join(text.replace("\x00", "").split())  # PostgreSQL text cannot hold NUL
    if not text:
        rows = conn.execute(
            "SELECT id, title FROM items WHERE is_article = 1 AND removed = 0 "
            "ORDER BY published_at DESC NULLS LAST, id LIMIT ?",
            (limit,),
        )
        return [(r[0], r[1]) for r in rows]
    words = fts_terms(text, limit=6)
    if is_postgres(conn):
        rows = search_pg.title_matches(cast("PgConnection", conn), text, words, limit)
    else:
        rows = _sqlite_title_matches(conn, text, words, limit)
    found: dict[int, str] = {}
    for rid, title in rows:
        if len(found) >= limit:
            break
        found.setdefault(rid, title)
    return list(found.items())[:limit]


def _sqlite_title_matches(
    conn: Connection, text: str, words: list[str], limit: int
) -> list[tuple[int, str]]:
    last = ord(text[-1])  # U+10FFFF has no successor: bound the range by it instead
    upper = text[:-1] + chr(last + 1) if last < 0x10FFFF else text + "\U0010ffff"
    rows = conn.execute(
        "SELECT id, title FROM items INDEXED BY items_article_title "
        "WHERE is_article = 1 AND removed = 0 "
        "AND title >= ? COLLATE NOCASE AND title < ? COLLATE NOCASE "
        "ORDER BY title COLLATE NOCASE LIMIT ?",
        (text, upper, limit),
    ).fetchall()
    if len(rows) < limit and words:
        # CROSS JOIN: walk the full-text matches and look each item up, never the reverse
        query = "title : (" + " ".join(_quoted(words, prefix_last=True)) + ")"
        rows += conn.execute(
            "SELECT i.id, i.title FROM items_fts f CROSS JOIN items i ON i.id = f.rowid "
            "WHERE items_fts MATCH ? AND i.is_article = 1 AND i.removed = 0 LIMIT ?",
            (query, limit * 2),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]
