"""Full-text search and title autocomplete over items (FTS5). Synchronous; runs on the
database thread. User text is reduced to quoted words, so FTS5 syntax is never interpreted."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence

from bot.domain.views import CoverageItem
from bot.storage.queries import items_by_ids

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_terms(text: str, limit: int = 12) -> list[str]:
    """Words of user text, safe to quote into an FTS5 query (no operators survive)."""
    return [w for w in _WORD.findall(text.casefold())][:limit]


def _quoted(words: Sequence[str], prefix_last: bool = False) -> list[str]:
    out = [f'"{w}"' for w in words]
    if prefix_last and out:
        out[-1] += "*"
    return out


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    quality_weight: float,
    limit: int,
    offset: int,
    pool: int = 100,
    scan: int = 500,
) -> list[tuple[CoverageItem, float]]:
    """Full-text search, ranked by bm25 (title weighted 3x) blended with quality.

    All words must match; when that finds nothing, any word may match. User text is reduced to
    quoted words, so FTS5 syntax (quotes, OR, NEAR, *, -, parentheses) is never interpreted.
    bm25 is computed for the ``scan`` newest matches only (rowid order is ingest order): a word
    found in half of 100k items would otherwise cost ~100 ms; the best ``pool`` of those are
    blended with quality and paged.
    """
    words = fts_terms(text)
    if not words:
        return []
    for joiner in (" ", " OR "):
        query = joiner.join(_quoted(words))
        rows = conn.execute(
            "SELECT f.rowid, bm25(items_fts, 3.0, 1.0) FROM items_fts f "
            "WHERE items_fts MATCH ? ORDER BY f.rowid DESC LIMIT ?",
            (query, scan),
        ).fetchall()
        if rows or len(words) == 1:
            break
    if not rows:
        return []
    rows.sort(key=lambda r: r[1])
    rows = rows[:pool]
    items = items_by_ids(conn, [r[0] for r in rows])
    scored = []
    for rowid, bm25 in rows:
        item = items.get(rowid)
        if item is None:
            continue
        quality = item.quality if item.quality is not None else 50
        scored.append((item, -bm25 * (1.0 + quality_weight * quality / 100.0)))
    removed = _removed_ids(conn, [i.id for i, _ in scored])
    scored = [(i, s) for i, s in scored if i.id not in removed]
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored[offset : offset + limit]


def _removed_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {
        r[0]
        for r in conn.execute(f"SELECT id FROM items WHERE removed = 1 AND id IN ({marks})", ids)
    }


def title_matches(conn: sqlite3.Connection, text: str, limit: int) -> list[tuple[int, str]]:
    """Articles for autocomplete: title prefix matches first, then titles containing the words."""
    text = " ".join(text.split())
    if not text:
        rows = conn.execute(
            "SELECT id, title FROM items WHERE is_article = 1 AND removed = 0 "
            "ORDER BY published_at DESC LIMIT ?",
            (limit,),
        )
        return [(r[0], r[1]) for r in rows]
    found: dict[int, str] = {}
    last = ord(text[-1])  # U+10FFFF has no successor: bound the range by it instead
    upper = text[:-1] + chr(last + 1) if last < 0x10FFFF else text + "\U0010ffff"
    for rid, title in conn.execute(
        "SELECT id, title FROM items INDEXED BY items_article_title "
        "WHERE is_article = 1 AND removed = 0 "
        "AND title >= ? COLLATE NOCASE AND title < ? COLLATE NOCASE "
        "ORDER BY title COLLATE NOCASE LIMIT ?",
        (text, upper, limit),
    ):
        found[rid] = title
    words = fts_terms(text, limit=6)
    if len(found) < limit and words:
        query = "title : (" + " ".join(_quoted(words, prefix_last=True)) + ")"
        for rid, title in conn.execute(
            # CROSS JOIN: walk the full-text matches and look each item up, never the reverse
            "SELECT i.id, i.title FROM items_fts f CROSS JOIN items i ON i.id = f.rowid "
            "WHERE items_fts MATCH ? AND i.is_article = 1 AND i.removed = 0 LIMIT ?",
            (query, limit * 2),
        ):
            if len(found) >= limit:
                break
            found.setdefault(rid, title)
    return list(found.items())[:limit]
