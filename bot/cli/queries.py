"""Query commands: topics, stories, story, related, search, preview. Each has ``--json``.

Every ``--json`` output is one object carrying what the text shows (shapes in docs/cli.md); story
ids are written ``#12`` everywhere, articles are named by url, title or ``article:123``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.arg_types import offset, parse_when, positive, quality
from bot.cli.errors import require_database
from bot.cli.output import WIDE, console, make_table, plural, print_json, say
from bot.cli.query_json import detail_dict, item_dict, preview_dict, story_dict
from bot.config import Config
from bot.domain.views import StoryDetail
from bot.services.query import QueryService
from bot.storage.db import open_database

PREVIEW_COVERAGE = 12  # coverage rows shown per story in `newsbot preview`
LEGEND = "* lead article · A another loaded article · others: related coverage"
NARROW = {"outlet": 18}
URLS = "Urls: --json, or a terminal at least 120 columns wide."


def _title(title: str, url: str, width: int) -> str:
    """A table's title cell: with the url below it when the terminal is wide enough."""
    title = " ".join(title.split())
    return f"{title}\n{url}" if width >= WIDE else title


def register(sub: argparse._SubParsersAction) -> None:
    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.set_defaults(handler=handler)
        return p

    p = add("topics", "topics with article and story counts", cmd_topics)
    p.add_argument("--since", type=parse_when, help="only articles published since (date or 7d)")
    p.add_argument("--limit", type=positive, default=50, help="at most this many topics (max 100)")

    p = add("stories", "top stories, ranked by quality, breadth and recency", cmd_stories)
    p.add_argument("--topic", help="only stories in this topic")
    p.add_argument(
        "--min-quality",
        type=quality,
        help="only stories whose best article has this quality (0-190)",
    )
    p.add_argument("--since", type=parse_when, help="last coverage since (date, or 7d / 12h ago)")
    p.add_argument("--limit", type=positive, default=20, help="at most this many stories (max 100)")
    p.add_argument("--offset", type=offset, default=0, help="skip this many stories first")

    p = add("story", "one story with all its coverage", cmd_story)
    p.add_argument(
        "ref", metavar="REF", help="#12 for story 12, or an article's url, title or article:123"
    )

    p = add("related", "other outlets' coverage of an article", cmd_related)
    p.add_argument(
        "ref", metavar="REF", help="an article's url, title or article:123 (#12: story 12's lead)"
    )
    p.add_argument("--limit", type=positive, default=25, help="at most this many items (max 100)")

    p = add("search", "full-text search over titles and excerpts", cmd_search)
    p.add_argument("query", metavar="QUERY", help="words to look for")
    p.add_argument("--limit", type=positive, default=20, help="at most this many results (max 100)")
    p.add_argument("--offset", type=offset, default=0, help="skip this many results first")

    p = add("preview", "print the digest the bot would post", cmd_preview)
    p.add_argument("--topics", nargs="*", default=[], metavar="TOPIC", help="only these topics")
    p.add_argument(
        "--min-quality",
        type=quality,
        help="only stories whose best article has this quality (0-190)",
    )
    p.add_argument(
        "--max-stories", type=positive, default=10, help="at most this many stories (max 25)"
    )
    p.add_argument("--as-of", type=parse_when, help="end of the 24-hour window (default: now)")


async def _run(args: argparse.Namespace, config: Config, fn) -> int:
    """Open the (existing) database, run ``fn(service)``; user errors propagate to ``main``."""
    require_database(config.database.path)
    async with open_database(config.database.path) as db:
        return await fn(QueryService(db))


def _when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else ""


def _story_rows(stories) -> list[tuple]:
    return [
        (
            f"#{s.story.id}",
            f"{s.score:.1f}",
            s.story.provider_count,
            s.story.item_count,
            s.story.best_quality,
            _when(s.story.last_published_at),
            s.story.lead.title,
        )
        for s in stories
    ]


_STORY_HEADERS = ["story", "score", "outlets", "articles", "quality", "latest (UTC)", "title"]


async def cmd_topics(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        page = await service.topics(since=args.since, limit=min(args.limit, 100))
        if args.json:
            print_json(
                {
                    "topics": [
                        {"topic": t.name, "articles": t.articles, "stories": t.stories}
                        for t in page.items
                    ],
                    "has_more": page.has_more,
                }
            )
        elif not page.items:
            say("No topics yet. Load articles first: newsbot ingest PATH")
        else:
            out = console()
            out.print(
                make_table(
                    ["topic", "articles", "stories"],
                    [(t.name, t.articles, t.stories) for t in page.items],
                )
            )
            if page.has_more:
                out.print(f"… more topics: raise --limit (now {args.limit}).")
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
                {
                    "stories": [story_dict(s.story, s.score) for s in page.items],
                    "offset": args.offset,
                    "has_more": page.has_more,
                }
            )
        elif not page.items:
            say("No stories match.")
        else:
            out = console()
            out.print(make_table(_STORY_HEADERS, _story_rows(page.items)))
            if page.has_more:
                out.print(f"… more stories: --offset {args.offset + len(page.items)}")
            out.print("`newsbot story #ID` shows one story with all its coverage.")
        return 0

    return await _run(args, config, go)


