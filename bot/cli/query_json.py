"""The JSON shapes of the query commands (``--json``; described in docs/cli.md): one coverage
item, one story, a story with its coverage, a digest preview. ``newsbot digests`` uses them too.
"""

from __future__ import annotations

from bot.cli.output import iso
from bot.domain.views import CoverageItem, DigestPreview, StoryDetail, StoryRow

__all__ = ["detail_dict", "item_dict", "preview_dict", "story_dict"]


def item_dict(item: CoverageItem) -> dict:
    """One coverage item (an article or related item) in every JSON output."""
    return {
        "article": f"article:{item.id}",
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "provider": item.provider,
        "published_at": iso(item.published_at),
        "quality": item.quality,
        "heat": item.heat,
        "is_article": item.is_article,
        "type": item.type,
        "excerpt": item.excerpt,
        "image_url": item.image_url,
        "story_id": item.story_id,
    }


def story_dict(story: StoryRow, score: float) -> dict:
    """A story's numbers, named the same way in every JSON output (``outlets``, ``articles``)."""
    return {
        "story": f"#{story.id}",
        "story_id": story.id,
        "title": story.lead.title,
        "score": round(score, 3),
        "outlets": story.provider_count,
        "articles": story.item_count,
        "loaded_articles": story.article_count,
        "coverage_text": story.coverage,
        "best_quality": story.best_quality,
        "max_heat": story.max_heat,
        "first_published_at": iso(story.first_published_at),
        "last_published_at": iso(story.last_published_at),
        "topics": list(story.topics),
        "lead": item_dict(story.lead),
    }


def detail_dict(detail: StoryDetail, score: float | None = None) -> dict:
    shown = detail.score if score is None else score
    return {
        **story_dict(detail.story, shown),
        "coverage": [item_dict(c) for c in detail.coverage],
        "more_coverage": max(detail.total_coverage - len(detail.coverage), 0),
    }


def preview_dict(preview: DigestPreview, details: list[StoryDetail]) -> dict:
    return {
        "window_start": iso(preview.window_start),
        "window_end": iso(preview.window_end),
        "requested_start": iso(preview.requested_start),
        "requested_end": iso(preview.requested_end),
        "fell_back": preview.fell_back,
        "stories": [detail_dict(d, s.score) for s, d in zip(preview.stories, details, strict=True)],
    }
