"""Digest story selection, pure: the window of a digest and the stories it keeps.

No I/O and no clock: every function that needs the time takes ``now``. All instants are aware
datetimes.

Selection rule (see ``docs/digests.md``): with ``T`` the digest's run time and ``P`` the window end
of the subscription's previous delivered (or recorded-empty) digest, or 24 h before its first
attempted digest (``T - 24 h`` the first time), never earlier than ``T - 7 days``, a story is
*new* when

* some of its coverage was first seen (ingested) in ``(P, T]``: ``P < last_seen_at <= T``, and
* its newest coverage was published no earlier than ``P - 24 h``: ``last_published_at >= P - lag``,
  so a freshly ingested backlog of old articles is not news (stories never span more than a few
  days of publication dates, so an old article cannot join a current story).

It is then kept when its best quality is ``>= min_quality``, it has one of the subscription's topics
(any topic when none are set), one of its coverage items' title or excerpt contains an ``include``
keyword (when any are set) and none contains an ``exclude`` keyword (whole words, case-insensitive),
and it was not already sent to the channel (sent ids resolved through story merges by the caller).
Survivors are ranked by story score (ties: newer id first) and cut to ``max_stories``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.digest_subscription import Subscription
from bot.domain.ranking import story_score
from bot.domain.views import StoryRow

FIRST_WINDOW = timedelta(hours=24)
PUBLISH_LAG = timedelta(hours=24)
MAX_LOOKBACK = timedelta(days=7)
INGEST_SETTLE = timedelta(minutes=10)  # windows overlap by this much (see digest_window)


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime  # exclusive, on first-seen (ingest) time
    until: datetime  # inclusive
    published_since: datetime  # newest coverage published at or after this


def digest_window(
    previous_end: datetime | None, now: datetime, first_attempt: datetime | None = None
) -> Window:
    """The window of a digest built at ``now``: since the previous delivered digest's window end,
    else since 24 h before the first attempted one (so that a first digest that was skipped or
    failed does not lose its stories), never more than 7 days back.

    Consecutive windows overlap by ``INGEST_SETTLE``: an ingest batch stamps its items' first-seen
    time when it starts but commits later, so an item may become visible with a first-seen time
    just before the previous window's end. The overlap picks it up; the channel's sent list keeps
    anything from being posted twice."""
    if previous_end is not None:
        since = previous_end - INGEST_SETTLE
    else:
        since = min(first_attempt or now, now) - FIRST_WINDOW
    since = min(max(since, now - MAX_LOOKBACK), now)
    return Window(since, now, since - PUBLISH_LAG)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A story with what selection and rendering need beyond the stored row."""

    story: StoryRow
    score: float
    text: str = ""  # titles and excerpts of every visible coverage item, newline-separated
    providers: tuple[str, ...] = ()  # distinct outlets, best coverage first


def rank_score(story: StoryRow, now: datetime) -> float:
    """The story score (``domain.ranking.story_score``) of a stored story at ``now``."""
    latest = story.last_published_at or story.last_seen_at or now
    return story_score(
        best_quality=story.best_quality,
        max_heat=story.max_heat,
        providers=story.provider_count,
        latest_at=latest,
        now=now,
    )


def is_new(story: StoryRow, window: Window) -> bool:
    seen, published = story.last_seen_at, story.last_published_at
    return (
        seen is not None
        and window.since < seen <= window.until
        and published is not None
        and published >= window.published_since
    )


@functools.lru_cache(maxsize=1024)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Whole-word (or whole-phrase), case-insensitive match, allowing a plural ``s``/``es``;
    inner spaces match any whitespace."""
    body = r"\s+".join(re.escape(part) for part in keyword.split())
    return re.compile(rf"(?<!\w){body}(?:e?s)?(?!\w)", re.IGNORECASE)


def keywords_pass(text: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if exclude and any(keyword_pattern(k).search(text) for k in exclude):
        return False
    return not include or any(keyword_pattern(k).search(text) for k in include)


def wanted(candidate: Candidate, sub: Subscription) -> bool:
    return _wanted(candidate, sub, {t.casefold() for t in sub.topics})


def _wanted(candidate: Candidate, sub: Subscription, topic_keys: set[str]) -> bool:
    story = candidate.story
    if sub.min_quality is not None and (story.best_quality or 0) < sub.min_quality:
        return False
    if topic_keys and not any(t.casefold() in topic_keys for t in story.topics):
        return False
    return keywords_pass(candidate.text, sub.include, sub.exclude)


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first: higher score, then the newer story."""
    return sorted(candidates, key=lambda c: (-c.score, -c.story.id))


def select_stories(
    candidates: Iterable[Candidate],
    sub: Subscription,
    window: Window,
    sent: set[int],
    *,
    ranked: bool = False,
) -> list[Candidate]:
    """The digest's stories: new, wanted, not already sent to the channel; best first, at most
    ``max_stories``. With ``ranked=True`` the candidates are already in :func:`rank` order and
    the scan stops as soon as the digest is full."""
    topic_keys = {t.casefold() for t in sub.topics}
    chosen: list[Candidate] = []
    for c in candidates if ranked else rank(candidates):
        if c.story.id not in sent and is_new(c.story, window) and _wanted(c, sub, topic_keys):
            chosen.append(c)
            if len(chosen) >= sub.max_stories:
                break
    return chosen
