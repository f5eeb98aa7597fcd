"""The ``/digest`` commands, and the Discord adapter the digest service posts through.

The group is ``guild_only`` with ``default_permissions(manage_guild)``, and every command checks
``interaction.permissions.manage_guild`` again at run time, so a server that changes the
integration's command permissions cannot open it to everyone. Every reply is sent with
``AllowedMentions.none()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.digest import Subscription, next_fire
from bot.domain.digest_messages import MessagePlan
from bot.domain.timezones import zone_choices
from bot.services.digest import (
    ChannelGone,
    DeliveryError,
    DigestService,
    PostForbidden,
    PostRejected,
    PostTransient,
)
from bot.services.errors import BadInput, UserError
from bot.ui import digest_render as render
from bot.ui.embeds import Rendered
from bot.ui.limits import CHOICE_NAME, CHOICES
from bot.ui.options import Quality
from bot.ui.respond import deferring, send
from bot.ui.text import md, shorten
from bot.ui.tree import NO_MENTIONS, require_manager

if TYPE_CHECKING:
    from bot.ui.bot import NewsBot

log = logging.getLogger(__name__)

NEEDED = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)
GLOBAL_RATE = 48.0  # requests/s: just under Discord's 50/s global limit, so no 429 storms


# -- the poster ----------------------------------------------------------------------------------
class Pacer:
    """Spaces calls at least ``1 / rate`` seconds apart (a token bucket holding one token).

    discord.py only learns of the global limit from 429 replies; without this, a fan-out of a
    thousand posts would earn hundreds of 429s (which Discord counts towards a temporary ban).
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def missing_permissions(channel: discord.abc.GuildChannel, me: discord.Member) -> list[str]:
    perms = channel.permissions_for(me)
    return [label for attr, label in NEEDED if not getattr(perms, attr)]


SHARED_SENDING = 4  # posts in flight at once per process when the pacing is shared


class DiscordPoster:
    """The digest service's :class:`~bot.services.digest.Poster`, over discord.py's HTTP client."""

    def __init__(
        self,
        client: discord.Client,
        *,
        rate: float | None = GLOBAL_RATE,
        pacer: Any = None,
        sending: int | None = None,
    ) -> None:
        """``pacer``: an object whose ``await wait()`` spaces the posts (e.g. the pacing shared
        by every process on the database); default: a :class:`Pacer` at ``rate``.

        ``sending``: at most this many posts in flight at once. After a global 429 discord.py
        holds every request of the client, then lets them all go at once; with posts paced by
        several processes that burst earns more 429s. The bound keeps it short."""
        self.client = client
        self.pacer = pacer if pacer is not None else (Pacer(rate) if rate else None)
        self._sending = asyncio.Semaphore(sending) if sending else None

    async def post(self, channel_id: int, message: MessagePlan, *, nonce: str) -> int:
        if self.pacer is not None:
            await self.pacer.wait()
        if self._sending is None:
            return await self._send(channel_id, message, nonce)
        async with self._sending:
            return await self._send(channel_id, message, nonce)

    async def _send(self, channel_id: int, message: MessagePlan, nonce: str) -> int:
        channel = self.client.get_partial_messageable(channel_id)
        try:
            sent = await channel.send(**render.message_kwargs(message), nonce=nonce)
        except discord.Forbidden as exc:
            raise PostForbidden(_reason(exc, "missing access or permission")) from exc
        except discord.NotFound as exc:
            raise ChannelGone(_reason(exc, "the channel no longer exists")) from exc
        except discord.RateLimited as exc:
            raise PostTransient(f"rate limited for {exc.retry_after:.0f} s") from exc
        except discord.HTTPException as exc:
            if exc.status >= 500 or exc.status == 429:
                raise PostTransient(_reason(exc, "Discord server error")) from exc
            if exc.status == 400:
                raise PostRejected(_reason(exc, "Discord refused the message")) from exc
            raise DeliveryError(_reason(exc, "Discord refused the message")) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise PostTransient(f"network error: {exc}") from exc
        return sent.id


def _reason(exc: discord.HTTPException, fallback: str) -> str:
    text = exc.text or fallback
    return f"{exc.status} {text} (code {exc.code})" if exc.code else f"{exc.status} {text}"


