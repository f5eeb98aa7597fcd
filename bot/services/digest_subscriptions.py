"""Digest subscriptions, the service half that manages them: create, list, edit, remove, status.

:class:`DigestSubscriptions` validates what users type (``domain.digest``), keeps the per-guild cap,
stores subscriptions and tells listeners (the scheduler) of every change. :class:`DigestService`
(``services.digest``) builds on it to run and deliver the digests. No Discord types.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from bot.config import DigestConfig
from bot.domain import digest as d
from bot.domain.digest import DigestRun, Subscription, SubscriptionState
from bot.services.digest_delivery import Listener
from bot.services.errors import HINT_DIGESTS, BadInput, LimitReached, NotFound
from bot.storage.db import Database
from bot.storage.digest_ledger import SubscriptionRepository

md = d.md_text

# The service's logger, as before the split (log settings, bench/digest.py, name it).
log = logging.getLogger("bot.services.digest")

T = TypeVar("T")


# -- errors --------------------------------------------------------------------------------------
class InvalidDigestInput(BadInput):
    pass


class SubscriptionNotFound(NotFound):
    pass


class TooManySubscriptions(LimitReached):
    pass


class DuplicateSubscription(BadInput):
    pass


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    subscription: Subscription
    next_run: datetime | None  # None when paused
    last_run: DigestRun | None


def _user_input(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except d.DigestInputError as exc:
        raise InvalidDigestInput(str(exc)) from None


class DigestSubscriptions:
    """The subscriptions of :class:`DigestService`: validated, capped per guild, and announced
    to listeners after each change."""

    def __init__(
        self,
        db: Database,
        config: DigestConfig,
        *,
        topic_name: Callable[[str], Awaitable[str]] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.subs = SubscriptionRepository(db)
        self.config = config
        self.topic_name = topic_name
        self.clock = clock
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """``listener(subscription_id, subscription or None when deleted)`` after each change."""
        self._listeners.append(listener)

    def _changed(self, sub_id: int, sub: Subscription | None) -> None:
        for listener in self._listeners:
            listener(sub_id, sub)

    # -- subscriptions --------------------------------------------------------------------------
    async def _topics(self, text: str | Sequence[str] | None) -> tuple[str, ...]:
        names = _user_input(lambda: d.check_topics(text))
        if self.topic_name is None:
            return names
        return tuple([await self.topic_name(n) for n in names])

    async def subscribe(
        self,
        *,
        guild_id: int,
        channel_id: int,
        time: str,
        timezone: str,
        name: str | None = None,
        topics: str | Sequence[str] | None = None,
        min_quality: int | None = None,
        max_stories: int | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
    ) -> Subscription:
        # 0 is refused (1..25), never silently replaced by the default
        max_stories = self.config.default_max_stories if max_stories is None else max_stories
        topic_names = await self._topics(topics)

        def build() -> Subscription:
            d.check_limits(min_quality, max_stories)
            default = f"{', '.join(topic_names)} digest" if topic_names else "Daily digest"
            return Subscription(
                id=0,
                guild_id=guild_id,
                channel_id=channel_id,
                name=d.check_name(name or default),
                time=d.parse_time(time),
                timezone=d.parse_timezone(timezone),
                topics=topic_names,
                min_quality=min_quality,
                max_stories=max_stories,
                include=d.parse_keywords(include, "include keywords"),
                exclude=d.parse_keywords(exclude, "exclude keywords"),
            )

        draft = _user_input(build)
        cap = self.config.max_subscriptions_per_guild
        sub, same = await self.subs.insert_unique(draft, self.clock(), cap)
        if same is not None:
            raise DuplicateSubscription(
                f"Digest #{same.id} ({md(same.name, 100)}) already posts exactly this in "
                f"<#{same.channel_id}> at {same.time_text} {same.timezone}; nothing was added. "
                "Change it with /digest edit, or pick another time, channel or filter."
            )
        if sub is None:
            raise TooManySubscriptions(
                f"This server already has {cap} digests, the most allowed. Remove one first."
            )
        log.info("digest %d created in guild %d channel %d", sub.id, guild_id, channel_id)
        self._changed(sub.id, sub)
        return sub

    async def subscriptions(self, guild_id: int) -> list[Subscription]:
        return await self.subs.of_guild(guild_id)

    async def all_subscriptions(self) -> list[Subscription]:
        return await self.subs.of_guild(None)

    async def get(self, guild_id: int, sub_id: int) -> Subscription:
        sub = await self.subs.get(sub_id)
        if sub is None or sub.guild_id != guild_id:
            raise SubscriptionNotFound(f"No digest #{sub_id} in this server.", hint=HINT_DIGESTS)
        return sub

    async def edit(
        self,
        guild_id: int,
        sub_id: int,
        *,
        channel_id: int | None = None,
        time: str | None = None,
        timezone: str | None = None,
        name: str | None = None,
        topics: str | Sequence[str] | None = None,
        min_quality: int | None = None,
        max_stories: int | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
    ) -> Subscription:
        """Change what is given (an empty text clears topics or keywords; ``min_quality=0``
        clears it). Editing resumes a failing or paused digest."""
        sub = await self.get(guild_id, sub_id)
        topic_names = sub.topics if topics is None else await self._topics(topics)

        def build() -> Subscription:
            new = replace(
                sub,
                channel_id=channel_id or sub.channel_id,
                time=d.parse_time(time) if time is not None else sub.time,
                timezone=d.parse_timezone(timezone) if timezone is not None else sub.timezone,
                name=d.check_name(name) if name is not None else sub.name,
                topics=topic_names,
                min_quality=sub.min_quality if min_quality is None else (min_quality or None),
                max_stories=sub.max_stories if max_stories is None else max_stories,
                include=sub.include if include is None else d.parse_keywords(include, "include"),
                exclude=sub.exclude if exclude is None else d.parse_keywords(exclude, "exclude"),
                state=SubscriptionState.ACTIVE,
                failure_streak=0,
                last_error=None,
            )
            d.check_limits(new.min_quality, new.max_stories)
            return new

        new = _user_input(build)
        same = await self.subs.same_as(new)
        if same is not None:
            raise DuplicateSubscription(
                f"Digest #{same.id} ({md(same.name, 100)}) already posts exactly this in "
                f"<#{same.channel_id}> at {same.time_text} {same.timezone}; #{sub.id} was not "
                "changed."
            )
        await self.subs.update(new, self.clock())
        self._changed(new.id, new)
        return new

    async def unsubscribe(self, guild_id: int, sub_id: int) -> Subscription:
        sub = await self.get(guild_id, sub_id)
        await self.subs.delete(sub_id)
        log.info("digest %d removed from guild %d channel %d", sub_id, guild_id, sub.channel_id)
        self._changed(sub_id, None)
        return sub

    async def status(self, guild_id: int) -> list[SubscriptionStatus]:
        now = self.clock()
        subs = await self.subscriptions(guild_id)
        runs = await self.subs.latest_runs([s.id for s in subs])
        return [
            SubscriptionStatus(
                s,
                None
                if s.state is SubscriptionState.PAUSED
                else d.next_fire(s.time, s.zone, now + timedelta(microseconds=1)),
                runs.get(s.id),
            )
            for s in subs
        ]
