"""Story ranking: one score from quality, the source's heat, breadth of coverage and age.

Pure: ``now`` is an argument. See ``story_score`` and ``docs/stories.md``.

Because the age decay is exponential, ``log(story_score)`` is ``log(base)`` minus a term linear in
``now``: ``rank_key`` stores the part that does not depend on ``now``, so that stored stories can
be ordered in SQL (``ORDER BY rank_key DESC`` is the order by ``story_score`` at any ``now``), and
``score_from_key`` turns a key back into the score at a given ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RankingSettings", "rank_key", "score_from_key", "story_score"]


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """Weights and scales of ``story_score``.

    - ``quality_scale`` / ``quality_cap``: quality (0-190 in the corpus, median 67, p90 104) is
      clamped to ``[0, quality_cap]`` and divided by ``quality_scale``: median ~0.67, p90 ~1.04.
    - ``heat_cap``: heat counts on a log scale, ``log1p(heat) / log1p(heat_cap)``, capped at 1:
      the publish bar 70 gives ~0.62, the median 84 ~0.64, 1,000 and above 1.0. Heat -1 or
      ``None`` means unscored and counts 0 (most items are unscored).
    - ``breadth_cap``: distinct providers count as ``log2(providers) / log2(breadth_cap)``,
      capped at 1: one outlet 0, two 0.25, four 0.5, eight 0.75, sixteen or more 1.0.
    - ``*_weight``: the weight of each part; ``floor`` is added so that a story with no signal
      at all still ranks by age.
    - ``half_life``: the score halves for every ``half_life`` since the story's latest item.
    """

    quality_weight: float = 1.0
    heat_weight: float = 1.0
    breadth_weight: float = 1.0
    floor: float = 0.1
    quality_scale: float = 100.0
    quality_cap: int = 200
    heat_cap: int = 1000
    breadth_cap: int = 16
    half_life: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.half_life <= timedelta(0):
            raise ValueError("half_life must be positive")
        if self.heat_cap < 1 or self.breadth_cap < 2 or self.quality_scale <= 0:
            raise ValueError("heat_cap >= 1, breadth_cap >= 2 and quality_scale > 0 required")
        if min(self.floor, self.quality_weight, self.heat_weight, self.breadth_weight) < 0:
            raise ValueError("floor and weights cannot be negative")


DEFAULT_RANKING = RankingSettings()


def _base(
    best_quality: int | None, max_heat: int | None, providers: int, s: RankingSettings
) -> float:
    return (
        s.floor
        + s.quality_weight * _quality_part(best_quality, s)
        + s.heat_weight * _heat_part(max_heat, s)
        + s.breadth_weight * _breadth_part(providers, s)
    )


def _quality_part(quality: int | None, s: RankingSettings) -> float:
    if quality is None:
        return 0.0
    return min(max(quality, 0), s.quality_cap) / s.quality_scale


def _heat_part(heat: int | None, s: RankingSettings) -> float:
    if heat is None or heat <= 0:
        return 0.0
    return min(math.log1p(heat) / math.log1p(s.heat_cap), 1.0)


def _breadth_part(providers: int, s: RankingSettings) -> float:
    if providers <= 1:
        return 0.0
    return min(math.log2(providers) / math.log2(s.breadth_cap), 1.0)


def story_score(
    *,
    best_quality: int | None,
    max_heat: int | None,
    providers: int,
    latest_at: datetime,
    now: datetime,
    settings: RankingSettings = DEFAULT_RANKING,
) -> float:
    """Rank score of a story (higher first)::

        base  = floor
              + quality_weight * min(max(best_quality, 0), quality_cap) / quality_scale
              + heat_weight    * min(log1p(max_heat) / log1p(heat_cap), 1)      (0 if unscored)
              + breadth_weight * min(log2(providers) / log2(breadth_cap), 1)    (0 for one)
        age   = max(now - latest_at, 0)                                      (future dates: 0)
        score = base * 0.5 ** (age / half_life)

    ``best_quality``: the highest quality among the story's items (``None``: unknown, counts 0);
    ``max_heat``: the highest heat among its article files (-1 or ``None``: unscored);
    ``providers``: distinct providers; ``latest_at``: its newest published date. The score is
    non-decreasing in quality, heat and providers, non-increasing in age, and always positive.
    With the defaults a typical story (quality 67, unscored, one outlet, just published) scores
    0.77; five outlets add 0.58; heat 200 adds 0.77.
    """
    base = _base(best_quality, max_heat, providers, settings)
    age = max(now - latest_at, timedelta(0))
    return base * 0.5 ** (age / settings.half_life)


def _seconds(t: datetime | float) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def rank_key(
    *,
    best_quality: int | None,
    max_heat: int | None,
    providers: int,
    latest_at: datetime | float | None,
    settings: RankingSettings = DEFAULT_RANKING,
    now: datetime | float | None = None,
) -> float:
    """Time-invariant ordering key: ``log(base) + ln 2 * latest_at / half_life`` (in seconds).

    ``latest_at`` is an aware datetime or Unix seconds; ``None`` counts as the Unix epoch (the
    story ranks after every dated one). With ``now``, a future ``latest_at`` is first clamped to
    ``now``. ``score_from_key(rank_key(...), now=t)`` equals ``story_score(..., now=t)`` whenever
    ``latest_at <= t``; a larger key always means a higher score at the same ``now``.
    """
    base = _base(best_quality, max_heat, providers, settings)
    latest = 0.0 if latest_at is None else _seconds(latest_at)
    if now is not None:
        latest = min(latest, _seconds(now))
    return math.log(max(base, 1e-300)) + math.log(2) * latest / settings.half_life.total_seconds()


def score_from_key(
    key: float, *, now: datetime | float, settings: RankingSettings = DEFAULT_RANKING
) -> float:
    """The ``story_score`` at ``now`` of a story whose ``rank_key`` is ``key``.

    Ages are not clamped here: for a story dated after ``now`` the result exceeds its base
    score (compute the key with ``now`` to clamp at that time).
    """
    exponent = key - math.log(2) * _seconds(now) / settings.half_life.total_seconds()
    return math.exp(min(exponent, 700.0))
