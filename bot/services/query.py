"""The query service: topics, stories, related coverage, search, autocomplete, digest preview.

Every method validates its input (raising :class:`BadInput` / :class:`NotFound` with a message
safe to show), runs one storage function on the database thread, and returns view objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.ranking import RankingSettings, score_from_key
from bot.domain.views import (
    CoverageItem,
    DigestPreview,
    Page,
    RelatedCoverage,
    SearchHit,
    StoryDetail,
    StoryRow,
    StorySummary,
    TopicCount,
)
from bot.ingest.urls import canonical_url
from bot.services.errors import HINT_STORIES, HINT_TOPICS, BadInput, NotFound
from bot.storage.article_repo import ArticleRepository
from bot.storage.db import Database
from bot.storage.search_repo import SearchRepository
from bot.storage.story_repo import StoryRepository

MAX_LIMIT = 100
AUTOCOMPLETE_LIMIT = 25
COVERAGE_LIMIT = 500
DIGEST_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class QuerySettings:
    ranking: RankingSettings = field(default_factory=RankingSettings)
    search_quality_weight: float = 0.5  # 0 = pure bm25; 0.5 = quality 100 scores 1.5x


MAX_OFFSET = 1_000_000_000
# Times a query accepts: a window must fit in datetime's range and SQLite's integers.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_ARTICLE_FORM = re.compile(r"article:\s*([0-9]{1,18})", re.IGNORECASE)
_STORY_FORM = re.compile(r"#\s*([0-9]{1,18})")
_DIGITS = re.compile(r"[0-9]{1,18}")
_SURROGATES = re.compile("[\ud800-\udfff\x00]")


def clean_text(text: str | None) -> str:
    """User text without lone surrogates and NULs (which no database or JSON encoder accepts)."""
    return _SURROGATES.sub("", text or "")


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise BadInput("offset cannot be negative")
    if offset > MAX_OFFSET:
        raise BadInput(f"offset must be at most {MAX_OFFSET:,}")


def check_time(dt: datetime | None, what: str = "time") -> datetime | None:
    """``dt`` if it is aware and between 1970-01-02 and 9999-12-30, else :class:`BadInput`."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise BadInput("times must carry a time zone")
    if not EARLIEST <= dt <= LATEST:
        raise BadInput(f"the {what} must be between 1970-01-02 and 9999-12-30")
    return dt


def _check_quality(min_quality: int | None) -> None:
    if min_quality is not None and not 0 <= min_quality <= 1000:
        raise BadInput("min_quality must be between 0 and 1000")


def _ts(dt: datetime | None) -> int | None:
    dt = check_time(dt)
    return None if dt is None else int(dt.timestamp())


