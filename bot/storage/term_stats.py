"""Term frequencies of the story grouping, per week of the items' dates (either dialect).

``term_buckets`` holds, per term and bucket (``bot.domain.stories.idf_bucket``: the week of an
item's published date), how many stories gained the term there (``stories``, less the merges)
and how many grouped items hold it (``items``); ``story_buckets`` the stories started and the
items grouped per bucket. An item is weighed with the sums over the buckets of its window
(``idf_window``), so the counts follow the stream's recent vocabulary and are updated with every
grouped item; they depend only on the items and their order, never on the wall clock.

:class:`TermStats` reads the stored sums once per window and term within a write transaction
and keeps the batch's own changes apart (written once, by :meth:`TermStats.write`): a read is
the stored sum plus the pending changes of the buckets in the window, so it is exact at any
point of the batch, and the result does not depend on how items fall into batches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from bot.domain.stories import UNDATED, Buckets, in_window
from bot.storage.dialect import insert_rows, one_of, plain_rows

__all__ = ["TermStats"]

_CHUNK = 500
_PAD = 8  # weeks read beyond a window, either side (see TermStats._load)


def _where(window: Buckets) -> tuple[str, tuple[int, ...]]:
    if window is None:
        return "", ()
    return " AND (bucket BETWEEN ? AND ? OR bucket = ?)", (window[0], window[1], UNDATED)


class TermStats:
    """Windowed story and item frequencies over an open connection, inside its transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._stored: dict[Buckets, dict[str, tuple[int, int]]] = {}  # window -> term -> sums
        self._stored_n: dict[Buckets, tuple[int, int]] = {}  # window -> (stories, items)
        # term -> (first, last bucket read, its stored (bucket, stories, items) in that span)
        self._spans: dict[str, tuple[int, int, list[tuple[int, int, int]]]] = {}
        self._delta: dict[str, dict[int, list[int]]] = {}  # term -> bucket -> [stories, items]
        self._delta_n: dict[int, list[int]] = {}  # bucket -> [stories, items]

    # -- reads --------------------------------------------------------------------------------
    def _load(self, terms: Sequence[str], window: Buckets) -> dict[str, tuple[int, int]]:
        """The stored sums of ``terms`` over ``window``. For a window of weeks, each term's
        buckets are read for ``_PAD`` weeks more on either side and kept, so that the windows
        of the next items (mostly a week or two apart) are summed here without another read."""
        stored = self._stored.setdefault(window, {})
        missing = [t for t in terms if t not in stored]
        if not missing:
            return stored
        if window is None:
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                for t in chunk:
                    stored[t] = (0, 0)
                condition, params = one_of(self.conn, chunk, "text")
                for term, stories, items in plain_rows(
                    self.conn,
                    "SELECT term, CAST(sum(stories) AS BIGINT), CAST(sum(items) AS BIGINT) "
                    f"FROM term_buckets WHERE term {condition} GROUP BY term",
                    params,
                ):
                    stored[term] = (stories, items)
            return stored
        lo, hi = window
        spans = self._spans
        unread = [
            t for t in missing if not (t in spans and spans[t][0] <= lo and hi <= spans[t][1])
        ]
        if unread:
            span = (lo - _PAD, hi + _PAD)
            for start in range(0, len(unread), _CHUNK):
                chunk = unread[start : start + _CHUNK]
                found: dict[str, list[tuple[int, int, int]]] = {t: [] for t in chunk}
                condition, params = one_of(self.conn, chunk, "text")
                for term, bucket, stories, items in plain_rows(
                    self.conn,
                    "SELECT term, bucket, stories, items FROM term_buckets "
                    f"WHERE term {condition} AND (bucket BETWEEN ? AND ? OR bucket = ?)",
                    (*params, span[0], span[1], UNDATED),
                ):
                    found[term].append((bucket, stories, items))
                for t, buckets in found.items():
                    spans[t] = (span[0], span[1], buckets)
        for t in missing:
            stories = items = 0
            for bucket, s, i in spans[t][2]:
                if lo <= bucket <= hi or bucket == UNDATED:
                    stories += s
                    items += i
            stored[t] = (stories, items)
        return stored

    def frequencies(
        self, terms: Iterable[str], window: Buckets
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(story frequency, item frequency) of each term over ``window``; zeros left out."""
        terms = list(terms)
        stored = self._load(terms, window)
        dfs: dict[str, int] = {}
        item_dfs: dict[str, int] = {}
        for t in terms:
            stories, items = stored[t]
            pending = self._delta.get(t)
            if pending:
                for bucket, (s, i) in pending.items():
                    if in_window(bucket, window):
                        stories += s
                        items += i
            if stories > 0:
                dfs[t] = stories
            if items > 0:
                item_dfs[t] = items
        return dfs, item_dfs

    def counts(self, window: Buckets) -> tuple[int, int]:
        """(stories, items) over ``window``."""
        stored = self._stored_n.get(window)
        if stored is None:
            where, args = _where(window)
            row = self.conn.execute(
                "SELECT CAST(coalesce(sum(stories), 0) AS BIGINT), "
                f"CAST(coalesce(sum(items), 0) AS BIGINT) FROM story_buckets WHERE 1 = 1{where}",
                args,
            ).fetchone()
            stored = self._stored_n[window] = (row[0], row[1])
        stories, items = stored
        for bucket, (s, i) in self._delta_n.items():
            if in_window(bucket, window):
                stories += s
                items += i
        return max(stories, 0), max(items, 0)

    # -- changes (pending until write) --------------------------------------------------------
    def count_item(self, bucket: int, terms: Iterable[str], gained: Iterable[str], *, new: bool):
        """An item of ``bucket`` grouped: it holds ``terms``, its story gained ``gained``;
        ``new``: it started its story."""
        delta = self._delta
        for t in terms:
            per = delta.setdefault(t, {})
            d = per.get(bucket)
            if d is None:
                d = per[bucket] = [0, 0]
            d[1] += 1
        for t in gained:
            delta[t][bucket][0] += 1
        n = self._delta_n.setdefault(bucket, [0, 0])
        n[1] += 1
        if new:
            n[0] += 1

    def count_merge(self, bucket: int, shared: Iterable[str]) -> None:
        """A story absorbed (its counts taken back in ``bucket``): ``shared`` were held by both."""
        for t in shared:
            per = self._delta.setdefault(t, {})
            d = per.get(bucket)
            if d is None:
                d = per[bucket] = [0, 0]
            d[0] -= 1
        self._delta_n.setdefault(bucket, [0, 0])[0] -= 1

    def write(self) -> None:
        """Add the pending changes to the stored counts (before the transaction commits)."""
        # one statement per table on PostgreSQL (an executemany there is a statement a row)
        insert_rows(
            self.conn,
            "INSERT INTO term_buckets(term, bucket, stories, items)",
            ("text", "bigint", "bigint", "bigint"),
            [
                (t, bucket, d[0], d[1])
                for t, per in self._delta.items()
                for bucket, d in per.items()
                if d != [0, 0]
            ],
            "ON CONFLICT(term, bucket) DO UPDATE SET "
            "stories = term_buckets.stories + excluded.stories, "
            "items = term_buckets.items + excluded.items",
        )
        insert_rows(
            self.conn,
            "INSERT INTO story_buckets(bucket, stories, items)",
            ("bigint", "bigint", "bigint"),
            [(bucket, d[0], d[1]) for bucket, d in self._delta_n.items() if d != [0, 0]],
            "ON CONFLICT(bucket) DO UPDATE SET stories = story_buckets.stories + "
            "excluded.stories, items = story_buckets.items + excluded.items",
        )
        # what was pending is stored now: fold it into the cached sums
        for window, stored in self._stored.items():
            for t, per in self._delta.items():
                if t in stored:
                    s, i = stored[t]
                    for bucket, d in per.items():
                        if in_window(bucket, window):
                            s, i = s + d[0], i + d[1]
                    stored[t] = (s, i)
        for window in list(self._stored_n):
            added = [d for b, d in self._delta_n.items() if in_window(b, window)]
            stories, items = self._stored_n[window]
            self._stored_n[window] = (
                stories + sum(d[0] for d in added),
                items + sum(d[1] for d in added),
            )
        # ... and into the stored rows of the spans read, so that they stay exact too (a
        # writer keeps them for its next transaction: bot/storage/story_cache.py)
        spans = self._spans
        for t, per in self._delta.items():
            span = spans.get(t)
            if span is None:
                continue
            first, last, rows = span
            for bucket, d in per.items():
                if not (first <= bucket <= last or bucket == UNDATED):
                    continue
                for k, (b, s, i) in enumerate(rows):
                    if b == bucket:
                        rows[k] = (b, s + d[0], i + d[1])
                        break
                else:
                    rows.append((bucket, d[0], d[1]))
        self._delta.clear()
        self._delta_n.clear()

    @property
    def pending(self) -> bool:
        """Whether changes are counted that :meth:`write` has not stored yet."""
        return bool(self._delta or self._delta_n)

    def size(self) -> int:
        """How many sums and spans are held (what a kept ``TermStats`` costs in memory)."""
        return len(self._spans) + sum(len(v) for v in self._stored.values())
