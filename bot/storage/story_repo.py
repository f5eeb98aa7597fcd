"""The stories repository: topics, stories and their coverage, digest-window candidates, and the
regrouping of every stored item (``newsbot stories rebuild``).

:class:`StoryRepository` methods are async and each is one transaction (or one read); the
synchronous functions they run live in ``queries``, ``story_rebuild`` and ``maintenance``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.ranking import RankingSettings
from bot.domain.stories import StorySettings
from bot.domain.views import CoverageItem, StoryRow, TopicCount
from bot.storage import maintenance
from bot.storage import queries as q
from bot.storage.db import Database
from bot.storage.story_rebuild import Progress, RebuildReport, rebuild_stories

__all__ = ["Progress", "RebuildReport", "StoryRepository"]


def _story_detail(conn, story_id: int, coverage_limit: int):
    current = q.resolve_story_id(conn, story_id)
    if current is None:
        return None
    row = q.story(conn, current)
    if row is None:
        return None
    return row, q.story_coverage(conn, current, coverage_limit)


def _window(conn, end: int, span: int, topic_ids, min_quality, limit):
    rows = q.stories_in_window(
        conn,
        since=end - span,
        until=end + 1,
        topic_ids=topic_ids,
        min_quality=min_quality,
        limit=limit,
    )
    if rows:
        return end, rows
    latest = q.latest_story_time(conn, until=end, topic_ids=topic_ids, min_quality=min_quality)
    if latest is None:
        return end, []
    return latest, q.stories_in_window(
        conn,
        since=latest - span,
        until=latest + 1,
        topic_ids=topic_ids,
        min_quality=min_quality,
        limit=limit,
    )


def _rebuild(conn, now, progress, settings, ranking) -> RebuildReport:
    return rebuild_stories(conn, now, progress, settings, ranking)


class StoryRepository:
    """Topics and stories. Every method is async; each is one transaction or read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- topics ---------------------------------------------------------------------------------
    async def topic_by_name(self, name: str) -> tuple[int, str] | None:
        """(id, display name) of the topic called ``name`` (case-insensitively)."""
        return await self._db.read(q.topic_by_name, name)

    async def topics(
        self, *, since: int | None, until: int | None, limit: int, offset: int
    ) -> list[TopicCount]:
        """Topics by article count, overall or among articles published in [since, until)."""
        return await self._db.read(
            lambda c: q.topics(c, since=since, until=until, limit=limit, offset=offset)
        )

    async def topic_names_like(self, text: str, limit: int) -> list[str]:
        """Topic names starting with ``text`` first, then containing it; most used first."""
        return await self._db.read(q.topic_names_like, text, limit)

    # -- stories --------------------------------------------------------------------------------
    async def stories(
        self,
        *,
        topic_id: int | None,
        min_quality: int | None,
        since: int | None,
        until: int | None,
        limit: int,
        offset: int,
    ) -> list[StoryRow]:
        """Live stories, best rank first, filtered by topic, quality and last publication."""
        return await self._db.read(
            lambda c: q.stories(
                c,
                topic_id=topic_id,
                min_quality=min_quality,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
        )

    async def story_detail(
        self, story_id: int, coverage_limit: int
    ) -> tuple[StoryRow, list[CoverageItem]] | None:
        """A story (following merges: an old id names the story it joined) and its coverage."""
        return await self._db.read(_story_detail, story_id, coverage_limit)

    async def stories_by_ids(self, story_ids: Sequence[int]) -> list[StoryRow]:
        """The live stories among ``story_ids`` (any order)."""
        return await self._db.read(q.stories_by_ids, list(story_ids))

    async def window_or_latest(
        self,
        *,
        end: int,
        span: int,
        topic_ids: Sequence[int] | None,
        min_quality: int | None,
        limit: int,
    ) -> tuple[int, list[StoryRow]]:
        """(end used, stories) of the window of ``span`` seconds ending at ``end``; when it has
        none, the most recent earlier window that has some (one consistent read)."""
        ids = list(topic_ids) if topic_ids else None
        return await self._db.read(_window, end, span, ids, min_quality, limit)

    # -- regrouping -----------------------------------------------------------------------------
    async def rebuild(
        self,
        now: int,
        progress: Progress | None = None,
        settings: StorySettings | None = None,
        ranking: RankingSettings | None = None,
    ) -> RebuildReport:
        """Regroup every stored item in one transaction, then clear a pending rebuild request."""
        report = await self._db.run(_rebuild, now, progress, settings, ranking)
        await self._db.run(maintenance.clear, maintenance.STORIES_REBUILD)
        return report

    async def rebuild_pending(self) -> bool:
        """Whether a migration asked for the stories to be regrouped."""
        return await self._db.run(maintenance.is_pending, maintenance.STORIES_REBUILD)
