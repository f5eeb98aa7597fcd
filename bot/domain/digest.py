"""Daily digests, pure: subscriptions, their local-time schedule, story selection, message plans.

No I/O and no clock: every function that needs the time takes ``now``. All instants are aware
datetimes; a subscription's time of day is local wall-clock time in an IANA zone (``zoneinfo``).

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, available_timezones

from bot.domain.digest_messages import (
    EmbedSpec,
    MessagePlan,
    header_text,
    plan_messages,
    story_embed,
)
from bot.domain.ranking import story_score
from bot.domain.views import StoryRow

FIRST_WINDOW = timedelta(hours=24)
PUBLISH_LAG = timedelta(hours=24)
MAX_LOOKBACK = timedelta(days=7)
INGEST_SETTLE = timedelta(minutes=10)  # windows overlap by this much (see digest_window)
MAX_STORIES = 25
MAX_TOPICS = 10
MAX_KEYWORDS = 10
MAX_KEYWORD_LEN = 60
MAX_NAME_LEN = 80


class DigestInputError(ValueError):
    """Invalid subscription input; the message is safe to show to a user."""


class SubscriptionState(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"  # the last run failed (403); retried at the next run
    PAUSED = "paused"  # 404 or 3 failing days in a row; resumes when edited


class RunStatus(StrEnum):
    PLANNED = "planned"  # intent recorded, nothing posted yet
    SENDING = "sending"  # some messages posted (their ids are in the ledger)
    SENT = "sent"
    EMPTY = "empty"  # nothing new; recorded (and a short note posted if configured)
    SKIPPED = "skipped"  # missed by more than the grace period
    FAILED = "failed"


OPEN_STATUSES = (RunStatus.PLANNED, RunStatus.SENDING)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    guild_id: int
    channel_id: int
    name: str
    time: time  # local wall-clock time, minutes precision
    timezone: str  # IANA name
    topics: tuple[str, ...] = ()
    min_quality: int | None = None
    max_stories: int = 10
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    state: SubscriptionState = SubscriptionState.ACTIVE
    failure_streak: int = 0  # consecutive failing days
    last_failed_date: date | None = None
    last_error: str | None = None
    last_run_at: datetime | None = None
    last_outcome: str | None = None
    created_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def time_text(self) -> str:
        return f"{self.time.hour:02d}:{self.time.minute:02d}"


# -- validation ----------------------------------------------------------------------------------
_HHMM = re.compile(r"^\s*(\d{1,2})[:.h](\d{2})\s*$")


def parse_time(text: str) -> time:
    """``"HH:MM"`` (24 h; ``7:05``, ``07.05`` and ``07h05`` also accepted) into a ``time``."""
    match = _HHMM.match(text or "")
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise DigestInputError(
            f"“{(text or '')[:20]}” is not a time: use 24-hour HH:MM, e.g. 08:30"
        )
    return time(int(match[1]), int(match[2]))


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def parse_timezone(text: str) -> str:
    """A canonical IANA zone name (case-insensitive input), e.g. ``europe/london``."""
    name = _zone_names().get((text or "").strip().casefold())
    if name is None:
        raise DigestInputError(
            f"“{(text or '')[:60]}” is not a time zone: pick an IANA name such as Europe/London."
        )
    return name


def timezone_choices(text: str, limit: int = 25) -> list[str]:
    """Zone names for autocomplete: name or city prefix matches first, then names containing it."""
    key = (text or "").strip().casefold().replace(" ", "_")
    names = sorted(n for n in _zone_names().values() if "/" in n or n == "UTC")
    if not key:
        return names[:limit]

    def rank(name: str) -> int:
        low = name.casefold()
        if low.startswith(key):
            return 0
        return 1 if low.rsplit("/", 1)[-1].startswith(key) else 2

    found = [n for n in names if key in n.casefold()]
    return sorted(found, key=lambda n: (rank(n), n))[:limit]


def split_list(text: str | Iterable[str] | None) -> list[str]:
    """Comma-separated text (or an iterable) into stripped, non-empty parts, first seen first."""
    parts = text.split(",") if isinstance(text, str) else list(text or ())
    out: list[str] = []
    seen: set[str] = set()
    for part in parts:
        clean = " ".join(part.split())
        if clean and clean.casefold() not in seen:
            seen.add(clean.casefold())
            out.append(clean)
    return out


def parse_keywords(text: str | Iterable[str] | None, what: str = "keywords") -> tuple[str, ...]:
    words = split_list(text)
    if len(words) > MAX_KEYWORDS:
        raise DigestInputError(f"At most {MAX_KEYWORDS} {what}, comma-separated.")
    for word in words:
        if len(word) > MAX_KEYWORD_LEN:
            raise DigestInputError(
                f"{what.capitalize()}: at most {MAX_KEYWORD_LEN} characters each."
            )
    return tuple(w.casefold() for w in words)


def check_topics(topics: str | Iterable[str] | None) -> tuple[str, ...]:
    names = split_list(topics)
    if len(names) > MAX_TOPICS:
        raise DigestInputError(f"At most {MAX_TOPICS} topics, comma-separated.")
    return tuple(names)


def check_limits(min_quality: int | None, max_stories: int) -> None:
    if min_quality is not None and not 0 <= min_quality <= 1000:
        raise DigestInputError("min_quality must be between 0 and 1000.")
    if not 1 <= max_stories <= MAX_STORIES:
        raise DigestInputError(f"max_stories must be between 1 and {MAX_STORIES}.")


def check_name(name: str) -> str:
    clean = " ".join((name or "").split())
    if not clean:
        raise DigestInputError("The digest needs a name.")
    return clean[:MAX_NAME_LEN]


# -- schedule ------------------------------------------------------------------------------------
def fire_time(local_date: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of the digest for ``local_date``.

    A time that does not exist that day (spring forward) runs at the first valid instant after it,
    the end of the gap; an ambiguous time (autumn) runs once, at its first occurrence.
    """
    naive = datetime.combine(local_date, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists (ambiguous times: fold=0 is the first occurrence)
    # In a gap, fold=1 reads the wall time with the offset after the transition, which gives an
    # instant before the transition; the transition itself is the first valid instant after.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(before, first), max(before, first)
    while hi - lo > timedelta(seconds=1):  # the transition instant, to the second
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) < naive:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def local_date_for(run_at: datetime, zone: ZoneInfo) -> date:
    """The local date a run at ``run_at`` (a scheduled fire instant) belongs to."""
    return run_at.astimezone(zone).date()


