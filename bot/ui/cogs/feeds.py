"""The ``/feed`` commands (add, list, remove, status): the host's feeds, managed from Discord.

Registered only when the host sets ``[feeds] discord_admins = true`` (feeds are the host's: every
server the bot is in reads the same store). The group is ``guild_only`` with
``default_permissions(manage_guild)`` and every command checks ``manage_guild`` again at run time,
as ``/digest`` does. Replies are ephemeral and sent with ``AllowedMentions.none()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.feeds import Feed
from bot.services.feeds import FeedService
from bot.ui.embeds import Rendered, rendered
from bot.ui.limits import CHOICE_NAME, CHOICES, join_lines
from bot.ui.respond import deferring, send
from bot.ui.text import md, plain, timestamp
from bot.ui.text import shorten as ui_shorten
from bot.ui.tree import require_manager

if TYPE_CHECKING:
    from bot.ui.bot import NewsBot

COLOUR = 0x2B6CB0
_STATE_ICON = {"active": "🟢", "failing": "🟠", "paused": "⏸️", "retired": "⚫"}


def _label(feed: Feed, limit: int = 80) -> str:
    return md(feed.label, limit)


def _next(feed: Feed) -> str:
    if feed.state in ("paused", "retired"):
        return "never (poll it by id to retry)"
    return timestamp(feed.next_fetch_at) or "at the next poll"


def feed_list(feeds: Sequence[Feed]) -> Rendered:
    if not feeds:
        return Rendered("No feeds yet. Add one with `/feed add`.")
    lines = [
        f"{_STATE_ICON.get(f.state, '')} **#{f.id}** {_label(f)} · {f.state}"
        f"{f' · {f.error_streak} errors' if f.error_streak else ''}"
        for f in feeds
    ]
    embed = discord.Embed(
        title=f"Feeds ({len(feeds)})", description=join_lines(lines, 4000), colour=COLOUR
    )
    return rendered([embed])


def feed_status(feed: Feed) -> Rendered:
    embed = discord.Embed(title=f"Feed #{feed.id}: {plain(feed.label, 200)}", colour=COLOUR)
    embed.description = md(feed.url, 1000)
    fields = [
        ("State", f"{_STATE_ICON.get(feed.state, '')} {feed.state}"),
        ("Last fetch", timestamp(feed.last_fetch_at) or "never"),
        ("HTTP status", str(feed.last_status) if feed.last_status is not None else "none"),
        ("Items", str(feed.last_items) if feed.last_items is not None else "none yet"),
        ("Next fetch", _next(feed)),
        ("Error streak", str(feed.error_streak)),
    ]
    if feed.topics:
        fields.append(("Topics", md(", ".join(feed.topics), 1000)))
    if feed.last_error:
        fields.append(("Last error", md(feed.last_error, 1000)))
    for name, value in fields:
        embed.add_field(name=name, value=value or "-", inline=name not in ("Last error", "Topics"))
    return rendered([embed])


class FeedCog(commands.Cog):
    feed = app_commands.Group(
        name="feed",
        description="The feeds this bot follows (host-enabled)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: NewsBot, service: FeedService) -> None:
        self.bot = bot
        self.service = service

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manager(interaction)

    async def _reply(self, interaction: discord.Interaction, shown: Rendered) -> None:
        await send(interaction, shown, ephemeral=True)

    @feed.command(name="add", description="Follow an RSS, Atom or JSON feed")
    @app_commands.describe(
        url="the feed's http(s) url",
        name="a name to show instead of the feed's title",
        topics="topics given to every entry, comma-separated",
        every="minutes between fetches (default: the host's setting)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 2000],
        name: app_commands.Range[str, 1, 100] | None = None,
        topics: app_commands.Range[str, 0, 500] | None = None,
        every: app_commands.Range[int, 1, 10080] | None = None,
    ) -> None:
        feed, created = await self.service.add(url, name=name, topics=topics, every_minutes=every)
        if created:
            text = f"Added feed #{feed.id}: {md(feed.url, 500)}. It is fetched at the next poll."
        else:
            text = f"Feed #{feed.id} already follows {md(feed.url, 500)}."
        await self._reply(interaction, Rendered(text))

    @feed.command(name="list", description="The feeds and their state")
    async def list_(self, interaction: discord.Interaction) -> None:
        feeds = await deferring(interaction, self.service.feeds(), ephemeral=True)
        await self._reply(interaction, feed_list(feeds))

    @feed.command(name="remove", description="Stop following a feed (its articles stay)")
    @app_commands.describe(feed="the feed to remove")
    async def remove(self, interaction: discord.Interaction, feed: int) -> None:
        gone = await self.service.remove(feed)
        await self._reply(interaction, Rendered(f"Removed feed #{gone.id}: {_label(gone, 200)}."))

    @feed.command(name="status", description="Last fetch, HTTP status, items and next fetch")
    @app_commands.describe(feed="the feed (default: all, briefly)")
    async def status(self, interaction: discord.Interaction, feed: int | None = None) -> None:
        if feed is None:
            feeds = await deferring(interaction, self.service.feeds(), ephemeral=True)
            await self._reply(interaction, feed_list(feeds))
            return
        found = await self.service.find(feed)
        await self._reply(interaction, feed_status(found))

    @remove.autocomplete("feed")
    @status.autocomplete("feed")
    async def feed_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        key = str(current or "").casefold().lstrip("#")
        out = []
        for f in await self.service.feeds():
            label = f"#{f.id} {f.label} · {f.state}"
            if key in label.casefold():
                out.append(app_commands.Choice(name=ui_shorten(label, CHOICE_NAME), value=f.id))
        return out[:CHOICES]


async def setup_feeds(bot: NewsBot) -> None:
    """NewsBot extension: add ``/feed`` (the composition root adds it only when enabled)."""
    service = bot.services.extra.get("feeds")
    if service is not None:
        await bot.add_cog(FeedCog(bot, service))
