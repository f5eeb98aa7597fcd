"""Story grouping: items join the story they are most similar to *as a whole*.

An *item* is an article file or one entry of an article's ``related`` list. Grouping is incremental:
items arrive one by one (in ingest order) and each is either added to one existing story or starts a
new one; afterwards its story may merge with another story when the two are similar *as stories*.
Nothing compares an item with one member of a story, so a single hub headline ("Titanfall, iOS 7.1
and Mt. Gox: the week in tech") can never glue two events together: it joins the one it resembles
most, and the two stories stay apart unless their centroids agree.

Vectors. An item's terms are its title tokens (weight 1) and its excerpt-only tokens
(``excerpt_weight``), each multiplied by the term's *inverse story frequency*
``idf(t) = ln((N + 2) / (df(t) + 1))``, where ``N`` is the number of stories and ``df(t)`` the
number of stories containing ``t``, both counted over a window of weeks around the item's date
(``StorySettings.idf_window``, kept incrementally in weekly buckets), and normalised to length 1.
Counting stories rather than items keeps a story's own keyword strong however many outlets repeat
it ("titanfall" in 165 headlines is still one story), while words found across many events
("update", "season", "azure" in an Azure feed) weigh little: the weights are learned from what the
database holds, per deployment. Settings, terms and weights: ``bot.domain.story_terms``.

A story's *centroid* is the sum of its members' vectors, each frozen with the weights of the moment
it joined, so a story is updated in O(terms of the item) and its state never depends on when it is
read. The similarity of an item and a story is the cosine of the item's vector and the centroid;
two stories are compared by the cosine of their centroids. The thresholds (``StorySettings``) are
the same for every deployment.

The algorithm (``StoryEngine.add``) is written once against a small ``StoryStore`` protocol;
``bot.domain.story_memory`` holds the in-memory store (tests, benchmarks, the reference ``group``),
``bot.storage.stories`` the SQLite one. Candidate search is bounded: at most ``search_terms``
terms of an item are looked up (rarest first), terms held by more than ``common_share`` of the
stories are not looked up at all, and each lookup returns at most ``postings_per_term`` stories
(newest first) whose date span meets the item's window.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.story_lead import LeadCandidate, choose_lead
from bot.domain.story_slots import main_slots, slot_conflict
from bot.domain.story_terms import (
    DEFAULT_SETTINGS,
    IDF_BUCKET,
    UNDATED,
    Buckets,
    ItemTokens,
    StorySettings,
    Vector,
    idf,
    idf_bucket,
    idf_window,
    in_window,
    item_terms,
    item_tokens,
    item_vector,
    terms_of,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "IDF_BUCKET",
    "UNDATED",
    "Buckets",
    "Centroid",
    "ItemTokens",
    "LeadCandidate",
    "StoryEngine",
    "StorySettings",
    "StoryStore",
    "choose_lead",
    "cosine",
    "idf",
    "idf_bucket",
    "idf_window",
    "in_window",
    "item_terms",
    "item_tokens",
    "item_vector",
    "norm_within",
    "span_norm",
    "span_ok",
    "terms_of",
]


@dataclass(slots=True)
class Centroid:
    """A story's state: the sum of its members' vectors, its squared norm, size and date span."""

    weights: Vector = field(default_factory=dict)
    norm2: float = 0.0
    size: int = 0
    first: datetime | None = None
    last: datetime | None = None


def cosine(a: Centroid, b: Centroid) -> float:
    """Cosine of two centroids (0.0 when either is empty)."""
    if a.norm2 <= 0.0 or b.norm2 <= 0.0:
        return 0.0
    small, large = (a, b) if len(a.weights) <= len(b.weights) else (b, a)
    dot = sum(v * large.weights.get(t, 0.0) for t, v in small.weights.items())
    return dot / math.sqrt(a.norm2 * b.norm2)


def _lo(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _hi(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def span_ok(
    first: datetime | None,
    last: datetime | None,
    other_first: datetime | None,
    other_last: datetime | None,
    settings: StorySettings = DEFAULT_SETTINGS,
) -> bool:
    """Whether two date spans may be joined without covering more than ``settings.max_span``."""
    if settings.max_span is None:
        return True
    lo, hi = _lo(first, other_first), _hi(last, other_last)
    return lo is None or hi is None or hi - lo <= settings.max_span


def span_norm(
    norm2: float, first: float | None, last: float | None, lo: float | None, hi: float | None
) -> float:
    """``norm2`` if the span [first, last] meets [lo, hi] (POSIX seconds; None: any), else 0.0."""
    if lo is None or hi is None or first is None or last is None:
        return norm2
    return 0.0 if last < lo or first > hi else norm2


def norm_within(c: Centroid, lo: float | None, hi: float | None) -> float:
    """``span_norm`` of a centroid."""
    first = c.first.timestamp() if c.first is not None else None
    last = c.last.timestamp() if c.last is not None else None
    return span_norm(c.norm2, first, last, lo, hi)


class StoryStore(Protocol):
    """What the engine needs from where stories live (memory, SQLite)."""

    def stories(self, window: Buckets = None) -> int:
        """How many stories are held (N of the idf), counted over ``window`` (None: all):
        each story counts in the bucket (``idf_bucket``) of the item that started it, less the
        merges, counted in the bucket of the absorbed story's earliest date."""
        ...

    def dfs(self, terms: Iterable[str], window: Buckets = None) -> dict[str, int]:
        """Story frequency of each term over ``window`` (missing: 0): a story counts for a term
        in the bucket of the item that brought the term to it, less the merges, as above."""
        ...

    def item_dfs(self, terms: Iterable[str], window: Buckets = None) -> tuple[int, dict[str, int]]:
        """How many items are grouped, and the item frequency of each term (missing: 0), over
        ``window``: each item counts in its own bucket."""
        ...

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
        """For each of ``terms`` in order: (story, centroid weight of the term) of up to
        ``limit`` stories holding it whose span meets [lo, hi] (any span when they are None),
        highest story id first. (All terms at once: a database store reads them in one query.)
        ``span``: no story spans more (``StorySettings.max_span``), so a store may skip the
        stories dated further than that outside [lo, hi] without reading them.
        ``vector``: every term of the item searched for, ``linked``: the stories it is linked
        to; a store may read the weights of those terms in the candidates and the linked
        stories in the same query (the engine asks for them next: to add the item to the story
        it joins, to compare the story it starts or joins with the others)."""
        ...

    def centroid(self, story: int) -> Centroid:
        """The current state of a story, all weights loaded."""
        ...

    def head(self, story: int) -> Centroid:
        """The norm, size and span of a story (its weights may be left out)."""
        ...

    def norm2(self, story: int, lo: float | None, hi: float | None) -> float:
        """``norm_within(self.head(story), lo, hi)``: the squared norm of a story whose date
        span meets [lo, hi] (POSIX seconds), 0.0 for one that does not (a store may answer for
        the stories its ``postings`` returned without making their heads)."""
        ...

    def similarity(self, a: int, b: int) -> float:
        """``cosine`` of the centroids of two stories (a store may read only the weights the
        smaller one needs)."""
        ...

    def story_of(self, item: int) -> int | None:
        """The story an item belongs to, if any."""
        ...

    def new_story(self) -> int:
        """A fresh story id, never given before."""
        ...

    def add(self, story: int, item: int, vec: Vector, at: datetime | None) -> None:
        """Put ``item`` into ``story`` and add ``vec`` to its centroid (dfs and N follow, in
        the bucket of ``at``)."""
        ...

    def merge(self, keep: int, gone: int) -> None:
        """Move every item of ``gone`` into ``keep``, sum the centroids, drop ``gone``."""
        ...


