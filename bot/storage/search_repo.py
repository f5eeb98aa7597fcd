"""The search repository: full-text search over articles and the title autocomplete.

:class:`SearchRepository` methods are async and each is one read; the synchronous functions they
run live in ``search`` (and ``queries`` for the rows they return).
"""

from __future__ import annotations

from bot.domain.views import CoverageItem, StoryRow
from bot.storage import queries as q
from bot.storage import search as search_db
from bot.storage.db import Database

__all__ = ["SearchRepository"]


def _lookup_title(conn, ref: str) -> CoverageItem | None:
    matches = search_db.title_matches(conn, ref, 1)
    return q.article_by_id(conn, matches[0][0]) if matches else None


def _stories_matching(conn, text: str, limit: int) -> list[StoryRow]:
    pairs = search_db.title_matches(conn, text, limit)
    items = q.items_by_ids(conn, [i for i, _ in pairs])
    ids = sorted({it.story_id for it in items.values() if it.story_id is not None})
    return q.stories_by_ids(conn, ids)


class SearchRepository:
    """Full-text search. Every method is async and one read."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def searchable(text: str) -> bool:
        """Whether ``text`` has at least one word a search can use."""
        return bool(search_db.fts_terms(text))

    async def search(
        self, text: str, *, quality_weight: float, limit: int, offset: int
    ) -> list[tuple[CoverageItem, float]]:
        """Articles matching the words of ``text`` (any user text is safe), best first:
        relevance blended with quality by ``quality_weight``."""
        return await self._db.read(
            lambda c: search_db.search(
                c, text, quality_weight=quality_weight, limit=limit, offset=offset
            )
        )

    async def title_matches(self, text: str, limit: int) -> list[tuple[int, str]]:
        """(article id, title) for autocomplete: title prefix matches first, then titles
        containing the words."""
        return await self._db.read(search_db.title_matches, text, limit)

    async def best_title_match(self, text: str) -> CoverageItem | None:
        """The article whose title best matches ``text``, if any."""
        return await self._db.read(_lookup_title, text)

    async def stories_matching(self, text: str, limit: int) -> list[StoryRow]:
        """The live stories of the first ``limit`` articles whose titles match ``text``."""
        return await self._db.read(_stories_matching, text, limit)
