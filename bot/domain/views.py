"""Read models returned by the query service: what the CLI, the bot and digests render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from bot.domain.display import plural

T = TypeVar("T")


def coverage_count(outlets: int, articles: int) -> str:
    """The one way every surface states a story's breadth: ``"34 outlets · 41 articles"``.

    ``outlets`` is the number of distinct providers and ``articles`` every piece of coverage (the
    loaded articles and the related items other outlets published), so the two always describe
    the list that ``/story`` and ``newsbot story`` show.
    """
    return f"{plural(outlets, 'outlet')} · {plural(articles, 'article')}"


@dataclass(frozen=True, slots=True)
class CoverageItem:
    """An article or a related item, as shown to a user."""

    id: int
    url: str
    title: str
    excerpt: str | None
    provider: str | None
    published_at: datetime | None
    quality: int | None
    heat: int | None
    is_article: bool
    image_url: str | None
    story_id: int | None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class TopicCount:
    name: str
    articles: int
    stories: int


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A story with its stored aggregates and lead item."""

    id: int
    article_count: int
    item_count: int
    provider_count: int
    best_quality: int | None
    max_heat: int | None
    first_published_at: datetime | None
    last_published_at: datetime | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    rank_key: float | None
    lead: CoverageItem
    topics: tuple[str, ...] = ()

    @property
    def coverage(self) -> str:
        """``"N outlets · M articles"`` (see :func:`coverage_count`)."""
        return coverage_count(self.provider_count, self.item_count)


@dataclass(frozen=True, slots=True)
class StorySummary:
    story: StoryRow
    score: float


@dataclass(frozen=True, slots=True)
class StoryDetail:
    story: StoryRow
    score: float
    coverage: tuple[CoverageItem, ...]  # every item of the story, lead first
    total_coverage: int


@dataclass(frozen=True, slots=True)
class RelatedCoverage:
    article: CoverageItem
    story_id: int | None
    related: Page[CoverageItem]


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: CoverageItem
    score: float


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    offset: int
    limit: int
    has_more: bool

    @property
    def page_number(self) -> int:
        return self.offset // self.limit + 1 if self.limit else 1


@dataclass(frozen=True, slots=True)
class DigestPreview:
    """The stories a digest would post, and the window they were chosen from."""

    stories: tuple[StorySummary, ...]
    window_start: datetime
    window_end: datetime
    requested_start: datetime
    requested_end: datetime
    fell_back: bool  # the requested window was empty; an earlier one with stories was used
