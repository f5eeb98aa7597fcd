"""The candidate search's SQL, one text per dialect, and SQLite's span test on kept heads.

The search (``SqliteStore.postings``) finds, for each of an item's searched terms, the newest
``limit`` stories holding it whose date span meets the item's window [lo, hi]. Every posting
keeps an ``anchor`` (a date inside its story's span), so postings of far-off stories are
skipped before any story row is read. PostgreSQL, where a query is a round trip, joins the
postings to ``stories`` and reads the candidates' weights in the same query. SQLite reads the
postings alone (``SEARCH_READ`` times what it keeps) and tests the spans on the heads the store
holds (:func:`meeting`); when that read runs short, one term is searched again with the join
(:data:`SQLITE_EXACT`), so both give the joined search's result.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

__all__ = ["PG_POSTINGS", "SEARCH_READ", "SQLITE_EXACT", "meeting", "sqlite_union"]

# SQLite: postings a term read, as a multiple of the number kept (the span test drops some)
SEARCH_READ = 2

# the anchor test (params: near_lo, near_lo, near_hi) and the span test on the joined story
# (params: lo, lo, hi, hi); None turns a test off
_ANCHOR_TEST = "(CAST(? AS BIGINT) IS NULL OR t.anchor IS NULL OR t.anchor BETWEEN ? AND ?)"
_SPAN_TEST = (
    "(CAST(? AS BIGINT) IS NULL OR s.span_last IS NULL OR s.span_last >= ?) "
    "AND (CAST(? AS BIGINT) IS NULL OR s.span_first IS NULL OR s.span_first <= ?)"
)

# PostgreSQL: the postings of every searched term (n: its index), then (n = -1) the weights of
# the item's terms in those candidates and in the linked stories; one SQL text whatever the
# numbers of terms and stories (arrays), so it is parsed and planned once per connection
PG_POSTINGS = (
    "WITH q AS (SELECT * FROM unnest(CAST(? AS text[])) WITH ORDINALITY AS q(term, n)), "
    "p AS (SELECT q.n - 1 AS n, x.* FROM q CROSS JOIN LATERAL (SELECT t.story_id, t.weight, "
    "s.norm2, s.size, s.span_first, s.span_last FROM story_terms t "
    f"JOIN stories s ON s.id = t.story_id WHERE t.term = q.term AND {_ANCHOR_TEST} "
    f"AND {_SPAN_TEST} ORDER BY t.story_id DESC LIMIT ?) AS x) "
    "SELECT n, story_id, weight, norm2, size, span_first, span_last, NULL AS term FROM p "
    "UNION ALL SELECT -1, t.story_id, t.weight, NULL, NULL, NULL, NULL, t.term "
    "FROM story_terms t WHERE t.term = ANY(CAST(? AS text[])) AND (t.story_id IN "
    "(SELECT story_id FROM p) OR t.story_id = ANY(CAST(? AS bigint[]))) ORDER BY 1, 2 DESC"
)

# SQLite, one term's postings with the anchor test only; ``{n}`` tags the term's rows
_SQLITE_ONE = (
    "SELECT * FROM (SELECT {n} AS n, t.story_id, t.weight FROM story_terms t "
    f"WHERE t.term = ? AND {_ANCHOR_TEST} ORDER BY t.story_id DESC LIMIT ?)"
)

# SQLite, one term, the span test in SQL (the join to ``stories``): the exact fallback
SQLITE_EXACT = (
    "SELECT t.story_id, t.weight, s.norm2, s.size, s.span_first, s.span_last "
    f"FROM story_terms t JOIN stories s ON s.id = t.story_id WHERE t.term = ? AND {_ANCHOR_TEST} "
    f"AND {_SPAN_TEST} ORDER BY t.story_id DESC LIMIT ?"
)


@functools.lru_cache(maxsize=64)
def sqlite_union(count: int) -> str:
    """SQLite: the postings of ``count`` terms, one UNION ALL (made once per count)."""
    sql = " UNION ALL ".join(_SQLITE_ONE.format(n=n) for n in range(count))
    return f"SELECT * FROM ({sql}) ORDER BY 1, 2 DESC"


def meeting(
    rows: Sequence[tuple[int, float]],
    spans: Mapping[int, tuple[int | None, int | None]],
    lo: int | None,
    hi: int | None,
    limit: int,
) -> list[tuple[int, float]]:
    """The first ``limit`` of ``rows`` (story, weight; newest first) whose story's span
    (``spans``: whole seconds) meets [lo, hi], tested as :data:`SQLITE_EXACT` tests it; a story
    with no span known has no story row, and the join would not return it either."""
    kept: list[tuple[int, float]] = []
    for story, weight in rows:
        span = spans.get(story)
        if span is None:
            continue
        first, last = span
        if lo is not None and last is not None and last < lo:
            continue
        if hi is not None and first is not None and first > hi:
            continue
        kept.append((story, weight))
        if len(kept) == limit:
            break
    return kept
