"""Story settings, an item's terms and their weights (the vector side of ``bot.domain.stories``).

Terms: an item's title tokens (raw weight 1), numbered slots of its title (``slot_weight``,
``bot.domain.story_slots``) and excerpt-only tokens (``excerpt_weight``). Weights: the inverse
story frequency ``idf``, capped by the inverse item frequency, with N and the frequencies counted
over the weeks around the item's date (``idf_window``), so they follow the stream's vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.story_slots import slot_terms
from bot.domain.text import tokenize

__all__ = [
    "DEFAULT_SETTINGS",
    "IDF_BUCKET",
    "UNDATED",
    "Buckets",
    "ItemTokens",
    "StorySettings",
    "Vector",
    "idf",
    "idf_bucket",
    "idf_window",
    "in_window",
    "item_terms",
    "item_tokens",
    "item_vector",
    "terms_of",
]

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class StorySettings:
    """How items are grouped into stories; the same for every deployment.

    - ``window``: an item may only join a story whose date span comes within this of its own
      published date (coverage of one event comes within a day or two).
    - ``max_span``: no story grows to cover more than this between its earliest and latest
      published dates (``span_ok``); ``None`` disables the guard.
    - ``join_threshold``: least cosine between an item and a story's centroid for it to join.
    - ``merge_threshold``: least cosine between two centroids for the stories to merge;
      ``established_merge_threshold`` when both already hold ``established_size`` items or more
      (two grown stories are distinct events unless they agree clearly).
    - ``linked_join_threshold`` / ``linked_merge_threshold``: the same bars when one item lists the
      other in its ``related`` list (a link is evidence, never a merge on its own; two grown
      stories need the established bar even when linked: a link is about two items).
    - ``merge_candidates``: after a join, how many of the next most similar stories are tried
      for a merge.
    - ``excerpt_weight``: weight of a token found only in the excerpt (title tokens weigh 1).
    - ``item_idf_margin``: a term's weight is at most its inverse *item* frequency plus this
      (in nats). Story frequency alone reinforces itself: once one story has absorbed every item
      of a feed that says "Azure", "azure" is in one story and looks rare; a word that a large
      share of all items use is never distinctive, however the grouping packed it.
    - ``cold_start``: while the database holds few stories the weights say little, so every bar
      is multiplied by ``1 + cold_start / N`` (N stories held: x2 for the first, x1.01 at 100).
    - ``slot_weight``: raw weight of a numbered slot term ("episod8"; it repeats its word);
      ``slot_share``: a story's main number of a slot carries this share of the slot's weight,
      and a different number is evidence against (``bot.domain.story_slots.slot_conflict``).
    - ``search_terms``, ``postings_per_term``, ``common_share``, ``common_after``: bounds of the
      candidate search (see the module docstring); ``common_share`` applies once the window
      (below) holds ``common_after`` stories.
    - ``idf_window``: the term frequencies (``N`` and ``df`` of ``idf``, and the item counts)
      an item is weighed with count the items dated within this many weeks (``IDF_BUCKET``)
      either side of the item's own week, so the weights follow what the stream says *now*
      ("season" common this winter, rare next summer); ``None``: every item held.
    """

    window: timedelta = timedelta(days=3)
    max_span: timedelta | None = timedelta(days=7)
    join_threshold: float = 0.175
    merge_threshold: float = 0.175
    established_merge_threshold: float = 0.275
    established_size: int = 5
    linked_join_threshold: float = 0.1
    linked_merge_threshold: float = 0.15
    merge_candidates: int = 3
    excerpt_weight: float = 0.5
    search_terms: int = 8
    postings_per_term: int = 16
    common_share: float = 0.05
    common_after: int = 200
    cold_start: float = 1.0
    item_idf_margin: float = 1.0
    slot_share: float = 0.5
    slot_weight: float = 0.5
    idf_window: int | None = 8


DEFAULT_SETTINGS = StorySettings()

# Term frequencies are kept per week of the items' published dates ("buckets": whole weeks since
# the epoch, UTC); undated items count in their own bucket, which every window includes.
IDF_BUCKET = timedelta(days=7)
UNDATED = -(2**40)
_BUCKET_SECONDS = int(IDF_BUCKET.total_seconds())
Buckets = tuple[int, int] | None  # an inclusive range of buckets, or None for all of them


def idf_bucket(at: datetime | None) -> int:
    """The frequency bucket of an item dated ``at``: its week since the epoch, or ``UNDATED``."""
    return UNDATED if at is None else int(at.timestamp()) // _BUCKET_SECONDS


def idf_window(at: datetime | None, settings: StorySettings = DEFAULT_SETTINGS) -> Buckets:
    """The buckets whose counts weigh an item dated ``at`` (None: all, e.g. an undated item)."""
    weeks = settings.idf_window
    if weeks is None or at is None:
        return None
    week = idf_bucket(at)
    return (week - weeks, week + weeks)


def in_window(bucket: int, window: Buckets) -> bool:
    """Whether counts kept in ``bucket`` belong to ``window`` (undated ones always do)."""
    return window is None or bucket == UNDATED or window[0] <= bucket <= window[1]


# An item's distinct title tokens, excerpt tokens and title slots, each in order of appearance:
# everything of its text the grouping uses, free of settings.
ItemTokens = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def item_tokens(title: str, excerpt: str | None) -> ItemTokens:
    """The tokens ``item_terms`` weighs: distinct title tokens, excerpt tokens, slot terms."""
    return (
        tuple(dict.fromkeys(tokenize(title))),
        tuple(dict.fromkeys(tokenize(excerpt))),
        tuple(slot_terms(title)),
    )


def terms_of(tokens: ItemTokens, settings: StorySettings = DEFAULT_SETTINGS) -> dict[str, float]:
    """``item_terms`` from an item's ``item_tokens`` (the same dict, in the same order)."""
    title, excerpt, slots = tokens
    terms = dict.fromkeys(excerpt, settings.excerpt_weight)
    terms.update(dict.fromkeys(title, 1.0))
    for slot in slots:  # "mh370", "fy20": already a title token, kept at 1
        terms.setdefault(slot, settings.slot_weight)
    return terms