# -- the commands --------------------------------------------------------------------------------
class DigestCog(commands.Cog):
    digest = app_commands.Group(
        name="digest",
        description="Daily digests of new stories, posted in a channel",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: NewsBot, service: DigestService) -> None:
        self.bot = bot
        self.service = service
        self.query = bot.services.query

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manager(interaction)

    @staticmethod
    def _check_channel(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        guild = interaction.guild
        me = guild.me if guild is not None else None
        if me is None:
            raise BadInput("I cannot see that server's member list yet; try again in a minute.")
        missing = missing_permissions(channel, me)
        if missing:
            raise BadInput(
                f"I cannot post digests in {channel.mention}: I am missing "
                f"{', '.join(missing)} there. Give my role those permissions, then try again."
            )

    async def _reply(self, interaction: discord.Interaction, shown: Rendered) -> None:
        await send(interaction, shown, ephemeral=True)

    # -- subscribe / edit / unsubscribe ---------------------------------------------------------
    @digest.command(name="subscribe", description="Post a daily digest of new stories in a channel")
    @app_commands.describe(
        channel="where to post",
        time="local time of day, 24-hour HH:MM (e.g. 08:30)",
        timezone="IANA time zone, e.g. Europe/London",
        topics="only these topics, comma-separated (default: all)",
        min_quality="only stories whose best article has at least this quality",
        max_stories="at most this many stories (1-25, default 10)",
        include="only stories mentioning one of these words, comma-separated",
        exclude="no stories mentioning any of these words, comma-separated",
        name="a name for the digest",
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        time: app_commands.Range[str, 1, 10],
        timezone: app_commands.Range[str, 1, 64],
        topics: app_commands.Range[str, 0, 500] | None = None,
        min_quality: Quality | None = None,
        max_stories: app_commands.Range[int, 1, 25] | None = None,
        include: app_commands.Range[str, 0, 500] | None = None,
        exclude: app_commands.Range[str, 0, 500] | None = None,
        name: app_commands.Range[str, 1, 80] | None = None,
    ) -> None:
        self._check_channel(interaction, channel)
        sub = await self.service.subscribe(
            guild_id=interaction.guild_id or 0,
            channel_id=channel.id,
            time=time,
            timezone=timezone,
            name=name,
            topics=topics,
            min_quality=min_quality,
            max_stories=max_stories,
            include=include,
            exclude=exclude,
        )
        next_run = next_fire(sub.time, sub.zone, self.service.clock())
        await self._reply(interaction, render.subscribed(sub, next_run))

    @digest.command(name="edit", description="Change a digest (this also resumes a paused one)")
    @app_commands.describe(
        digest="the digest to change",
        channel="where to post",
        time="local time of day, 24-hour HH:MM",
        timezone="IANA time zone",
        topics="topics, comma-separated (an empty value clears them)",
        min_quality="minimum quality (0 clears it)",
        max_stories="at most this many stories (1-25)",
        include="words to require, comma-separated (an empty value clears them)",
        exclude="words to exclude, comma-separated (an empty value clears them)",
        name="a new name",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        digest: int,
        channel: discord.TextChannel | None = None,
        time: app_commands.Range[str, 1, 10] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        topics: app_commands.Range[str, 0, 500] | None = None,
        min_quality: Quality | None = None,
        max_stories: app_commands.Range[int, 1, 25] | None = None,
        include: app_commands.Range[str, 0, 500] | None = None,
        exclude: app_commands.Range[str, 0, 500] | None = None,
        name: app_commands.Range[str, 1, 80] | None = None,
    ) -> None:
        if channel is not None:
            self._check_channel(interaction, channel)
        sub = await self.service.edit(
            interaction.guild_id or 0,
            digest,
            channel_id=channel.id if channel else None,
            time=time,
            timezone=timezone,
            name=name,
            topics=topics,
            min_quality=min_quality,
            max_stories=max_stories,
            include=include,
            exclude=exclude,
        )
        next_run = next_fire(sub.time, sub.zone, self.service.clock())
        await self._reply(interaction, render.subscribed(sub, next_run, "Updated"))

    @digest.command(name="unsubscribe", description="Stop and remove a digest")
    @app_commands.describe(digest="the digest to remove")
    async def unsubscribe(self, interaction: discord.Interaction, digest: int) -> None:
        sub = await self.service.unsubscribe(interaction.guild_id or 0, digest)
        text = f"Removed digest #{sub.id} ({md(sub.name, 100)}) from <#{sub.channel_id}>."
        await self._reply(interaction, Rendered(text))

    # -- list / status --------------------------------------------------------------------------
    @digest.command(name="list", description="The digests of this server")
    async def list_(self, interaction: discord.Interaction) -> None:
        subs = await deferring(
            interaction, self.service.subscriptions(interaction.guild_id or 0), ephemeral=True
        )
        await self._reply(interaction, render.subscription_list(subs))

    @digest.command(name="status", description="Next run, last run and last error of each digest")
    async def status(self, interaction: discord.Interaction) -> None:
        found = await deferring(
            interaction, self.service.status(interaction.guild_id or 0), ephemeral=True
        )
        problems = self._posting_problems(interaction, [st.subscription for st in found])
        await self._reply(interaction, render.status_page(found, problems))

    @staticmethod
    def _posting_problems(
        interaction: discord.Interaction, subs: list[Subscription]
    ) -> dict[int, str]:
        """Why the bot cannot post each digest's channel now: the missing permissions named."""
        guild = interaction.guild
        me = guild.me if guild is not None else None
        if guild is None or me is None:
            return {}
        out: dict[int, str] = {}
        for sub in subs:
            channel = guild.get_channel(sub.channel_id)
            if channel is None:
                out[sub.id] = "the channel is gone, or I cannot see it"
                continue
            missing = missing_permissions(channel, me)
            if missing:
                out[sub.id] = f"I am missing {', '.join(missing)} there"
        return out

    # -- preview / send-now ---------------------------------------------------------------------
    @digest.command(name="preview", description="See (only you) exactly what would be posted now")
    @app_commands.describe(digest="the digest to preview")
    async def preview(self, interaction: discord.Interaction, digest: int) -> None:
        plan = await deferring(
            interaction, self.service.preview(interaction.guild_id or 0, digest), ephemeral=True
        )
        await self._reply(interaction, Rendered(render.preview_intro(plan.subscription, plan)))
        for message in plan.messages:
            await interaction.followup.send(**render.message_kwargs(message), ephemeral=True)

    @digest.command(name="send-now", description="Post the digest now (the daily one still runs)")
    @app_commands.describe(digest="the digest to post")
    async def send_now(self, interaction: discord.Interaction, digest: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        sub = await self.service.get(guild_id, digest)
        result = await self.service.send_now(guild_id, digest)
        await interaction.followup.send(
            render.send_result(sub, result), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # -- autocomplete ---------------------------------------------------------------------------
    @edit.autocomplete("digest")
    @unsubscribe.autocomplete("digest")
    @preview.autocomplete("digest")
    @send_now.autocomplete("digest")
    async def digest_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        subs = await self.service.subscriptions(interaction.guild_id)
        key = str(current or "").casefold().lstrip("#")
        out = []
        for sub in subs:
            label = f"#{sub.id} {sub.name} · {sub.time_text} {sub.timezone}"
            if key in label.casefold():
                out.append(app_commands.Choice(name=shorten(label, CHOICE_NAME), value=sub.id))
        return out[:CHOICES]

    @subscribe.autocomplete("timezone")
    @edit.autocomplete("timezone")
    async def timezone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = zone_choices(current or "", datetime.now(UTC), CHOICES)
        return [app_commands.Choice(name=name, value=value) for name, value in found]

    @subscribe.autocomplete("topics")
    @edit.autocomplete("topics")
    async def topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Several topics, comma-separated: complete the last one, keep the ones before."""
        done, _, last = (current or "").rpartition(",")
        chosen = [t.strip() for t in done.split(",") if t.strip()]
        prefix = ", ".join(chosen)
        try:
            names = await self.query.topic_names(last.strip())
        except UserError:
            return []
        out = []
        for name in names:
            if name.casefold() in {c.casefold() for c in chosen}:
                continue
            value = f"{prefix}, {name}" if prefix else name
            if len(value) <= 100:
                out.append(app_commands.Choice(name=shorten(value, CHOICE_NAME), value=value))
        return out[:CHOICES]


async def setup_digests(bot: NewsBot) -> None:
    """NewsBot extension: attach the Discord poster to the digest service and add /digest."""
    service: DigestService | None = bot.services.digests
    if service is None:
        return
    pacer = bot.services.extra.get("pacer")  # shared by the processes on one database
    service.poster = DiscordPoster(bot, pacer=pacer, sending=SHARED_SENDING if pacer else None)
    await bot.add_cog(DigestCog(bot, service))
