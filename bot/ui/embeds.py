"""Pure embed builders: view models in, :class:`Rendered` (content + embeds) out. No I/O.

Every builder returns through :func:`rendered`, which applies :func:`bot.ui.limits.fit_message`,
so no message can break an embed limit whatever the article. Article text goes through
:func:`bot.ui.text.md` / :func:`bot.ui.text.plain` (markdown escaped, mentions neutralised) and
links through :func:`bot.ui.text.safe_url` (http and https only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import discord

from bot.domain.display import plural
from bot.domain.views import (
    CoverageItem,
    Page,
    RelatedCoverage,
    SearchHit,
    StoryDetail,
    StoryRow,
    StorySummary,
    TopicCount,
)
from bot.ui import limits
from bot.ui.text import link, md, plain, safe_url, shorten, timestamp

COLOUR = discord.Colour.blurple()
EXCERPT = 350
LINE_TITLE = 150


@dataclass(slots=True)
class Rendered:
    """One message: optional content and the embeds, already within Discord's limits."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)


def rendered(embeds: Sequence[discord.Embed], content: str | None = None) -> Rendered:
    return Rendered(limits.fit_content(content), limits.fit_message(embeds))


def _meta(item: CoverageItem, *, provider: bool, breadth: str | None = None) -> str:
    parts: list[str] = []
    if provider and item.provider:
        parts.append(f"**{md(item.provider, 80)}**")
    when = timestamp(item.published_at)
    if when:
        parts.append(when)
    if item.quality is not None:
        parts.append(f"quality {item.quality}")
    if breadth is not None:
        parts.append(breadth)
    return " · ".join(parts)


def coverage_line(item: CoverageItem) -> str:
    """One line of a list: provider, linked title, time, quality."""
    meta = _meta(item, provider=True)
    title = link(item.title, item.url, LINE_TITLE)
    return f"• {title}" + (f" — {meta}" if meta else "")


def card(
    item: CoverageItem, *, story: StoryRow | None = None, footer: str | None = None
) -> discord.Embed:
    """An article as an embed: linked title, provider, time, quality, breadth, thumbnail."""
    breadth = story.coverage if story is not None else None
    parts = [md(item.excerpt, EXCERPT)] if item.excerpt else []
    meta = _meta(item, provider=False, breadth=breadth)
    if meta:
        parts.append(meta)
    if story is not None and story.topics:
        parts.append("Topics: " + ", ".join(md(t, 60) for t in story.topics[:10]))
    embed = discord.Embed(
        title=md(item.title or "(untitled)", limits.TITLE - 6),
        url=safe_url(item.url),
        description="\n".join(parts) or None,
        colour=COLOUR,
    )
    if item.provider:
        embed.set_author(name=plain(item.provider, limits.AUTHOR))
    image = safe_url(item.image_url)
    if image:
        embed.set_thumbnail(url=image)
    if footer:
        embed.set_footer(text=footer)
    return embed


def _page_footer(page: Page, noun: str) -> str:
    first = page.offset + 1
    last = page.offset + len(page.items)
    more = " · more on the next page" if page.has_more else ""
    return f"Page {page.page_number} · {noun} {first}–{last}{more}"


# -- /topics --
def topics_page(page: Page[TopicCount]) -> Rendered:
    if not page.items:
        text = (
            "No topics yet: no articles have been loaded."
            if page.offset == 0
            else "No more topics."
        )
        return rendered([discord.Embed(title="Topics", description=text, colour=COLOUR)])
    lines = [
        f"**{md(t.name, 80)}** — {t.articles} article{'' if t.articles == 1 else 's'}, "
        f"{t.stories} stor{'y' if t.stories == 1 else 'ies'}"
        for t in page.items
    ]
    embed = discord.Embed(
        title="Topics",
        description=limits.join_lines(lines, limits.DESCRIPTION),
        colour=COLOUR,
    )
    embed.set_footer(text=_page_footer(page, "topics"))
    return rendered([embed])


# -- /news --
def stories_page(
    page: Page[StorySummary],
    *,
    topic: str | None = None,
    min_quality: int | None = None,
    days: int | None = None,
) -> Rendered:
    filters = []
    if topic:
        filters.append(f"topic {md(topic, 80)}")
    if min_quality is not None:
        filters.append(f"quality ≥ {min_quality}")
    if days is not None:
        filters.append(f"last {days} day{'' if days == 1 else 's'}")
    heading = "**Top stories**" + (f" · {' · '.join(filters)}" if filters else "")
    heading += f" · page {page.page_number}"
    if not page.items:
        text = "No stories match." if page.offset == 0 else "No more stories."
        return rendered([discord.Embed(description=text, colour=COLOUR)], heading)
    embeds = [
        card(
            s.story.lead,
            story=s.story,
            footer=f"Story #{s.story.id} · rank {page.offset + i + 1}",
        )
        for i, s in enumerate(page.items)
    ]
    return rendered(embeds, heading)


