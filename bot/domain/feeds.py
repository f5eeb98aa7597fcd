"""Feeds in the domain: the stored view of a feed, and the polling rules (pure): given a
feed's state and a fetch outcome, its next state.

States: ``active`` (fetched on its interval), ``failing`` (the last fetches failed: retried with
exponential back-off, capped at 24 h), ``paused`` (failing for 7 days: no longer fetched until an
admin polls it by id or re-adds it), ``retired`` (the server answered 410 Gone). A 429 or 503 with
``Retry-After`` is not fetched again before that time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from bot.domain.models import Article

MAX_BACKOFF = 24 * 3600
PAUSE_AFTER = 7 * 24 * 3600
MIN_BACKOFF = 60

ACTIVE, FAILING, PAUSED, RETIRED = "active", "failing", "paused", "retired"
STATES = (ACTIVE, FAILING, PAUSED, RETIRED)


class FeedEntry(NamedTuple):
    """One usable feed entry: its identity in the feed (guid, else canonical link), the article."""

    guid: str
    article: Article


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed source as stored, with its polling state (times are aware UTC datetimes)."""

    id: int
    url: str
    name: str | None
    topics: tuple[str, ...]
    every_minutes: float | None  # None: the configured default
    origin: str  # 'user' (added by a command) or 'config' ([[feeds.sources]])
    state: str
    etag: str | None
    last_modified: str | None
    title: str | None
    site_url: str | None
    last_fetch_at: datetime | None
    last_status: int | None
    last_ok_at: datetime | None
    last_items: int | None
    next_fetch_at: datetime | None
    error_streak: int
    failing_since: datetime | None
    last_error: str | None
    backlog_done: bool
    created_at: datetime

    @property
    def label(self) -> str:
        return self.name or self.title or self.url

    def poll_state(self) -> PollState:
        return PollState(
            self.state,
            self.error_streak,
            None if self.failing_since is None else int(self.failing_since.timestamp()),
            self.last_error,
            None if self.next_fetch_at is None else int(self.next_fetch_at.timestamp()),
        )


@dataclass(frozen=True, slots=True)
class PollState:
    state: str = ACTIVE
    error_streak: int = 0
    failing_since: int | None = None
    last_error: str | None = None
    next_fetch_at: int | None = None  # None: due now (or never, when paused or retired)


def backoff(streak: int, every_seconds: int) -> int:
    """Delay after the ``streak``-th failure in a row: the interval doubled per failure."""
    base = max(MIN_BACKOFF, every_seconds)
    return min(MAX_BACKOFF, base * 2 ** min(max(streak - 1, 0), 20))


def after_success(state: PollState, now: int, every_seconds: int) -> PollState:
    return PollState(ACTIVE, 0, None, None, now + every_seconds)


def after_failure(
    state: PollState,
    now: int,
    every_seconds: int,
    error: str,
    *,
    gone: bool = False,
    retry_after: int | None = None,
) -> PollState:
    if gone:
        return PollState(RETIRED, state.error_streak + 1, state.failing_since or now, error, None)
    streak = state.error_streak + 1
    since = state.failing_since if state.failing_since is not None else now
    if now - since >= PAUSE_AFTER:
        reason = f"paused after {(now - since) // 86400} days of failures; last error: {error}"
        return PollState(PAUSED, streak, since, reason, None)
    delay = backoff(streak, every_seconds)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF))
    return replace(
        state,
        state=FAILING,
        error_streak=streak,
        failing_since=since,
        last_error=error,
        next_fetch_at=now + delay,
    )
