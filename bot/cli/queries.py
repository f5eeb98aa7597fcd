"""Query commands: topics, stories, story, related, search, preview. Each has ``--json``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from bot.cli.output import print_json, shorten, table
from bot.config import Config
from bot.domain.views import CoverageItem, DigestPreview, StoryDetail, StorySummary
from bot.services.errors import UserError
from bot.services.query import QueryService
from bot.storage.db import open_database


def parse_when(text: str) -> datetime:
    """An ISO date/time (UTC unless it names a zone) or a relative ``7d`` / ``12h`` ago."""
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use 2022-03-24, 2022-03-24T21:00, or 7d / 12h ago"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError("quality runs from 0 to about 190")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print as JSON")
        p.set_defaults(handler=handler)
        return p

    p = add("topics", "topics with article and story counts", cmd_topics)
    p.add_argument("--since", type=parse_when, help="only articles published since (date or 7d)")
    p.add_argument("--limit", type=_positive, default=50)

    p = add("stories", "top stories, ranked", cmd_stories)
    p.add_argument("--topic", help="only stories in this topic")
    p.add_argument("--min-quality", type=_quality)
    p.add_argument("--since", type=parse_when, help="last coverage since (date, or 7d / 12h ago)")
    p.add_argument("--limit", type=_positive, default=20)
    p.add_argument("--offset", type=int, default=0)

    p = add("story", "one story with all its coverage", cmd_story)
    p.add_argument("article", help="story id (#12), or an article's id, url or title")

    p = add("related", "other outlets' coverage of an article", cmd_related)
    p.add_argument("article", help="article id, url or title")
    p.add_argument("--limit", type=_positive, default=25)

    p = add("search", "full-text search over titles and excerpts", cmd_search)
    p.add_argument("query")
    p.add_argument("--limit", type=_positive, default=20)
    p.add_argument("--offset", type=int, default=0)

    p = add("preview", "print the digest the bot would post", cmd_preview)
    p.add_argument("--topics", nargs="*", default=[], metavar="TOPIC")
    p.add_argument("--min-quality", type=_quality)
    p.add_argument("--max-stories", type=_positive, default=10)
    p.add_argument("--as-of", type=parse_when, help="end of the 24-hour window (default now)")


async def _run(args: argparse.Namespace, config: Config, fn) -> int:
    async with open_database(config.database.path) as db:
        service = QueryService(db)
        try:
            return await fn(service)
        except UserError as exc:
            print(f"newsbot: {exc}")
            return 1


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else ""


def _item_dict(item: CoverageItem) -> dict:
    return {
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "provider": item.provider,
        "published_at": item.published_at,
        "quality": item.quality,
        "is_article": item.is_article,
        "story_id": item.story_id,
    }


def _summary_dict(s: StorySummary) -> dict:
    st = s.story
    return {
        "story_id": st.id,
        "score": round(s.score, 3),
        "lead": _item_dict(st.lead),
        "articles": st.article_count,
        "coverage": st.item_count,
        "providers": st.provider_count,
        "best_quality": st.best_quality,
        "max_heat": st.max_heat,
        "first_published_at": st.first_published_at,
        "last_published_at": st.last_published_at,
        "topics": list(st.topics),
    }


def _story_rows(stories) -> list[tuple]:
    return [
        (
            s.story.id,
            f"{s.score:.1f}",
            s.story.provider_count,
            s.story.best_quality,
            _when(s.story.last_published_at),
            shorten(s.story.lead.provider, 18),
            shorten(s.story.lead.title, 70),
        )
        for s in stories
    ]


_STORY_HEADERS = ["story", "score", "outlets", "quality", "latest (UTC)", "lead provider", "title"]


async def cmd_topics(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        page = await service.topics(since=args.since, limit=min(args.limit, 100))
        if args.json:
            print_json(
                [
                    {"topic": t.name, "articles": t.articles, "stories": t.stories}
                    for t in page.items
                ]
            )
        elif not page.items:
            print("No topics yet. Load articles first: newsbot ingest PATH")
        else:
            table(
                ["topic", "articles", "stories"],
                [(t.name, t.articles, t.stories) for t in page.items],
            )
        return 0

    return await _run(args, config, go)


async def cmd_stories(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        page = await service.stories(
            topic=args.topic,
            min_quality=args.min_quality,
            since=args.since,
            limit=min(args.limit, 100),
            offset=args.offset,
        )
        if args.json:
            print_json(
                {"stories": [_summary_dict(s) for s in page.items], "has_more": page.has_more}
            )
        elif not page.items:
            print("No stories match.")
        else:
            table(_STORY_HEADERS, _story_rows(page.items))
        return 0

    return await _run(args, config, go)


def _print_story(detail: StoryDetail, score: float | None = None) -> None:
    """``score``: the score to show when not the current one (a digest's, at its window end)."""
    st = detail.story
    print(f"Story #{st.id}: {st.lead.title}")
    shown = detail.score if score is None else score
    print(
        f"  score {shown:.2f} · covered by {st.provider_count} outlets · "
        f"best quality {st.best_quality} · {_when(st.first_published_at)} – "
        f"{_when(st.last_published_at)} UTC"
    )
    if st.topics:
        print(f"  topics: {', '.join(st.topics)}")
    table(
        ["", "provider", "quality", "published (UTC)", "title", "url"],
        [
            (
                "*" if c.id == st.lead.id else ("A" if c.is_article else ""),
                shorten(c.provider, 24),
                c.quality,
                _when(c.published_at),
                shorten(c.title, 70),
                c.url,
            )
            for c in detail.coverage
        ],
    )


def _story_detail_dict(detail: StoryDetail) -> dict:
    return {
        **_summary_dict(StorySummary(detail.story, detail.score)),
        "items": [_item_dict(c) for c in detail.coverage],
    }


async def cmd_story(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        ref = args.article.strip()
        if ref.startswith("#") and ref[1:].isdigit():
            detail = await service.story(int(ref[1:]))
        else:
            detail = await service.story_for_article(ref)
        if args.json:
            print_json(_story_detail_dict(detail))
        else:
            _print_story(detail)
        return 0

    return await _run(args, config, go)


async def cmd_related(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        result = await service.related(args.article, limit=min(args.limit, 100))
        if args.json:
            print_json(
                {
                    "article": _item_dict(result.article),
                    "story_id": result.story_id,
                    "related": [_item_dict(c) for c in result.related.items],
                    "has_more": result.related.has_more,
                }
            )
            return 0
        print(
            f"{result.article.title} ({result.article.provider}, "
            f"{_when(result.article.published_at)} UTC)"
        )
        if not result.related.items:
            print("No related coverage recorded for this article.")
        else:
            table(
                ["provider", "quality", "published (UTC)", "title", "url"],
                [
                    (
                        shorten(c.provider, 24),
                        c.quality,
                        _when(c.published_at),
                        shorten(c.title, 70),
                        c.url,
                    )
                    for c in result.related.items
                ],
            )
        return 0

    return await _run(args, config, go)


async def cmd_search(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        page = await service.search(args.query, limit=min(args.limit, 100), offset=args.offset)
        if args.json:
            print_json(
                {
                    "results": [
                        {**_item_dict(h.item), "score": round(h.score, 3)} for h in page.items
                    ],
                    "has_more": page.has_more,
                }
            )
        elif not page.items:
            print(f"Nothing found for {args.query!r}.")
        else:
            table(
                ["id", "story", "provider", "quality", "published (UTC)", "title"],
                [
                    (
                        h.item.id,
                        h.item.story_id,
                        shorten(h.item.provider, 20),
                        h.item.quality,
                        _when(h.item.published_at),
                        shorten(h.item.title, 70),
                    )
                    for h in page.items
                ],
            )
        return 0

    return await _run(args, config, go)


def preview_dict(preview: DigestPreview) -> dict:
    return {
        "window_start": preview.window_start,
        "window_end": preview.window_end,
        "requested_start": preview.requested_start,
        "requested_end": preview.requested_end,
        "fell_back": preview.fell_back,
        "stories": [_summary_dict(s) for s in preview.stories],
    }


async def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        preview = await service.digest_preview(
            topics=args.topics,
            min_quality=args.min_quality,
            max_stories=min(args.max_stories, 25),
            as_of=args.as_of,
        )
        if args.json:
            print_json(preview_dict(preview))
            return 0
        if preview.fell_back:
            print(
                f"No stories in the 24 hours {_when(preview.requested_start)} – "
                f"{_when(preview.requested_end)} UTC."
            )
        if not preview.stories:
            print("No stories at all yet. Load articles first: newsbot ingest seeds/")
            return 0
        print(
            f"Digest for {_when(preview.window_start)} – {_when(preview.window_end)} UTC: "
            f"{len(preview.stories)} {'story' if len(preview.stories) == 1 else 'stories'}"
        )
        for n, s in enumerate(preview.stories, 1):
            detail = await service.story(s.story.id, coverage_limit=12)
            print()
            print(f"{n}. ", end="")
            _print_story(detail, s.score)
        return 0

    return await _run(args, config, go)