# -- /story --
def story_detail(detail: StoryDetail, *, offset: int = 0, per_page: int = 10) -> Rendered:
    """The lead article's card and one page of the story's coverage (all of it if it fits)."""
    st = detail.story
    coverage = detail.coverage
    chunk = coverage[offset : offset + per_page]
    last_page = offset + per_page >= len(coverage)
    hidden = max(detail.total_coverage - len(coverage), 0) if last_page else 0
    pages = max((len(coverage) + per_page - 1) // per_page, 1)
    lead = card(st.lead, story=st, footer=f"Story #{st.id}")
    body = discord.Embed(
        title=f"Coverage · {st.coverage}",
        description=limits.join_lines(
            [coverage_line(c) for c in chunk], limits.DESCRIPTION, total=len(chunk) + hidden
        )
        or "No coverage.",
        colour=COLOUR,
    )
    body.set_footer(text=f"Page {offset // per_page + 1} of {pages}")
    return rendered([lead, body])


def story_pages(detail: StoryDetail, per_page: int) -> int:
    return max((len(detail.coverage) + per_page - 1) // per_page, 1)


def story_choice_name(story: StoryRow) -> str:
    """An autocomplete choice for a story: ``Title · 13 outlets · 2022-03-24`` (at most 100)."""
    when = story.last_published_at or story.first_published_at
    tail = f" · {plural(story.provider_count, 'outlet')}"
    if when is not None:
        tail += f" · {when:%Y-%m-%d}"
    title = plain(story.lead.title or "(untitled)", limits.CHOICE_NAME)
    return shorten(title, limits.CHOICE_NAME - len(tail)) + tail


# -- /related --
def related_page(rel: RelatedCoverage) -> Rendered:
    page = rel.related
    lead = card(rel.article, footer=f"Story #{rel.story_id}" if rel.story_id else None)
    if not page.items:
        text = (
            "No other outlets' coverage of this article yet."
            if page.offset == 0
            else "No more coverage."
        )
        body = discord.Embed(title="Other coverage", description=text, colour=COLOUR)
    else:
        body = discord.Embed(
            title="Other coverage",
            description=limits.join_lines(
                [coverage_line(c) for c in page.items], limits.DESCRIPTION
            ),
            colour=COLOUR,
        )
        body.set_footer(text=_page_footer(page, "items"))
    return rendered([lead, body])


# -- /search --
def search_page(page: Page[SearchHit], query: str) -> Rendered:
    title = f"Search: {shorten(' '.join(query.split()), 200)}"
    if not page.items:
        text = "Nothing matches." if page.offset == 0 else "No more results."
        return rendered([discord.Embed(title=md(title), description=text, colour=COLOUR)])
    lines = []
    for hit in page.items:
        line = coverage_line(hit.item)
        if hit.item.excerpt:
            line += f"\n  {md(hit.item.excerpt, 160)}"
        lines.append(line)
    embed = discord.Embed(
        title=md(title),
        description=limits.join_lines(lines, limits.DESCRIPTION),
        colour=COLOUR,
    )
    embed.set_footer(text=_page_footer(page, "results"))
    return rendered([embed])


# -- /help --
@dataclass(frozen=True, slots=True)
class OptionHelp:
    name: str
    description: str
    required: bool
    detail: str = ""  # e.g. "0–190", "autocompleted"


@dataclass(frozen=True, slots=True)
class CommandHelp:
    name: str  # qualified, without the slash: "news", "digest add"
    description: str
    options: tuple[OptionHelp, ...] = ()
    admin: bool = False  # needs a permission (Manage Server): listed last, in its own section


def _help_field(embed: discord.Embed, cmd: CommandHelp) -> None:
    usage = " ".join(f"<{o.name}>" if o.required else f"[{o.name}]" for o in cmd.options)
    lines = [cmd.description]
    for o in cmd.options:
        extra = f" ({o.detail})" if o.detail else ""
        need = "" if o.required else "optional, "
        lines.append(f"`{o.name}`: {need}{o.description}{extra}")
    embed.add_field(
        name=f"/{cmd.name}" + (f" {usage}" if usage else ""),
        value=limits.join_lines(lines, limits.FIELD_VALUE),
        inline=False,
    )


def help_page(commands: Sequence[CommandHelp]) -> Rendered:
    """What every member can use first; the commands for server managers last, once."""
    intro = (
        "I answer questions about the news articles loaded into this bot: the topics they cover, "
        "the top stories, one story with every outlet's coverage, and full-text search. "
        "Lists page with the Previous / Next buttons. `#12` always means story 12."
    )
    embed = discord.Embed(title="newsbot help", description=intro, colour=COLOUR)
    for cmd in sorted((c for c in commands if not c.admin), key=lambda c: c.name):
        _help_field(embed, cmd)
    embeds = [embed]
    admin = sorted((c for c in commands if c.admin), key=lambda c: c.name)
    if admin:
        managers = discord.Embed(
            title="For server managers",
            description="These need the Manage Server permission.",
            colour=COLOUR,
        )
        for cmd in admin:
            _help_field(managers, cmd)
        embeds.append(managers)
    return rendered(embeds)


def notice(text: str) -> Rendered:
    """A short message (errors, refusals), as plain content."""
    return Rendered(limits.fit_content(text), [])
