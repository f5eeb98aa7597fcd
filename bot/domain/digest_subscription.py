"""Digest subscriptions, pure: the model, its states, and the validation of what users type.

A subscription's time of day is local wall-clock time in an IANA zone (``zoneinfo``); when it
fires is ``digest_schedule``'s business, what it selects ``digest_selection``'s.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, available_timezones

MAX_STORIES = 25
MAX_TOPICS = 10
MAX_KEYWORDS = 10
MAX_KEYWORD_LEN = 60
MAX_NAME_LEN = 80
# Names zoneinfo knows that are not places: the host's own zone, and tzdata's placeholder.
NOT_ZONES = frozenset({"localtime", "Factory"})


def _echo(text: str | None, limit: int) -> str:
    """User input quoted back in an error: shortened, markdown escaped, mentions neutralised."""
    from bot.domain.digest_messages import md_text  # the one escaping rule of the digest domain

    return md_text(text, limit)


class DigestInputError(ValueError):
    """Invalid subscription input; the message is safe to show to a user."""


class SubscriptionState(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"  # the last run failed (403); retried at the next run
    PAUSED = "paused"  # 404 or 3 failing days in a row; resumes when edited


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
    updated_at: datetime | None = None  # last created or edited (not touched by run outcomes)

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
        raise DigestInputError(f"“{_echo(text, 20)}” is not a time: use 24-hour HH:MM, e.g. 08:30")
    return time(int(match[1]), int(match[2]))


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones() - NOT_ZONES}


def parse_timezone(text: str) -> str:
    """A canonical IANA zone name (case-insensitive input), e.g. ``europe/london``."""
    name = _zone_names().get((text or "").strip().casefold())
    if name is None:
        raise DigestInputError(
            f"“{_echo(text, 60)}” is not a time zone: pick an IANA name such as Europe/London."
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