def item_terms(
    title: str, excerpt: str | None, settings: StorySettings = DEFAULT_SETTINGS
) -> dict[str, float]:
    """Term -> raw weight of an item: 1 for a title token, ``slot_weight`` for a numbered slot
    of the title ("episod8", ``bot.domain.story_slots``), ``excerpt_weight`` for the rest."""
    return terms_of(item_tokens(title, excerpt), settings)


def idf(stories: int, df: int) -> float:
    """Inverse story frequency: ``ln((N + 2) / (df + 1))``, N taken as at least ``df`` (window
    sums can disagree at a window's edge: a story counted where it started, a term where the
    story gained it), so always positive."""
    return math.log((max(stories, df) + 2) / (df + 1))


def item_vector(
    terms: dict[str, float],
    stories: int,
    dfs: dict[str, int],
    items: int | None = None,
    item_dfs: dict[str, int] | None = None,
    margin: float = 1.0,
) -> Vector:
    """Unit vector of an item: raw term weight x term weight, normalised (empty when ``terms``
    is). The term weight is the inverse story frequency, capped at the inverse *item* frequency
    plus ``margin`` when item counts are given (see ``StorySettings.item_idf_margin``)."""

    def weight(t: str) -> float:
        w = idf(stories, dfs.get(t, 0))
        if items is not None and item_dfs is not None:
            w = min(w, idf(items, item_dfs.get(t, 0)) + margin)
        return w

    vec = {t: w * weight(t) for t, w in terms.items()}
    norm = math.sqrt(sum(v * v for v in vec.values()))
    if norm == 0.0:
        return {}
    return {t: v / norm for t, v in vec.items()}
