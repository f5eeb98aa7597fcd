"""An in-memory ``StoryStore`` and the reference grouping ``group`` (tests and benchmarks).

``group`` runs exactly the algorithm of ``bot.domain.stories.StoryEngine`` that ingest runs over
SQLite, on a list of documents in order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.stories import (
    DEFAULT_SETTINGS,
    Buckets,
    Centroid,
    StoryEngine,
    StorySettings,
    Vector,
    _hi,
    _lo,
    cosine,
    idf_bucket,
    in_window,
    norm_within,
)


def _bump(counts: dict[str, dict[int, int]], term: str, bucket: int, by: int) -> None:
    per = counts.setdefault(term, {})
    per[bucket] = per.get(bucket, 0) + by


def _sum(per: dict[int, int], window: Buckets) -> int:
    return sum(n for b, n in per.items() if in_window(b, window))


__all__ = ["Doc", "InMemoryStore", "group"]


class InMemoryStore:
    """A ``StoryStore`` in dictionaries: for tests, benchmarks and the reference ``group``."""

    def __init__(self) -> None:
        self._centroids: dict[int, Centroid] = {}
        self._members: dict[int, list[int]] = {}
        self._item_story: dict[int, int] = {}
        # frequencies per bucket (``idf_bucket``): term -> bucket -> count, bucket -> count
        self._df: dict[str, dict[int, int]] = {}
        self._item_df: dict[str, dict[int, int]] = {}
        self._held: dict[int, int] = {}
        self._items: dict[int, int] = {}
        self._postings: dict[str, set[int]] = {}
        self._next = 0

    def stories(self, window: Buckets = None) -> int:
        if window is None:
            return len(self._centroids)
        return max(_sum(self._held, window), 0)

    def dfs(self, terms: Iterable[str], window: Buckets = None) -> dict[str, int]:
        found = {t: _sum(self._df[t], window) for t in terms if t in self._df}
        return {t: n for t, n in found.items() if n > 0}

    def item_dfs(self, terms: Iterable[str], window: Buckets = None) -> tuple[int, dict[str, int]]:
        found = {t: _sum(self._item_df[t], window) for t in terms if t in self._item_df}
        return _sum(self._items, window), {t: n for t, n in found.items() if n > 0}

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
        return [self._postings_of(term, lo, hi, limit) for term in terms]

    def _postings_of(
        self, term: str, lo: datetime | None, hi: datetime | None, limit: int
    ) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        for story in sorted(self._postings.get(term, ()), reverse=True):
            c = self._centroids[story]
            known = None not in (lo, hi, c.first, c.last)
            if known and (c.last < lo or c.first > hi):  # type: ignore[operator]
                continue
            out.append((story, c.weights[term]))
            if len(out) == limit:
                break
        return out

    def centroid(self, story: int) -> Centroid:
        return self._centroids[story]

    head = centroid

    def norm2(self, story: int, lo: float | None, hi: float | None) -> float:
        return norm_within(self._centroids[story], lo, hi)

    def similarity(self, a: int, b: int) -> float:
        return cosine(self._centroids[a], self._centroids[b])

    def story_of(self, item: int) -> int | None:
        return self._item_story.get(item)

    def new_story(self) -> int:
        self._next += 1
        self._centroids[self._next] = Centroid()
        self._members[self._next] = []
        return self._next

    def add(self, story: int, item: int, vec: Vector, at: datetime | None) -> None:
        c = self._centroids[story]
        bucket = idf_bucket(at)
        self._items[bucket] = self._items.get(bucket, 0) + 1
        if c.size == 0:  # a story counts where its first item is dated
            self._held[bucket] = self._held.get(bucket, 0) + 1
        for t in vec:
            _bump(self._item_df, t, bucket, 1)
        dot = 0.0
        for t, v in vec.items():
            old = c.weights.get(t)
            if old is None:
                c.weights[t] = v
                _bump(self._df, t, bucket, 1)
                self._postings.setdefault(t, set()).add(story)
            else:
                dot += old * v
                c.weights[t] = old + v
        c.norm2 += 2 * dot + sum(v * v for v in vec.values())
        c.size += 1
        c.first, c.last = _lo(c.first, at), _hi(c.last, at)
        self._members[story].append(item)
        self._item_story[item] = story

    def merge(self, keep: int, gone: int) -> None:
        k, g = self._centroids[keep], self._centroids.pop(gone)
        bucket = idf_bucket(g.first)  # the merge is taken back where the absorbed story began
        self._held[bucket] = self._held.get(bucket, 0) - 1
        dot = 0.0
        for t, v in g.weights.items():
            postings = self._postings[t]
            postings.discard(gone)
            old = k.weights.get(t)
            if old is None:
                k.weights[t] = v
                postings.add(keep)
            else:
                dot += old * v
                k.weights[t] = old + v
                _bump(self._df, t, bucket, -1)
        k.norm2 += 2 * dot + g.norm2
        k.size += g.size
        k.first, k.last = _lo(k.first, g.first), _hi(k.last, g.last)
        moved = self._members.pop(gone)
        self._members[keep].extend(moved)
        for item in moved:
            self._item_story[item] = keep

    def groups(self) -> list[list[int]]:
        """Every story's items, sorted; stories ordered by their first item."""
        return sorted(sorted(m) for m in self._members.values() if m)


@dataclass(frozen=True, slots=True)
class Doc:
    """One item for ``group``: text and date."""

    title: str
    excerpt: str | None = None
    published_at: datetime | None = None


def group(
    docs: Sequence[Doc],
    links: Iterable[tuple[int, int]] = (),
    settings: StorySettings = DEFAULT_SETTINGS,
) -> list[list[int]]:
    """Reference grouping of ``docs`` in order, as ingest does it (index = item id).

    ``links`` are (i, j) index pairs where item i lists item j as related, with ``i < j`` meaning
    "j is an entry of i's related list, grouped right after i" as at ingest. Returns every group
    (singletons included) as a sorted index list, ordered by first index.
    """
    n = len(docs)
    linked: dict[int, set[int]] = {}
    for i, j in links:
        if not (0 <= i < n and 0 <= j < n):
            raise IndexError(f"link ({i}, {j}) out of range for {n} docs")
        if i != j:
            linked.setdefault(i, set()).add(j)
            linked.setdefault(j, set()).add(i)
    store = InMemoryStore()
    engine = StoryEngine(store, settings)
    for i, d in enumerate(docs):
        stories = {store.story_of(j) for j in linked.get(i, ())}
        engine.add(i, d.title, d.excerpt, d.published_at, {s for s in stories if s is not None})
    return store.groups()