class QueryService:
    def __init__(
        self,
        db: Database,
        settings: QuerySettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.articles = ArticleRepository(db)
        self.stories_repo = StoryRepository(db)
        self.search_repo = SearchRepository(db)
        self.settings = settings or QuerySettings()
        self.clock = clock

    # -- helpers --------------------------------------------------------------------------------
    def _summaries(self, rows: Sequence[StoryRow], now: datetime) -> tuple[StorySummary, ...]:
        return tuple(StorySummary(r, self.score(r, now)) for r in rows)

    def score(self, story: StoryRow, now: datetime) -> float:
        if story.rank_key is None:
            return 0.0
        return score_from_key(story.rank_key, now=now, settings=self.settings.ranking)

    @staticmethod
    def _page(rows: Sequence, limit: int, offset: int) -> Page:
        return Page(tuple(rows[:limit]), offset, limit, len(rows) > limit)

    async def _topic_id(self, topic: str) -> int:
        found = await self.stories_repo.topic_by_name(clean_text(topic))
        if found is None:
            raise NotFound(f"No topic called “{topic.strip()[:80]}”.", hint=HINT_TOPICS)
        return found[0]

    # -- topics ---------------------------------------------------------------------------------
    async def topics(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> Page[TopicCount]:
        _check_page(limit, offset)
        rows = await self.stories_repo.topics(
            since=_ts(since), until=_ts(until), limit=limit + 1, offset=offset
        )
        return self._page(rows, limit, offset)

    async def topic_names(self, text: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[str]:
        return await self.stories_repo.topic_names_like(
            clean_text(text)[:100], min(limit, AUTOCOMPLETE_LIMIT)
        )

    async def topic_exists(self, name: str) -> str:
        """The display name of a topic, or :class:`NotFound`."""
        found = await self.stories_repo.topic_by_name(clean_text(name))
        if found is None:
            raise NotFound(f"No topic called “{name.strip()[:80]}”.", hint=HINT_TOPICS)
        return found[1]

    # -- stories --------------------------------------------------------------------------------
    async def stories(
        self,
        *,
        topic: str | None = None,
        min_quality: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Page[StorySummary]:
        _check_page(limit, offset)
        _check_quality(min_quality)
        topic_id = await self._topic_id(topic) if topic else None
        rows = await self.stories_repo.stories(
            topic_id=topic_id,
            min_quality=min_quality,
            since=_ts(since),
            until=_ts(until),
            limit=limit + 1,
            offset=offset,
        )
        return self._page(self._summaries(rows, self.clock()), limit, offset)

    async def story(self, story_id: int, *, coverage_limit: int = COVERAGE_LIMIT) -> StoryDetail:
        if not 0 < story_id < 1 << 62:
            raise NotFound(f"No story #{story_id}.", hint=HINT_STORIES)
        found = await self.stories_repo.story_detail(story_id, coverage_limit)
        if found is None:
            raise NotFound(f"No story #{story_id}.", hint=HINT_STORIES)
        row, coverage = found
        return StoryDetail(row, self.score(row, self.clock()), tuple(coverage), row.item_count)

    async def story_for_article(self, ref: str) -> StoryDetail:
        """The story ``ref`` names: ``#12`` is story 12; anything else is an article (see
        :meth:`article`) whose story is returned."""
        story_id = parse_story_ref(ref)
        if story_id is not None:
            return await self.story(story_id)
        article = await self.article(ref)
        if article.story_id is None:
            raise NotFound(f"“{article.title[:80]}” is not part of any story.")
        return await self.story(article.story_id)

    # -- articles and related coverage -----------------------------------------------------------
    async def article(self, ref: str) -> CoverageItem:
        """Find an article by url, exact title (or the best title match), or ``article:123``.

        ``#12`` names story 12, whose lead article is returned. A bare number is refused as
        ambiguous (story or article?), with both explicit forms in the message.
        """
        ref = clean_text(ref).strip()
        if not ref:
            raise BadInput("Tell me which article: pick one from the list, or paste its url.")
        found: CoverageItem | None = None
        explicit = _ARTICLE_FORM.fullmatch(ref)
        story_id = parse_story_ref(ref)
        if story_id is not None:
            detail = await self.story(story_id, coverage_limit=1)
            return detail.story.lead
        if explicit:
            found = await self.articles.by_id(int(explicit.group(1)))
            if found is None:
                raise NotFound(f"No article {explicit.group(1)}.")
            return found
        if _DIGITS.fullmatch(ref):
            raise BadInput(
                f"“{ref}” could mean a story or an article: write #{ref} for story {ref}, "
                f"or article:{ref} for article {ref}.",
                hint=HINT_STORIES,
            )
        if ref.lower().startswith(("http://", "https://")):
            try:
                url = canonical_url(ref)
            except ValueError as exc:
                raise BadInput(f"That url does not look valid: {exc}") from None
            found = await self.articles.by_url(url)
        else:
            found = await self.articles.by_title(ref)
            if found is None:
                found = await self.search_repo.best_title_match(ref[:200])
        if found is None:
            raise NotFound(f"I could not find an article matching “{ref[:80]}”.")
        return found

    async def related(self, ref: str, *, limit: int = 10, offset: int = 0) -> RelatedCoverage:
        _check_page(limit, offset)
        article = await self.article(ref)
        rows = await self.articles.related(article.id, limit + 1, offset)
        return RelatedCoverage(article, article.story_id, self._page(rows, limit, offset))

    # -- search and autocomplete ----------------------------------------------------------------
    async def search(self, text: str, *, limit: int = 10, offset: int = 0) -> Page[SearchHit]:
        _check_page(limit, offset)
        text = clean_text(text)
        if not self.search_repo.searchable(text):
            raise BadInput("Give me at least one word to search for.")
        weight = self.settings.search_quality_weight
        rows = await self.search_repo.search(
            text[:500], quality_weight=weight, limit=limit + 1, offset=offset
        )
        hits = [SearchHit(item, score) for item, score in rows]
        return self._page(hits, limit, offset)

    async def title_choices(
        self, text: str, limit: int = AUTOCOMPLETE_LIMIT
    ) -> list[tuple[int, str]]:
        """(article id, title) pairs for autocomplete: at most 25, prefix matches first."""
        return await self.search_repo.title_matches(
            clean_text(text)[:100], max(1, min(limit, AUTOCOMPLETE_LIMIT))
        )

    async def story_choices(self, text: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[StorySummary]:
        """Stories for autocomplete: those whose articles' titles match ``text``, the biggest and
        most recent first (the ranking score: breadth, quality, recency)."""
        text = clean_text(text)[:100]
        rows = await self.search_repo.stories_matching(text, 3 * AUTOCOMPLETE_LIMIT)
        ranked = sorted(self._summaries(rows, self.clock()), key=lambda s: (-s.score, -s.story.id))
        return ranked[: max(1, min(limit, AUTOCOMPLETE_LIMIT))]

    # -- digest preview -------------------------------------------------------------------------
    async def digest_preview(
        self,
        *,
        topics: Sequence[str] = (),
        min_quality: int | None = None,
        max_stories: int = 10,
        as_of: datetime | None = None,
        window: timedelta = DIGEST_WINDOW,
    ) -> DigestPreview:
        """The stories a digest would post for the window ending at ``as_of`` (default now).

        When that window has no stories, the most recent earlier window that has some is used
        instead, and ``fell_back`` says so.
        """
        if not 1 <= max_stories <= 25:
            raise BadInput("max_stories must be between 1 and 25")
        _check_quality(min_quality)
        end = check_time(as_of, "end of the window") or self.clock()
        topic_ids = [await self._topic_id(t) for t in topics] or None
        end_ts = int(end.timestamp())
        span = int(window.total_seconds())
        used_end, rows = await self.stories_repo.window_or_latest(
            end=end_ts, span=span, topic_ids=topic_ids, min_quality=min_quality, limit=max_stories
        )
        used = datetime.fromtimestamp(used_end, UTC)
        summaries = sorted(self._summaries(rows, used), key=lambda s: -s.score)
        return DigestPreview(
            stories=tuple(summaries),
            window_start=used - window,
            window_end=used,
            requested_start=end - window,
            requested_end=end,
            fell_back=used_end != end_ts,
        )

    async def stats(self) -> dict:
        return await self.articles.stats()


def parse_story_ref(ref: str) -> int | None:
    """``#12`` -> 12: the one way to name a story, on every surface; None for anything else."""
    found = _STORY_FORM.fullmatch(clean_text(ref).strip())
    return int(found.group(1)) if found else None
