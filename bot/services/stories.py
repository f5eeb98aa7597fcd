"""The stories service: maintenance of the story grouping (``newsbot stories rebuild``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.domain.ranking import RankingSettings
from bot.domain.stories import StorySettings
from bot.storage.db import Database
from bot.storage.story_rebuild import Progress, RebuildReport, rebuild_stories


class StoryService:
    def __init__(
        self,
        db: Database,
        settings: StorySettings | None = None,
        ranking: RankingSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self.ranking = ranking
        self.clock = clock

    async def rebuild(self, progress: Progress | None = None) -> RebuildReport:
        """Regroup every stored item with the current settings, in one transaction."""
        return await self.db.run(
            rebuild_stories, int(self.clock()), progress, self.settings, self.ranking
        )