def next_fire(at: time, zone: ZoneInfo, start: datetime) -> datetime:
    """The earliest fire instant at or after ``start``."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        when = fire_time(day, at, zone)
        if when >= start:
            return when
        day += timedelta(days=1)


def previous_fire(at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest fire instant at or before ``now``."""
    day = now.astimezone(zone).date() + timedelta(days=1)
    while True:
        when = fire_time(day, at, zone)
        if when <= now:
            return when
        day -= timedelta(days=1)


# -- selection -----------------------------------------------------------------------------------
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


# -- plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DigestPlan:
    subscription: Subscription
    local_date: date
    window: Window
    stories: tuple[Candidate, ...]
    messages: tuple[MessagePlan, ...] = field(default=())

    @property
    def story_ids(self) -> tuple[int, ...]:
        return tuple(c.story.id for c in self.stories)

    @property
    def channel_id(self) -> int:
        return self.subscription.channel_id


def build_plan(
    sub: Subscription,
    local_date: date,
    window: Window,
    stories: Sequence[Candidate],
    *,
    post_when_empty: bool,
    color: int | None = None,
    embeds: Sequence[EmbedSpec] | None = None,
) -> DigestPlan:
    """The messages of one digest; none when there is nothing new and no note is wanted.
    ``embeds`` (one per story, as :func:`story_embed` makes them) may be passed in precomputed."""
    header = header_text(sub.name, local_date, len(stories))
    if stories:
        if embeds is None:
            embeds = [story_embed(c.story, c.providers, color) for c in stories]
        messages = plan_messages(header, embeds, [c.story.id for c in stories])
    elif post_when_empty:
        messages = (MessagePlan(header),)
    else:
        messages = ()
    return DigestPlan(sub, local_date, window, tuple(stories), messages)


@dataclass(frozen=True, slots=True)
class DigestRun:
    """One ledger row: a digest's intent, its message plan and the messages already sent."""

    id: int
    subscription_id: int
    local_date: date
    kind: str  # "scheduled" or "manual"
    channel_id: int
    scheduled_for: datetime
    window: Window
    status: RunStatus
    story_ids: tuple[int, ...]
    messages: tuple[MessagePlan, ...]
    sent_message_ids: tuple[int, ...]  # by position; always a prefix of ``messages``
    error: str | None = None
    updated_at: datetime | None = None

    @property
    def remaining(self) -> tuple[int, ...]:
        """Positions of the messages still to send."""
        return tuple(range(len(self.sent_message_ids), len(self.messages)))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
