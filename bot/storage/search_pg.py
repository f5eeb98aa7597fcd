"""PostgreSQL's full-text search and title autocomplete SQL (used by :mod:`bot.storage.search`).

Each is ONE statement, so one round trip (what a loaded machine multiplies), never prepared on
the server (a generic plan cannot tell a rare word from a common one):

- :func:`pooled_matches` takes the newest ``scan`` items matching every word, and only when
  there are none (an uncorrelated ``NOT EXISTS``: a one-time filter, so the fallback is not even
  run otherwise) those matching any word; ``ts_rank`` runs on those rows only; the best ``pool``
  come back with ``items_by_ids``' columns and their ``removed`` flag.
- :func:`title_matches` walks the ``lower(title)`` index for the prefix and, only when that found
  fewer than ``limit`` titles (a one-time filter again), the oldest titles with the words.

Both find their newest (oldest) matches with ``newsbot_text_matches`` (migration 10): windows of
ids, the first 4,096 wide planned freely, the wider ones only as bitmaps of the GIN index ANDed
with the window, so a wrong estimate never makes a search filter the whole table row by row.
Migration 10 also keeps the GIN index free of a pending list (which every search would scan) and
gives the planner statistics of the title key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.storage.queries import _ITEM_COLS as ITEM_COLUMNS  # the rows items_by_ids reads
from bot.storage.queries import _ITEM_FROM as ITEM_FROM

if TYPE_CHECKING:
    from bot.storage.pg import PgConnection

# ts_rank weights {D, C, B, A}: a title word (A) counts 3x an excerpt word (B), as bm25 does on
# SQLite
WEIGHTS = "{0.1, 0.1, 0.333333, 1.0}"
CONFIG = "newsbot_text"  # migration 1: simple + unaccent, like FTS5's unicode61


def tsquery_text(
    words: Sequence[str], joiner: str = " & ", *, prefix_last: bool = False, label: str = ""
) -> str:
    """A ``to_tsquery`` text in which every word is one quoted lexeme (no operator survives);
    ``label`` restricts matches to a weight (``A``: titles), ``prefix_last`` makes the last word
    a prefix."""
    out = []
    for n, word in enumerate(words):
        quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
        suffix = ("*" if prefix_last and n == len(words) - 1 else "") + label
        out.append(quoted + (":" + suffix if suffix else ""))
    return joiner.join(out)


_BOUNDS = "(SELECT min(id) FROM items), (SELECT max(id) FROM items)"


def _rows(conn: PgConnection, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Never prepared: the plan of a full-text match depends on its words (a generic plan,
    which the server would use for a prepared statement, cannot tell a rare word from a common
    one)."""
    return conn.execute(sql, params, prepare=False).fetchall()


def _newest(name: str) -> str:
    return (
        f"{name} AS (SELECT i.id, i.search_doc, i.removed, to_tsquery('{CONFIG}', ?) AS q "
        "FROM items i WHERE i.id = ANY(ARRAY(SELECT newsbot_text_matches("
        f"to_tsquery('{CONFIG}', ?), ?, true, false, {_BOUNDS}))))"
    )


def _ranked(name: str) -> str:
    return f"SELECT id, ts_rank('{WEIGHTS}', search_doc, q, 1) AS relevance, removed FROM {name}"


def pooled_matches(conn: PgConnection, words: Sequence[str], scan: int, pool: int) -> list[tuple]:
    """The ``pool`` most relevant of the ``scan`` newest items matching every word of ``words``
    (else, when none does, any word): ``items_by_ids``' columns, then relevance (higher is
    better) and the removed flag; most relevant first, newest first among equals."""
    every = tsquery_text(words, " & ")
    params: tuple = (every, every, scan)
    found = _ranked("every")
    ctes = _newest("every")
    if len(words) > 1:
        anyword = tsquery_text(words, " | ")
        params += (anyword, anyword, scan)
        ctes += ", " + _newest("anyword")
        found += f" UNION ALL {_ranked('anyword')} WHERE NOT EXISTS (SELECT 1 FROM every)"
    sql = (
        f"WITH {ctes}, found AS ({found}), "
        "best AS (SELECT id, relevance, removed FROM found ORDER BY relevance DESC, id DESC "
        f"LIMIT ?) SELECT {ITEM_COLUMNS}, b.relevance, b.removed FROM best b "
        f"JOIN {ITEM_FROM} ON i.id = b.id ORDER BY b.relevance DESC, b.id DESC"
    )
    return _rows(conn, sql, (*params, pool))


def title_matches(conn: PgConnection, text: str, words: Sequence[str], limit: int) -> list[tuple]:
    """(id, title) of the articles whose lower-cased title starts with ``text`` in byte order,
    then (when fewer than ``limit`` do) of the oldest ``2 * limit`` whose title has ``words``
    (the last one as a prefix); the first part in title order, the second in id order."""
    text = text.lower()  # the index key is lower(title) in byte ("C") order
    last = ord(text[-1])  # U+10FFFF has no successor: bound the range by it instead
    upper = text[:-1] + chr(last + 1) if last < 0x10FFFF else text + "\U0010ffff"
    prefix = (
        'WITH prefix AS (SELECT id, title, (lower(title) COLLATE "C") AS k FROM items '
        'WHERE is_article = 1 AND removed = 0 AND (lower(title) COLLATE "C") >= ? '
        'AND (lower(title) COLLATE "C") < ? ORDER BY (lower(title) COLLATE "C"), id LIMIT ?) '
    )
    if not words:
        sql = prefix + "SELECT id, title FROM prefix ORDER BY k, id"
        return _rows(conn, sql, (text, upper, limit))
    sql = (
        prefix + "SELECT id, title FROM (SELECT id, title, 0 AS part, k FROM prefix UNION ALL ("
        'SELECT i.id, i.title, 1, NULL COLLATE "C" FROM items i '
        "WHERE (SELECT count(*) FROM prefix) < ? AND i.id = ANY(ARRAY(SELECT "
        f"newsbot_text_matches(to_tsquery('{CONFIG}', ?), ?, false, true, {_BOUNDS}))))) found "
        "ORDER BY part, k, id"
    )
    query = tsquery_text(words, prefix_last=True, label="A")
    return _rows(conn, sql, (text, upper, limit, limit, query, 2 * limit))
