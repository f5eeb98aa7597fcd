"""The stories service: maintenance of the story grouping (``newsbot stories rebuild``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.domain.ranking import RankingSettings
from bot.domain.stories import StorySettings
from bot.storage.db import Database
from bot.storage.story_repo import Progress, RebuildReport, StoryRepository

log = logging.getLogger(__name__)


class StoryService:
    def __init__(
        self,
        db: Database,
        settings: StorySettings | None = None,
        ranking: RankingSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.stories = StoryRepository(db)
        self.settings = settings
        self.ranking = ranking
        self.clock = clock

    async def rebuild(self, progress: Progress | None = None) -> RebuildReport:
        """Regroup every stored item with the current settings, in one transaction."""
        return await self.stories.rebuild(int(self.clock()), progress, self.settings, self.ranking)


async def finish_pending_rebuild(stories: StoryRepository, now: int) -> RebuildReport | None:
    """Regroup the stories once when a migration asked for it (stories made by an older newsbot
    have no centroids, so new items could not join them). Called before anything is grouped;
    returns the report when it ran."""
    if not await stories.rebuild_pending():
        return None
    log.info("regrouping the stories once after an upgrade (newsbot stories rebuild) ...")
    report = await stories.rebuild(now)
    log.info(
        "stories regrouped: %d items, %d stories before, %d after",
        report.articles,
        report.stories_before,
        report.stories_after,
    )
    return report
