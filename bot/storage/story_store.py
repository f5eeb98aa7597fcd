"""The ``StoryStore`` of ingest: :class:`SqliteStore` keeps story state in the database.

Either dialect, despite the name. Written through on every change inside the ingest
transaction (see :mod:`bot.storage.stories`); its caches only save reads. On PostgreSQL, where a
read is a round trip, it reads more per query (the postings of all searched terms at once, with
the weights of the item's terms in the candidate and linked stories) and keeps what it read
exact as it writes.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from bot.domain.stories import (
    Buckets,
    Centroid,
    Vector,
    cosine,
    idf_bucket,
    norm_within,
    span_norm,
)
from bot.storage.dialect import insert_rows, is_postgres, one_of, plain_rows
from bot.storage.story_cache import GroupingCache, read_generation
from bot.storage.story_search import (
    PG_POSTINGS,
    SEARCH_READ,
    SQLITE_EXACT,
    meeting,
    sqlite_union,
)
from bot.storage.term_stats import TermStats

_TERM_TYPES = ("text", "bigint", "double precision", "bigint")


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _ts(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp())


class SqliteStore:
    """``StoryStore`` over the open connection; write-through caches (they only save reads)."""

    def __init__(
        self, conn: sqlite3.Connection, now: int, cache: GroupingCache | None = None
    ) -> None:
        self.conn = conn
        self.now = now
        self.touched: set[int] = set()
        self._held: int | None = None
        # the windowed frequencies (bot/storage/term_stats.py): those the writer's previous
        # transaction left exact when it is known to be the last to change them
        self._cache = cache
        self._generation = read_generation(conn) if cache is not None else None
        self.stats = (
            TermStats(conn)
            if cache is None or self._generation is None
            else cache.take(conn, self._generation)
        )
        self._freq: tuple[tuple[str, ...], Buckets, tuple[dict, dict]] | None = None
        self._heads: dict[int, Centroid] = {}
        # (norm2, size, span_first, span_last) of stories the postings returned, as read (the
        # rows are written through, so exact): a Centroid is made only for a story the engine
        # goes on with (most candidates only need their norm)
        self._rows: dict[int, tuple[float, int, int | None, int | None]] = {}
        self._full: set[int] = set()  # stories whose cached head holds every weight
        self._item_story: dict[int, int | None] = {}  # as read or written in this batch
        self._moved: dict[int, int] = {}  # story merged away in this batch -> where it went
        # counters are cached exactly and written once, in write_stats()
        self._last_id: int | None = None
        self._ids_delta = [0, 0]  # held, items not yet written
        # PostgreSQL, where a query is a round trip: the weights of some terms in some stories
        # (story -> (those terms, the weights of those it holds)), read with the postings of
        # the items grouped; kept exact through add(), dropped by merge()
        self._read_ahead = is_postgres(conn)
        self._partial: dict[int, tuple[frozenset[str], dict[str, float]]] = {}

    # -- reads --------------------------------------------------------------------------------
    def stories(self, window: Buckets = None) -> int:
        if window is not None:
            return self.stats.counts(window)[0]
        if self._held is None:
            row = self.conn.execute("SELECT held FROM story_ids WHERE id = 1").fetchone()
            self._held = row[0] if row else 0
        return self._held

    def _frequencies(self, terms: Iterable[str], window: Buckets) -> tuple[dict, dict]:
        key = tuple(terms)
        if self._freq is None or self._freq[0] != key or self._freq[1] != window:
            self._freq = (key, window, self.stats.frequencies(key, window))
        return self._freq[2]

    def dfs(self, terms: Iterable[str], window: Buckets = None) -> dict[str, int]:
        return self._frequencies(terms, window)[0]

    def item_dfs(self, terms: Iterable[str], window: Buckets = None) -> tuple[int, dict[str, int]]:
        return self.stats.counts(window)[1], self._frequencies(terms, window)[1]

    def postings(
        self,
        terms: Sequence[str],
        lo: datetime | None,
        hi: datetime | None,
        limit: int,
        vector: Collection[str] = (),
        linked: Collection[int] = (),
        *,
        span: timedelta | None = None,
    ) -> list[list[tuple[int, float]]]:
        """Every term's postings in ONE query (one round trip on PostgreSQL, not one a term);
        on PostgreSQL the same query reads the weights of every ``vector`` term in the
        candidates and the ``linked`` stories. A posting whose ``anchor`` (a date inside its
        story's span) lies more than ``span`` outside [lo, hi] is skipped before its story row
        is read: a story spanning at most ``span`` cannot meet [lo, hi] then."""
        if not terms:
            return []
        lo_ts, hi_ts = _ts(lo), _ts(hi)
        near: tuple[int | None, int | None] = (None, None)
        if span is not None and lo_ts is not None and hi_ts is not None:
            reach = int(span.total_seconds())
            near = (lo_ts - reach, hi_ts + reach)
        if not self._read_ahead:  # SQLite
            return self._sqlite_postings(terms, near, lo_ts, hi_ts, limit)
        covered = frozenset(vector)
        others = sorted(s for s in linked if s not in self._full) if covered else []
        params: list = [list(terms), near[0], near[0], near[1]]
        params += [lo_ts, lo_ts, hi_ts, hi_ts, limit, sorted(covered), others]
        out: list[list[tuple[int, float]]] = [[] for _ in terms]
        heads, rows = self._heads, self._rows
        weights: dict[int, dict[str, float]] = {}
        for n, story, weight, norm2, size, first, last, term in self.conn.execute(
            PG_POSTINGS, params
        ).fetchall():
            if n < 0:
                weights.setdefault(story, {})[term] = weight
                continue
            if story not in heads:
                rows[story] = (norm2, size, first, last)
            out[n].append((story, weight))
            weights.setdefault(story, {})
        if covered:
            for story in others:
                weights.setdefault(story, {})
            for story, w in weights.items():
                known = self._partial.get(story)
                if known is not None:  # both exact: what is known of the story grows
                    self._partial[story] = (known[0] | covered, {**known[1], **w})
                else:
                    self._partial[story] = (covered, w)
        return out

    def _sqlite_postings(
        self,
        terms: Sequence[str],
        near: tuple[int | None, int | None],
        lo_ts: int | None,
        hi_ts: int | None,
        limit: int,
    ) -> list[list[tuple[int, float]]]:
        """SQLite: each term's newest ``limit`` stories whose span meets [lo, hi], read without
        a join to ``stories``: one UNION ALL of a query a term reads ``SEARCH_READ x limit``
        postings (plain tuples, by the primary key), the span test is made on the heads this
        store holds (as read, or written through in this transaction), and the heads it does
        not hold yet are read in one primary-key query. A term whose rows ran out before
        ``limit`` of them met the window while more may exist is searched again exactly, with
        the join (``SQLITE_EXACT``): the result is the join's whatever the read size."""
        read = limit * SEARCH_READ
        a, b = near
        sql = sqlite_union(len(terms))
        params = [p for t in terms for p in (t, a, a, b, read)]
        found: list[list[tuple[int, float]]] = [[] for _ in terms]
        for n, story, weight in plain_rows(self.conn, sql, params):
            found[n].append((story, weight))
        spans = self._spans_of({story for rows in found for story, _ in rows})
        out: list[list[tuple[int, float]]] = []
        for n, rows in enumerate(found):
            kept = meeting(rows, spans, lo_ts, hi_ts, limit)
            if len(kept) < limit and len(rows) == read:  # short, and more rows may exist
                kept = self._exact_postings(terms[n], near, lo_ts, hi_ts, limit)
            out.append(kept)
        return out

    def _spans_of(self, stories: Collection[int]) -> dict[int, tuple[int | None, int | None]]:
        """(span_first, span_last) of ``stories`` in whole seconds, from the heads this store
        holds; those it does not hold are read (one query a chunk) and kept in ``_rows``."""
        heads, rows = self._heads, self._rows
        spans: dict[int, tuple[int | None, int | None]] = {}
        missing = []
        for story in stories:
            c = heads.get(story)
            if c is not None:
                spans[story] = (_ts(c.first), _ts(c.last))
                continue
            row = rows.get(story)
            if row is None:
                missing.append(story)
            else:
                spans[story] = (row[2], row[3])
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for story, norm2, size, first, last in plain_rows(
                self.conn,
                f"SELECT id, norm2, size, span_first, span_last FROM stories WHERE id IN ({marks})",
                chunk,
            ):
                rows[story] = (norm2, size, first, last)
                spans[story] = (first, last)
        return spans

    def _exact_postings(
        self,
        term: str,
        near: tuple[int | None, int | None],
        lo_ts: int | None,
        hi_ts: int | None,
        limit: int,
    ) -> list[tuple[int, float]]:
        """One term's postings with the span test made in SQL (the join): the fallback of
        :meth:`_sqlite_postings` when its read was too short to decide."""
        a, b = near
        out = []
        for story, weight, norm2, size, first, last in plain_rows(
            self.conn, SQLITE_EXACT, (term, a, a, b, lo_ts, lo_ts, hi_ts, hi_ts, limit)
        ):
            if story not in self._heads:
                self._rows[story] = (norm2, size, first, last)
            out.append((story, weight))
        return out

    def head(self, story: int) -> Centroid:
        c = self._heads.get(story)
        if c is None:
            row = self._rows.pop(story, None)
            if row is None:
                row = self.conn.execute(
                    "SELECT norm2, size, span_first, span_last FROM stories WHERE id = ?",
                    (story,),
                ).fetchone()
            norm2, size, first, last = row
            c = self._heads[story] = Centroid({}, norm2, size, _dt(first), _dt(last))
        return c

    def norm2(self, story: int, lo: float | None, hi: float | None) -> float:
        row = None if story in self._heads else self._rows.get(story)
        if row is None:
            return norm_within(self.head(story), lo, hi)
        norm2, _, first, last = row  # whole seconds, as stored (and as _dt makes them)
        return span_norm(norm2, first, last, lo, hi)

    def centroid(self, story: int) -> Centroid:
        c = self.head(story)
        if story not in self._full:
            c.weights = dict(
                plain_rows(
                    self.conn, "SELECT term, weight FROM story_terms WHERE story_id = ?", (story,)
                )
            )
            self._full.add(story)
        return c

    def similarity(self, a: int, b: int) -> float:
        """``cosine`` of two centroids. When only one of them is held in full (typically the
        story an item just started or joined), only the other's weights of its terms are read:
        a few primary-key lookups instead of every row of a grown story."""
        if (a in self._full) == (b in self._full):
            return cosine(self.centroid(a), self.centroid(b))
        full, other = (
            (self.head(a), self.head(b)) if a in self._full else (self.head(b), self.head(a))
        )
        if full.norm2 <= 0.0 or other.norm2 <= 0.0:
            return 0.0
        story = b if a in self._full else a
        terms = list(full.weights)
        found: dict[str, float] = {}
        for start in range(0, len(terms), 500):
            found.update(self._weights_for(story, terms[start : start + 500]))
        dot = sum(v * found.get(t, 0.0) for t, v in full.weights.items())
        return dot / math.sqrt(full.norm2 * other.norm2)

    def story_of(self, item: int) -> int | None:
        if item in self._item_story:
            story = self._item_story[item]
        else:
            row = self.conn.execute("SELECT story_id FROM items WHERE id = ?", (item,)).fetchone()
            story = self._item_story[item] = None if row is None else row[0]
        while story in self._moved:  # merged away in this batch
            story = self._moved[story]
        return story

    def remember_stories(self, rows: Iterable[tuple[int, int | None]]) -> None:
        """(item, story id as just read from ``items``) pairs: later ``story_of`` calls for
        these items need no query of their own."""
        for item, story in rows:
            self._item_story.setdefault(item, story)

    def remember_heads(
        self, rows: Iterable[tuple[int, float, int, int | None, int | None]]
    ) -> None:
        """(story, norm2, size, span_first, span_last) as just read from ``stories``."""
        for story, norm2, size, first, last in rows:
            if story not in self._heads:
                self._rows.pop(story, None)
                self._heads[story] = Centroid({}, norm2, size, _dt(first), _dt(last))

    # -- writes -------------------------------------------------------------------------------
    def write_stats(self) -> None:
        """Write the pending term frequencies and counters (before the transaction commits)."""
        self.stats.write()
        self._freq = None
        held, items = self._ids_delta
        if self._last_id is not None or held or items:
            # the grouping state changed: a new generation (bot/storage/story_cache.py)
            self.conn.execute(
                "UPDATE story_ids SET last_id = coalesce(?, last_id), held = held + ?, "
                "items = items + ?, generation = generation + 1 WHERE id = 1",
                (self._last_id, held, items),
            )
            if self._generation is not None:
                self._generation += 1
        self._ids_delta = [0, 0]
        if self._cache is not None and self._generation is not None:
            self._cache.keep(self.stats, self._generation)

    def new_story(self) -> int:
        held = self.stories()
        if self._last_id is None:
            (self._last_id,) = self.conn.execute(
                "SELECT last_id FROM story_ids WHERE id = 1"
            ).fetchone()
        self._last_id += 1
        story = self._last_id
        self._ids_delta[0] += 1
        self.conn.execute("INSERT INTO stories(id, updated_at) VALUES (?, ?)", (story, self.now))
        self._held = held + 1
        self._heads[story] = Centroid()
        self._full.add(story)
        self.touched.add(story)
        return story

    def _weights_for(self, story: int, terms: Sequence[str]) -> dict[str, float]:
        c = self.head(story)
        if story in self._full:
            return {t: c.weights[t] for t in terms if t in c.weights}
        partial = self._partial.get(story)
        if partial is not None and partial[0].issuperset(terms):
            return {t: partial[1][t] for t in terms if t in partial[1]}
        condition, params = one_of(self.conn, terms, "text")
        return dict(
            plain_rows(
                self.conn,
                f"SELECT term, weight FROM story_terms WHERE story_id = ? AND term {condition}",
                (story, *params),
            )
        )

    def add(self, story: int, item: int, vec: Vector, at: datetime | None) -> None:
        conn = self.conn
        c = self.head(story)
        old = self._weights_for(story, list(vec)) if vec else {}
        dot = sum(old[t] * v for t, v in vec.items() if t in old)
        new_terms = [t for t in vec if t not in old]
        if at is not None:
            c.first = at if c.first is None else min(c.first, at)
            c.last = at if c.last is None else max(c.last, at)
        anchor = _ts(c.first)  # inside the span from now on: spans only grow
        insert_rows(
            conn,
            "INSERT INTO story_terms(term, story_id, weight, anchor)",
            _TERM_TYPES,
            [(t, story, v, anchor) for t, v in vec.items()],
            "ON CONFLICT(term, story_id) DO UPDATE SET "
            "weight = story_terms.weight + excluded.weight",
        )
        self.stats.count_item(idf_bucket(at), vec, new_terms, new=c.size == 0)
        self._freq = None
        self._ids_delta[1] += 1
        if story in self._full:
            for t, v in vec.items():
                c.weights[t] = c.weights.get(t, 0.0) + v
        partial = self._partial.get(story)
        if partial is not None:  # kept exact: the same sums as the database's
            for t, v in vec.items():
                if t in partial[0]:
                    partial[1][t] = partial[1].get(t, 0.0) + v
        c.norm2 += 2 * dot + sum(v * v for v in vec.values())
        c.size += 1
        self._write_head(story, c)
        conn.execute("UPDATE items SET story_id = ? WHERE id = ?", (story, item))
        self._item_story[item] = story
        self.touched.add(story)

    def _write_head(self, story: int, c: Centroid) -> None:
        self.conn.execute(
            "UPDATE stories SET size = ?, norm2 = ?, span_first = ?, span_last = ? WHERE id = ?",
            (c.size, c.norm2, _ts(c.first), _ts(c.last), story),
        )

    def merge(self, keep: int, gone: int) -> None:
        conn = self.conn
        held = self.stories()
        k, g = self.centroid(keep), self.centroid(gone)
        dot = 0.0
        both = []
        for t, v in g.weights.items():
            old = k.weights.get(t)
            if old is None:
                k.weights[t] = v
            else:
                dot += old * v
                k.weights[t] = old + v
                both.append(t)
        if g.first is not None:
            k.first = g.first if k.first is None else min(k.first, g.first)
        if g.last is not None:
            k.last = g.last if k.last is None else max(k.last, g.last)
        anchor = _ts(k.first)  # inside the merged span (see add); the kept rows keep theirs
        insert_rows(
            conn,
            "INSERT INTO story_terms(term, story_id, weight, anchor)",
            _TERM_TYPES,
            [(t, keep, k.weights[t], anchor) for t in g.weights],
            "ON CONFLICT(term, story_id) DO UPDATE SET weight = excluded.weight",
        )
        self.stats.count_merge(idf_bucket(g.first), both)
        self._freq = None
        k.norm2 += 2 * dot + g.norm2
        k.size += g.size
        self._write_head(keep, k)
        conn.execute("UPDATE items SET story_id = ? WHERE story_id = ?", (keep, gone))
        conn.execute("UPDATE story_aliases SET new_id = ? WHERE new_id = ?", (keep, gone))
        conn.execute(
            "INSERT INTO story_aliases(old_id, new_id) VALUES (?, ?) "
            "ON CONFLICT(old_id) DO UPDATE SET new_id = excluded.new_id",
            (gone, keep),
        )
        conn.execute("DELETE FROM stories WHERE id = ?", (gone,))  # its terms cascade
        self._ids_delta[0] -= 1
        self._held = held - 1
        self._heads.pop(gone, None)
        self._rows.pop(gone, None)
        self._partial.pop(gone, None)
        self._partial.pop(keep, None)
        self._moved[gone] = keep
        self._full.discard(gone)
        self.touched.discard(gone)
        self.touched.add(keep)
