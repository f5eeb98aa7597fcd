"""Story grouping: decide whether two items report the same event.

An *item* is an article file or one entry of an article's ``related`` list. Two items belong to the
same story when their published dates are within ``StorySettings.window`` of each other and their
texts are similar enough. The bar is lower when one item lists the other as related
(``linked=True``), but those lists also hold merely nearby news, so the text still decides. Stories
are the connected components of that relation (single link), with a guard on a story's date span
against chains of day-by-day coverage. ``docs/stories.md`` explains the numbers.

Similarity blends two *weighted overlap coefficients*,
``overlap(A, B) = w(A & B) / max(min(w(A), w(B)), min_mass)``: one over the title tokens and one
over all tokens (title and excerpt, so title words count in both parts and weigh more than excerpt
words). ``w`` sums token weights: 1.0 for an ordinary token, ``generic_weight`` for a corpus-generic
word (``text.GENERIC``: "azure", "microsoft", "update", ...), or a caller's IDF-style weight. The
overlap coefficient is robust to very different lengths; ``min_mass`` keeps a two-word title from
reaching 1.0 on a single shared word. ``same_story`` also requires shared *distinctive*
(non-generic) tokens and, unless the titles agree on most of their distinctive words, a minimum
overlap of all tokens, so that shared generic vocabulary or a shared topic phrase in the titles
("Clearview AI facial recognition") cannot join two events on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.text import GENERIC, tokenize

__all__ = [
    "LeadCandidate",
    "StoryDoc",
    "StorySettings",
    "choose_lead",
    "group",
    "query_tokens",
    "same_story",
    "shared_distinctive",
    "similarity",
    "span_ok",
    "title_agreement",
    "within_window",
]

Weight = Callable[[str], float]
"""Token weight, e.g. ``lambda t: math.log(n_docs / (1 + df[t]))``; replaces the generic rule."""


@dataclass(frozen=True, slots=True)
class StorySettings:
    """Thresholds of ``same_story``, tuned on the seeds and on hand-labelled pairs of the corpus.

    - ``window``: largest gap between two known published dates (3 days: coverage of one event
      comes within a day or two; a wider window mostly adds follow-up events).
    - ``linked_threshold`` / ``unlinked_threshold``: minimum ``similarity`` for a pair where one
      item lists the other as related / for a pair found by search only.
    - ``linked_min_shared`` / ``unlinked_min_shared``: minimum number of shared distinctive
      (non-generic) tokens over title and excerpt. An unlinked pair must also share a distinctive
      title token.
    - ``min_full_overlap`` / ``min_title_agreement``: a pair whose overlap of all tokens is below
      ``min_full_overlap`` needs titles that agree on most of their distinctive words (Dice
      coefficient of the distinctive title tokens at least ``min_title_agreement``): a title
      that adds several distinctive words the other lacks ("... to identify dead Russian
      soldiers" against "Clearview AI unveils version 2.0 of its facial recognition software")
      needs support from the excerpts.
    - ``title_weight``: share of the title overlap in ``similarity``; the rest is the overlap of
      all tokens, titles included.
    - ``generic_weight``: weight of a ``text.GENERIC`` word when no weight function is given.
    - ``min_mass``: smallest denominator of an overlap coefficient, in weight units.
    - ``max_span``: no story grows to cover more than this between its earliest and latest
      published dates (``span_ok``); ``None`` disables the guard.
    """

    window: timedelta = timedelta(days=3)
    linked_threshold: float = 0.40
    unlinked_threshold: float = 0.48
    linked_min_shared: int = 1
    unlinked_min_shared: int = 2
    min_full_overlap: float = 0.25
    min_title_agreement: float = 0.6
    title_weight: float = 0.4
    generic_weight: float = 0.25
    min_mass: float = 3.0
    max_span: timedelta | None = timedelta(days=7)


DEFAULT_SETTINGS = StorySettings()


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """The text and date of one item, tokenised once (``tokens`` includes ``title_tokens``)."""

    title: str
    excerpt: str | None
    published_at: datetime | None
    title_tokens: frozenset[str]
    tokens: frozenset[str]
    # How many tokens are generic, cached for ``similarity`` (computed, not passed).
    title_generic: int = field(init=False, repr=False, compare=False)
    generic: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "title_generic", len(self.title_tokens & GENERIC))
        object.__setattr__(self, "generic", len(self.tokens & GENERIC))

    @classmethod
    def of(cls, title: str, excerpt: str | None, published_at: datetime | None) -> StoryDoc:
        title_tokens = frozenset(tokenize(title))
        return cls(
            title=title,
            excerpt=excerpt,
            published_at=published_at,
            title_tokens=title_tokens,
            tokens=title_tokens.union(tokenize(excerpt)),
        )


def _overlap(
    a: frozenset[str],
    a_generic: int,
    b: frozenset[str],
    b_generic: int,
    *,
    weight: Weight | None,
    settings: StorySettings,
) -> float:
    common = a & b
    if not common:
        return 0.0
    if weight is not None:
        shared = sum(map(weight, common))
        smaller = min(sum(map(weight, a)), sum(map(weight, b)))
    else:
        discount = 1.0 - settings.generic_weight
        shared = len(common) - len(common & GENERIC) * discount
        smaller = min(len(a) - a_generic * discount, len(b) - b_generic * discount)
    return min(shared / max(smaller, settings.min_mass), 1.0)


def _parts(
    a: StoryDoc, b: StoryDoc, weight: Weight | None, settings: StorySettings
) -> tuple[float, float]:
    """(title overlap, overlap of all tokens)."""
    title = _overlap(
        a.title_tokens,
        a.title_generic,
        b.title_tokens,
        b.title_generic,
        weight=weight,
        settings=settings,
    )
    full = _overlap(a.tokens, a.generic, b.tokens, b.generic, weight=weight, settings=settings)
    return title, full


def similarity(
    a: StoryDoc,
    b: StoryDoc,
    weight: Weight | None = None,
    settings: StorySettings = DEFAULT_SETTINGS,
) -> float:
    """Text similarity in [0, 1]: ``title_weight * title overlap + rest * overlap of all tokens``.

    Symmetric; 0.0 when either side has no tokens; 1.0 for identical texts of three or more
    ordinary tokens.
    """
    title, full = _parts(a, b, weight, settings)
    tw = settings.title_weight
    return tw * title + (1.0 - tw) * full


def shared_distinctive(a: frozenset[str], b: frozenset[str]) -> int:
    """How many tokens ``a`` and ``b`` share that are not corpus-generic (``text.GENERIC``)."""
    return len((a & b) - GENERIC)


def title_agreement(a: StoryDoc, b: StoryDoc) -> float:
    """Dice coefficient of the two titles' distinctive (non-generic) tokens, in [0, 1]."""
    da, db = a.title_tokens - GENERIC, b.title_tokens - GENERIC
    if not da or not db:
        return 0.0
    return 2 * len(da & db) / (len(da) + len(db))


def within_window(a: StoryDoc, b: StoryDoc, settings: StorySettings = DEFAULT_SETTINGS) -> bool:
    """False only when both dates are known and further apart than ``settings.window``."""
    if a.published_at is None or b.published_at is None:
        return True
    return abs(a.published_at - b.published_at) <= settings.window


def same_story(
    a: StoryDoc,
    b: StoryDoc,
    *,
    linked: bool,
    settings: StorySettings = DEFAULT_SETTINGS,
    weight: Weight | None = None,
) -> bool:
    """Whether ``a`` and ``b`` report the same event (``linked``: one lists the other as related).

    All of: dates within ``window`` (unknown dates pass); at least ``*_min_shared`` distinctive
    tokens in common (unlinked: one of them in both titles); overlap of all tokens at least
    ``min_full_overlap`` or else ``title_agreement`` at least ``min_title_agreement``;
    ``similarity`` at least ``*_threshold``.
    """
    if not within_window(a, b, settings):
        return False
    if linked:
        min_shared, threshold = settings.linked_min_shared, settings.linked_threshold
    else:
        if not shared_distinctive(a.title_tokens, b.title_tokens):
            return False
        min_shared, threshold = settings.unlinked_min_shared, settings.unlinked_threshold
    if shared_distinctive(a.tokens, b.tokens) < min_shared:
        return False
    title, full = _parts(a, b, weight, settings)
    if full < settings.min_full_overlap and title_agreement(a, b) < settings.min_title_agreement:
        return False
    tw = settings.title_weight
    return tw * title + (1.0 - tw) * full >= threshold


def _search_form(token: str) -> str:
    # "-ies"/"-ied" fold to "-y" (identified -> identify): drop the "y" of long tokens so that,
    # used as a prefix, the term matches every spelling (identif* -> identify/-ied/-ies).
    return token[:-1] if len(token) >= 6 and token.endswith("y") else token


def query_tokens(doc: StoryDoc, k: int = 8, weight: Weight | None = None) -> list[str]:
    """The ``k`` most distinctive search terms of ``doc``, for a full-text OR-query of candidates.

    Distinctive title tokens first, then distinctive excerpt tokens; within each group by
    descending ``weight`` when given, else by descending length (long words tend to be rarer);
    ties alphabetical. Generic tokens are never returned: an unlinked pair must share a
    distinctive title token, so the query needs nothing else.

    Use each term as an FTS5 *prefix* query (``"term"*``): a token is a prefix of the words it
    stands for (``soldier`` -> soldiers, ``ukrain`` -> Ukraine/Ukrainian, ``identif`` ->
    identify/identified), so the terms work on the raw title and excerpt as well as on a column
    filled with ``text.index_text``. Synonym folds are the exception (``troops`` searches as
    ``soldier``); ``same_story`` still decides on the folded tokens.
    """
    if k <= 0:
        return []

    def key(t: str) -> tuple[float, str]:
        return (-(weight(t) if weight is not None else len(t)), t)

    title = sorted(doc.title_tokens - GENERIC, key=key)
    rest = sorted(doc.tokens - doc.title_tokens - GENERIC, key=key)
    terms: list[str] = []
    for token in title + rest:
        term = _search_form(token)
        if term not in terms:
            terms.append(term)
            if len(terms) == k:
                break
    return terms


def _min_date(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _max_date(a: datetime | None, b: datetime | None) -> datetime | None:
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
    """Whether two stories (each given by its earliest and latest published date) may merge.

    False when the merged story would span more than ``settings.max_span``. The storage layer
    checks it before every join or merge, as ``group`` does; a refused merge leaves both stories
    as they are (the pair still counts as similar, it just does not chain further).
    """
    if settings.max_span is None:
        return True
    lo = _min_date(first, other_first)
    hi = _max_date(last, other_last)
    return lo is None or hi is None or hi - lo <= settings.max_span


def group(
    docs: Sequence[StoryDoc],
    links: Iterable[tuple[int, int]] = (),
    settings: StorySettings = DEFAULT_SETTINGS,
    weight: Weight | None = None,
) -> list[list[int]]:
    """Reference batch grouping: single-link union of all pairs that are ``same_story``.

    ``links`` are index pairs where one item lists the other (compared with ``linked=True``);
    every other pair is compared unlinked. Pairs are merged linked first, then by descending
    similarity, each merge subject to ``span_ok``. Returns every group (singletons included) as a
    sorted index list, groups ordered by their first index. Quadratic: for tests and small batches.
    """
    n = len(docs)
    linked: set[tuple[int, int]] = set()
    for i, j in links:
        if not (0 <= i < n and 0 <= j < n):
            raise IndexError(f"link ({i}, {j}) out of range for {n} docs")
        if i != j:
            linked.add((min(i, j), max(i, j)))
    pairs: list[tuple[bool, float, int, int]] = []
    for i in range(n):
        for j in range(i + 1, n):
            is_linked = (i, j) in linked
            if same_story(docs[i], docs[j], linked=is_linked, settings=settings, weight=weight):
                sim = similarity(docs[i], docs[j], weight, settings)
                pairs.append((not is_linked, -sim, i, j))
    pairs.sort()

    parent = list(range(n))
    first = [d.published_at for d in docs]
    last = list(first)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for _, _, i, j in pairs:
        ri, rj = find(i), find(j)
        if ri == rj or not span_ok(first[ri], last[ri], first[rj], last[rj], settings):
            continue
        root, child = min(ri, rj), max(ri, rj)
        parent[child] = root
        first[root] = _min_date(first[ri], first[rj])
        last[root] = _max_date(last[ri], last[rj])

    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values())


@dataclass(frozen=True, slots=True)
class LeadCandidate:
    """What ``choose_lead`` needs to know about one member of a story."""

    file_backed: bool
    quality: int | None
    published_at: datetime | None


def choose_lead(candidates: Sequence[LeadCandidate]) -> int:
    """Index of a story's lead item.

    Preference: an article file over a related-only item (a file carries the full record:
    topics, images, heat); then higher ``quality`` (unknown counts lowest); then the earlier
    published (the first report; unknown dates last); then the lower index, so the choice is
    deterministic.
    """
    if not candidates:
        raise ValueError("choose_lead needs at least one candidate")

    def key(i: int) -> tuple[bool, int, bool, float, int]:
        c = candidates[i]
        quality = c.quality if c.quality is not None else -1
        ts = c.published_at.timestamp() if c.published_at is not None else 0.0
        return (not c.file_backed, -quality, c.published_at is None, ts, i)

    return min(range(len(candidates)), key=key)
