"""The bot: a ``commands.Bot`` with injected services, the built-in cogs, and extension hooks.

Extensions are async callables ``ext(bot)`` run in ``setup_hook`` after the built-in cogs (add
a cog, start a scheduler); ``on_close`` callables run first thing in :meth:`NewsBot.close`.
Background work (the rescan here, a digest scheduler in an extension) runs only when
``bot.serving`` is true: ``newsbot sync-commands`` builds the same bot with ``serving=False`` just
to register its commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
from discord.ext import commands

from bot.config import Config
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.ui.cogs.help import HelpCog
from bot.ui.cogs.news import NewsCog
from bot.ui.rescan import Rescanner
from bot.ui.tree import NO_MENTIONS, NewsTree
from bot.ui.views import DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

Extension = Callable[["NewsBot"], Awaitable[None]]
CloseHook = Callable[["NewsBot"], Awaitable[None]]

# What the invite link asks for: View Channels, Send Messages, Embed Links, Read Message History.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True
)  # value 84992


@dataclass(slots=True)
class Services:
    """What the Discord layer may call. ``digests`` and ``extra`` are for extensions."""

    query: QueryService
    ingest: IngestService
    digests: Any | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def intents() -> discord.Intents:
    """Guilds only: slash commands need no privileged intent (no members, presences, content)."""
    value = discord.Intents.none()
    value.guilds = True
    return value


class NewsBot(commands.Bot):
    def __init__(
        self,
        *,
        services: Services,
        config: Config,
        extensions: Sequence[Extension] = (),
        on_close: Sequence[CloseHook] = (),
        serving: bool = True,
        coordinated: bool = False,
        page_timeout: float = DEFAULT_TIMEOUT,
        **options: Any,
    ) -> None:
        """``coordinated``: the rescan is leader-only work, started and stopped by the
        process coordination (an extension), not at setup."""
        options.setdefault("intents", intents())
        # newsbot never joins voice: skip discord.py's start-up warnings about voice libraries
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            tree_cls=NewsTree,
            allowed_mentions=NO_MENTIONS,
            **options,
        )
        self.services = services
        self.config = config
        self.serving = serving
        self.coordinated = coordinated
        self.page_timeout = page_timeout
        self.setup_extensions: list[Extension] = list(extensions)
        self.close_hooks: list[CloseHook] = list(on_close)
        self.rescanner = Rescanner(
            services.ingest, config.ingest.sources, config.ingest.rescan_minutes * 60
        )
        self._shutdown: asyncio.Future[None] | None = None
        self._closed = asyncio.Event()

    async def setup_hook(self) -> None:
        await self.add_cog(NewsCog(self))
        await self.add_cog(HelpCog(self))
        for extension in self.setup_extensions:
            await extension(self)
        if not self.serving:
            return
        if not self.coordinated:
            self.rescanner.start()
        if self.config.discord.dev_guild_id:
            await self.sync_dev_guild(self.config.discord.dev_guild_id)

    async def sync_dev_guild(self, guild_id: int) -> None:
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.warning("could not sync commands to dev guild %s: %s", guild_id, exc)
            return
        log.info("synced %d commands to dev guild %s", len(synced), guild_id)

    async def run_without_gateway(self, token: str) -> None:
        """A background worker (``--shard-ids none``): log in over REST (which runs the setup
        hook: digests, feeds, coordination), connect no gateway, return once closed."""
        await self.login(token)
        await self._closed.wait()

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "connected as %s (id %s) to %d guild(s)",
            user,
            user.id if user else "?",
            len(self.guilds),
        )

    async def close(self) -> None:
        """Run the close hooks, stop the rescan (a write in progress finishes), then disconnect.

        Safe to call many times and from a signal handler: every call waits for the one shutdown.
        """
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._shutdown)

    async def _close_once(self) -> None:
        for hook in self.close_hooks:
            try:
                await hook(self)
            except Exception:
                log.exception("a close hook failed")
        await self.rescanner.stop()
        await super().close()
        self._closed.set()


class ShardedNewsBot(NewsBot, commands.AutoShardedBot):
    """The bot over discord.py's AutoShardedBot: ``shard_ids`` (None: all) of ``shard_count``
    shards (None: as many as Discord recommends), in this one process."""