def _print_story(detail: StoryDetail, score: float | None = None, prefix: str = "") -> None:
    """``score``: the score to show when not the current one (a digest's, at its window end)."""
    st = detail.story
    out = console()
    shown = detail.score if score is None else score
    out.print(f"{prefix}Story #{st.id}: {st.lead.title}", markup=False, highlight=False)
    out.print(
        f"  score {shown:.2f} · {st.coverage} · best quality {st.best_quality} · "
        f"{_when(st.first_published_at)} – {_when(st.last_published_at)} UTC"
    )
    if st.topics:
        out.print(f"  topics: {', '.join(st.topics)}")
    if st.lead.excerpt:
        out.print(f"  {' '.join(st.lead.excerpt.split())}")
    if st.lead.image_url:
        out.print(f"  image: {st.lead.image_url}")
    out.print(
        make_table(
            ["", "outlet", "quality", "published (UTC)", "title"],
            [
                (
                    "*" if c.id == st.lead.id else ("A" if c.is_article else ""),
                    c.provider or "",
                    c.quality,
                    _when(c.published_at),
                    _title(c.title, c.url, out.width),
                )
                for c in detail.coverage
            ],
            wrap=["title"],
            max_width=NARROW,
        )
    )
    hidden = detail.total_coverage - len(detail.coverage)
    if hidden > 0:
        out.print(f"  … and {hidden:,} more (newsbot story #{st.id} shows all)")


async def cmd_story(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        detail = await service.story_for_article(args.ref)
        if args.json:
            print_json(detail_dict(detail))
        else:
            _print_story(detail)
            console().print(LEGEND)
            if console().width < WIDE:
                console().print(URLS)
        return 0

    return await _run(args, config, go)


async def cmd_related(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        result = await service.related(args.ref, limit=min(args.limit, 100))
        if args.json:
            print_json(
                {
                    "article": item_dict(result.article),
                    "story_id": result.story_id,
                    "related": [item_dict(c) for c in result.related.items],
                    "has_more": result.related.has_more,
                }
            )
            return 0
        out = console()
        a = result.article
        story = f" · story #{result.story_id}" if result.story_id else ""
        out.print(f"{a.title} ({a.provider}, {_when(a.published_at)} UTC{story})")
        if not result.related.items:
            out.print("No related coverage recorded for this article.")
        else:
            out.print(
                make_table(
                    ["outlet", "quality", "published (UTC)", "title"],
                    [
                        (
                            c.provider or "",
                            c.quality,
                            _when(c.published_at),
                            _title(c.title, c.url, out.width),
                        )
                        for c in result.related.items
                    ],
                    wrap=["title"],
                    max_width=NARROW,
                )
            )
            if result.related.has_more:
                out.print(f"… and more: raise --limit (now {args.limit}).")
        return 0

    return await _run(args, config, go)


async def cmd_search(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        page = await service.search(args.query, limit=min(args.limit, 100), offset=args.offset)
        if args.json:
            print_json(
                {
                    "query": args.query,
                    "results": [
                        {**item_dict(h.item), "score": round(h.score, 3)} for h in page.items
                    ],
                    "offset": args.offset,
                    "has_more": page.has_more,
                }
            )
        elif not page.items:
            say(f"Nothing found for {args.query!r}.")
        else:
            out = console()
            out.print(
                make_table(
                    ["story", "outlet", "quality", "published (UTC)", "title"],
                    [
                        (
                            f"#{h.item.story_id}" if h.item.story_id else "",
                            h.item.provider or "",
                            h.item.quality,
                            _when(h.item.published_at),
                            _title(h.item.title, h.item.url, out.width),
                        )
                        for h in page.items
                    ],
                    wrap=["title"],
                    max_width=NARROW,
                )
            )
            if page.has_more:
                out.print(f"… more results: --offset {args.offset + len(page.items)}")
        return 0

    return await _run(args, config, go)


async def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    async def go(service: QueryService) -> int:
        preview = await service.digest_preview(
            topics=args.topics,
            min_quality=args.min_quality,
            max_stories=min(args.max_stories, 25),
            as_of=args.as_of,
        )
        details = [
            await service.story(s.story.id, coverage_limit=PREVIEW_COVERAGE)
            for s in preview.stories
        ]
        if args.json:
            print_json(preview_dict(preview, details))
            return 0
        out = console()
        if preview.fell_back:
            out.print(
                f"No stories in the 24 hours {_when(preview.requested_start)} – "
                f"{_when(preview.requested_end)} UTC."
            )
        if not preview.stories:
            out.print("No stories at all yet. Load articles first: newsbot ingest PATH")
            return 0
        out.print(
            f"Digest for {_when(preview.window_start)} – {_when(preview.window_end)} UTC: "
            f"{plural(len(preview.stories), 'story', 'stories')}"
        )
        for n, (s, detail) in enumerate(zip(preview.stories, details, strict=True), 1):
            out.print()
            _print_story(detail, s.score, prefix=f"{n}. ")
        out.print()
        out.print(LEGEND)
        if out.width < WIDE:
            out.print(URLS)
        return 0

    return await _run(args, config, go)
