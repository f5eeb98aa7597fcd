"""Slash commands over the query service: /topics, /news, /story, /related, /search."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.services.errors import UserError
from bot.ui import embeds
from bot.ui.embeds import Rendered
from bot.ui.limits import CHOICE_NAME, CHOICES
from bot.ui.options import Days, Quality
from bot.ui.respond import deferring
from bot.ui.text import shorten, squash
from bot.ui.views import send_paged

if TYPE_CHECKING:
    from bot.ui.bot import NewsBot

TOPICS_PER_PAGE = 20
STORIES_PER_PAGE = 5
COVERAGE_PER_PAGE = 10
RELATED_PER_PAGE = 10
SEARCH_PER_PAGE = 8


class NewsCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.query = bot.services.query

    async def _paged(self, interaction: discord.Interaction, fetch) -> None:
        first = await deferring(interaction, fetch(0))
        await send_paged(interaction, fetch, expires=self.bot.page_timeout, first=first)

    # -- /topics --------------------------------------------------------------------------------
    @app_commands.command(name="topics", description="Topics with their article and story counts")
    async def topics(self, interaction: discord.Interaction) -> None:
        async def fetch(page: int) -> tuple[Rendered, bool]:
            found = await self.query.topics(limit=TOPICS_PER_PAGE, offset=page * TOPICS_PER_PAGE)
            return embeds.topics_page(found), found.has_more

        await self._paged(interaction, fetch)

    # -- /news ----------------------------------------------------------------------------------
    @app_commands.command(
        name="news", description="Top stories, ranked by quality, breadth and recency"
    )
    @app_commands.describe(
        topic="only stories in this topic",
        min_quality="only stories whose best article has at least this quality (0-190)",
        days="only stories with coverage in the last N days (1-365)",
    )
    async def news(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 100] | None = None,
        min_quality: Quality | None = None,
        days: Days | None = None,
    ) -> None:
        since = self.query.clock() - timedelta(days=days) if days else None

        async def fetch(page: int) -> tuple[Rendered, bool]:
            found = await self.query.stories(
                topic=topic,
                min_quality=min_quality,
                since=since,
                limit=STORIES_PER_PAGE,
                offset=page * STORIES_PER_PAGE,
            )
            shown = embeds.stories_page(found, topic=topic, min_quality=min_quality, days=days)
            return shown, found.has_more

        await self._paged(interaction, fetch)

    @news.autocomplete("topic")
    async def topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await self.query.topic_names(current or "")
        return [
            app_commands.Choice(name=shorten(n, CHOICE_NAME), value=n[:100])
            for n in names[:CHOICES]
            if n
        ]

    # -- /story ---------------------------------------------------------------------------------
    @app_commands.command(name="story", description="One story with every outlet's coverage")
    @app_commands.describe(
        article="a story (pick from the list, or #12 for story 12), or an article's url or title"
    )
    async def story(
        self, interaction: discord.Interaction, article: app_commands.Range[str, 1, 200]
    ) -> None:
        detail = await deferring(interaction, self.query.story_for_article(article))
        pages = embeds.story_pages(detail, COVERAGE_PER_PAGE)

        async def fetch(page: int) -> tuple[Rendered, bool]:
            shown = embeds.story_detail(
                detail, offset=page * COVERAGE_PER_PAGE, per_page=COVERAGE_PER_PAGE
            )
            return shown, page + 1 < pages

        await send_paged(interaction, fetch, expires=self.bot.page_timeout)

    @story.autocomplete("article")
    async def story_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The stories whose titles match, biggest and most recent first, each with its outlet
        count and date; the value is ``#ID`` (a story, as everywhere)."""
        try:
            found = await self.query.story_choices(current or "")
        except UserError:
            return []
        return [
            app_commands.Choice(name=embeds.story_choice_name(s.story), value=f"#{s.story.id}")
            for s in found[:CHOICES]
        ]

    # -- /related -------------------------------------------------------------------------------
    @app_commands.command(name="related", description="Other outlets' coverage of an article")
    @app_commands.describe(article="the article: pick from the list, or paste its url or title")
    async def related(
        self, interaction: discord.Interaction, article: app_commands.Range[str, 1, 200]
    ) -> None:
        async def fetch(page: int) -> tuple[Rendered, bool]:
            found = await self.query.related(
                article, limit=RELATED_PER_PAGE, offset=page * RELATED_PER_PAGE
            )
            return embeds.related_page(found), found.related.has_more

        await self._paged(interaction, fetch)

    @related.autocomplete("article")
    async def article_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Articles whose titles match; the value is ``article:ID`` (never ``#``, a story)."""
        try:
            pairs = await self.query.title_choices(current or "")
        except UserError:
            return []
        return [
            app_commands.Choice(
                name=shorten(squash(title, CHOICE_NAME), CHOICE_NAME) or f"Article {id_}",
                value=f"article:{id_}",
            )
            for id_, title in pairs[:CHOICES]
        ]

    # -- /search --------------------------------------------------------------------------------
    @app_commands.command(name="search", description="Full-text search over titles and excerpts")
    @app_commands.describe(query="words to look for, e.g. facial recognition")
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 200]
    ) -> None:
        async def fetch(page: int) -> tuple[Rendered, bool]:
            found = await self.query.search(
                query, limit=SEARCH_PER_PAGE, offset=page * SEARCH_PER_PAGE
            )
            return embeds.search_page(found, query), found.has_more

        await self._paged(interaction, fetch)