class StoryEngine:
    """The grouping algorithm over a ``StoryStore``; deterministic for a given order of items."""

    def __init__(self, store: StoryStore, settings: StorySettings = DEFAULT_SETTINGS) -> None:
        self.store = store
        self.settings = settings
        # cosine of two centroids by (story, size, story, size): a centroid only changes when
        # its size does, so a pair compared again (many related lists) costs a lookup
        self._cosines: dict[tuple[int, int, int, int], float] = {}
        # (title, excerpt) -> tokens, filled by a store's read-ahead so an item it already
        # tokenised is not tokenised again (the tokens depend on the text only)
        self.tokens: dict[tuple[str, str | None], ItemTokens] = {}

    def vector(self, title: str, excerpt: str | None, at: datetime | None = None) -> Vector:
        return self._vector_dfs(title, excerpt, at)[0]

    def _vector_dfs(
        self, title: str, excerpt: str | None, at: datetime | None
    ) -> tuple[Vector, dict[str, int], tuple[str, ...], int]:
        """An item's vector, the story frequencies of its terms (read once, used twice), its
        title's slot terms, and N: all counted over the item's window (``idf_window``)."""
        tokens = self.tokens.pop((title, excerpt), None) or item_tokens(title, excerpt)
        terms = terms_of(tokens, self.settings)
        window = idf_window(at, self.settings)
        items, item_dfs = self.store.item_dfs(terms, window)
        dfs = self.store.dfs(terms, window)
        n = self.store.stories(window)
        vec = item_vector(terms, n, dfs, items, item_dfs, self.settings.item_idf_margin)
        return vec, dfs, tokens[2], n

    def add(
        self,
        item: int,
        title: str,
        excerpt: str | None,
        at: datetime | None,
        linked: Collection[int] = (),
    ) -> int:
        """Group one item (``linked``: stories of items it lists or is listed by); its story."""
        current = self.store.story_of(item)
        if current is not None:
            return current
        s = self.settings
        vec, dfs, slots, n = self._vector_dfs(title, excerpt, at)
        scored = self._scored(vec, at, dfs, n, linked)
        story = None
        cold = self._cold()
        for score, cand in scored:
            bar = s.linked_join_threshold if cand in linked else s.join_threshold
            if score < bar * cold or not self._fits(cand, at):
                continue
            if slots and slot_conflict(slots, self.store.centroid(cand).weights, s.slot_share):
                continue
            story = cand
            break
        # A new story is only merged with the stories it is linked to: the candidates it just
        # failed to join were measured on its distinctive terms, and a merge's story-to-story
        # cosine would let the common terms the search skips ("azure") carry it in after all.
        others = [] if story is None else [c for _, c in scored if c != story][: s.merge_candidates]
        if story is None:
            story = self.store.new_story()
        self.store.add(story, item, vec, at)
        others += sorted(set(linked) - set(others) - {story})
        for other in others:
            story = self.try_merge(story, other, linked=other in linked)
        return story

    def try_merge(self, a: int, b: int, *, linked: bool) -> int:
        """Merge stories ``a`` and ``b`` when their centroids agree; the surviving id."""
        if a == b:
            return a
        s = self.settings
        ca, cb = self.store.head(a), self.store.head(b)
        if ca.size == 0 or cb.size == 0:
            return a
        grown = min(ca.size, cb.size) >= s.established_size
        if linked and not grown:
            bar = s.linked_merge_threshold
        elif grown:
            bar = s.established_merge_threshold
        else:
            bar = s.merge_threshold
        if not span_ok(ca.first, ca.last, cb.first, cb.last, s):
            return a
        key = (a, ca.size, b, cb.size) if a < b else (b, cb.size, a, ca.size)
        cos = self._cosines.get(key)
        if cos is None:
            cos = self.store.similarity(a, b)
            self._cosines[key] = cos
        if cos < bar * self._cold() or self._slots_differ(a, b):
            return a
        keep, gone = (a, b) if (ca.size, -a) >= (cb.size, -b) else (b, a)
        self.store.merge(keep, gone)
        return keep

    def _slots_differ(self, a: int, b: int) -> bool:
        """Whether the main numbered slots of one story conflict with the other's."""
        wa, wb = self.store.centroid(a).weights, self.store.centroid(b).weights
        share = self.settings.slot_share
        return slot_conflict(main_slots(wa), wb, share) or slot_conflict(main_slots(wb), wa, share)

    def _cold(self) -> float:
        return 1.0 + self.settings.cold_start / max(self.store.stories(), 1)

    def _fits(self, story: int, at: datetime | None) -> bool:
        c = self.store.head(story)
        return span_ok(c.first, c.last, at, at, self.settings)

    def _scored(
        self,
        vec: Vector,
        at: datetime | None,
        dfs: dict[str, int],
        n: int,
        linked: Collection[int] = (),
    ) -> list[tuple[float, int]]:
        """Candidate stories by descending cosine with ``vec`` (ties: higher id first);
        ``dfs`` and ``n``: the story frequencies of ``vec``'s terms and N, as read for ``vec``."""
        s = self.settings
        store = self.store
        if not vec or store.stories() == 0:
            return []
        common = s.common_share * n if n >= s.common_after else math.inf
        # only terms some story holds can find a candidate; the rarest of them first
        terms = sorted((t for t in vec if 0 < dfs.get(t, 0) <= common), key=lambda t: (-vec[t], t))
        lo = at - s.window if at is not None else None
        hi = at + s.window if at is not None else None
        dots: dict[int, float] = {}
        searched = terms[: s.search_terms]
        found = (
            store.postings(searched, lo, hi, s.postings_per_term, vec, linked, span=s.max_span)
            if searched
            else []
        )
        for term, postings in zip(searched, found, strict=True):
            v = vec[term]
            for story, weight in postings:
                dots[story] = dots.get(story, 0.0) + v * weight
        scored = []
        lo_s = lo.timestamp() if lo is not None else None
        hi_s = hi.timestamp() if hi is not None else None
        for story, dot in dots.items():
            norm2 = store.norm2(story, lo_s, hi_s)
            if norm2 > 0.0:
                scored.append((dot / math.sqrt(norm2), story))
        scored.sort(key=lambda p: (-p[0], -p[1]))
        return scored
