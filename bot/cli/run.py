"""The bot's composition root: ``newsbot run`` and ``newsbot sync-commands``.

One ``AsyncExitStack`` opens the database, builds the services and the bot, and closes them in
reverse order (bot first, database last). Optional features (digests) plug in through
:func:`build_extensions`, the one place that wires them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import Config, DiscordConfig
from bot.scheduler import DigestScheduler, FeedScheduler
from bot.services.digest import DigestService
from bot.services.feeds import FeedService
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage.db import open_database
from bot.ui.bot import INVITE_PERMISSIONS, CloseHook, Extension, NewsBot, Services
from bot.ui.cogs.digest import setup_digests
from bot.ui.cogs.feeds import setup_feeds

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

NO_TOKEN = """\
newsbot: no Discord bot token configured.

To get one: open https://discord.com/developers/applications, pick your application (or create
one with "New Application"), go to "Bot", press "Reset Token" and copy the token. Then:

    export DISCORD_TOKEN=...        # or [discord] token in config.toml (keep it out of git)

docs/discord.md walks through the whole setup. To see what the bot would post without
connecting to Discord, use `newsbot preview`."""

BAD_TOKEN = (
    "newsbot: Discord rejected the token (401 Unauthorized). Reset it in the developer portal "
    "(Applications -> your app -> Bot -> Reset Token) and set DISCORD_TOKEN again."
)


REVOKED_TOKEN = (
    "newsbot: Discord rejected the token while running (gateway close code 4004, authentication "
    "failed). Reset it in the developer portal (Applications -> your app -> Bot -> Reset Token) "
    "and set DISCORD_TOKEN again."
)
# The longest rate limit discord.py waits out; longer ones (a global 429 of a day) raise, and the
# digest delivery retries later within its grace period instead of stalling every digest.
RATE_LIMIT_WAIT = 60.0


def point_at_endpoints(cfg: DiscordConfig) -> None:
    """Use a REST proxy / gateway other than Discord's own (config or NEWSBOT_DISCORD_* env)."""
    if cfg.api_base:
        Route.BASE = cfg.api_base.rstrip("/")
    if cfg.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(cfg.gateway_url)


def build_extensions(config: Config, services: Services) -> tuple[list[Extension], list[CloseHook]]:
    """Features beyond the built-in commands: ``(setup extensions, close hooks)`` for the bot.

    An extension is ``async def ext(bot: NewsBot)``: add a cog, and when ``bot.serving`` start its
    background work (a scheduler); a close hook stops that work.
    """
    extensions: list[Extension] = []
    hooks: list[CloseHook] = []
    if services.digests is not None:
        scheduler = DigestScheduler(services.digests)
        extensions += [setup_digests, scheduler.extension()]
        hooks.append(scheduler.close_hook())
    feeds = services.extra.get("feeds")
    if feeds is not None:
        poller = FeedScheduler(feeds, config.feeds.sources, tick_seconds=config.feeds.check_seconds)
        if config.feeds.discord_admins:
            extensions.append(setup_feeds)
        extensions.append(poller.extension())
        hooks.append(poller.close_hook())
    return extensions, hooks


@asynccontextmanager
async def open_bot(
    config: Config, *, serving: bool = True, database: str | None = None
) -> AsyncIterator[NewsBot]:
    """Database -> services -> bot, closed in reverse order on the way out."""
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(database or config.database.path))
        query = QueryService(db.reader())  # reads on their own connections: never behind writes
        ingest = IngestService(
            db, max_file_bytes=config.ingest.max_file_bytes, workers=config.ingest.workers
        )
        stack.push_async_callback(ingest.close)  # its parser processes stop before the database
        services = Services(
            query=query,
            ingest=ingest,
            digests=DigestService(
                db, config.digest, score=query.score, topic_name=query.topic_exists
            ),
        )
        services.extra["feeds"] = FeedService(db, config.feeds, workers=config.ingest.workers)
        extensions, close_hooks = build_extensions(config, services)
        bot = NewsBot(
            services=services,
            config=config,
            extensions=extensions,
            on_close=close_hooks,
            serving=serving,
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
        )
        await stack.enter_async_context(bot)  # closed (bot.close) before the database
        yield bot


def _handle_signals(bot: NewsBot) -> Callable[[], None]:
    """SIGINT / SIGTERM -> ``bot.close()``; returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()

    def stop(name: str) -> None:
        log.info("%s received: shutting down", name)
        task = loop.create_task(bot.close())
        closing.add(task)
        task.add_done_callback(closing.discard)

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig.name)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no Unix signals
            log.debug("cannot handle %s here", sig.name)

    def remove() -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    return remove


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    token = config.discord.token
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    point_at_endpoints(config.discord)
    log.info(
        "starting newsbot: database %s, sources %s, rescan every %g min",
        config.database.path,
        ", ".join(config.ingest.sources),
        config.ingest.rescan_minutes,
    )
    async with open_bot(config) as bot:
        remove_handlers = _handle_signals(bot)
        try:
            await bot.start(token)
        except discord.LoginFailure:
            print(BAD_TOKEN, file=sys.stderr)
            return EXIT_USAGE
        except discord.ConnectionClosed as exc:
            if exc.code != 4004:
                raise
            print(REVOKED_TOKEN, file=sys.stderr)
            return EXIT_USAGE
        except (discord.HTTPException, OSError) as exc:  # login failed: Discord down, no network
            print(f"newsbot: cannot log in to Discord: {exc}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            remove_handlers()
            await bot.close()  # waits for a close already under way (e.g. from a signal)
    log.info("newsbot stopped")
    return EXIT_OK


async def cmd_sync_commands(args: argparse.Namespace, config: Config) -> int:
    token = config.discord.token
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    point_at_endpoints(config.discord)
    guild = discord.Object(id=args.guild) if args.guild else None
    # Registering commands reads no data: an in-memory database keeps this command side-effect free.
    async with open_bot(config, serving=False, database=":memory:") as bot:
        try:
            await bot.login(token)  # REST only: no gateway connection is needed to sync
        except discord.LoginFailure:
            print(BAD_TOKEN, file=sys.stderr)
            return EXIT_USAGE
        except (discord.HTTPException, OSError) as exc:
            print(f"newsbot: cannot log in to Discord: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        try:
            synced = await bot.tree.sync(guild=guild)
        except discord.Forbidden:
            print(
                f"newsbot: Discord refused to register commands in server {args.guild}: is the bot "
                "in that server, invited with the applications.commands scope?",
                file=sys.stderr,
            )
            return EXIT_FAILED
        except discord.HTTPException as exc:
            print(f"newsbot: Discord refused the commands: {exc}", file=sys.stderr)
            return EXIT_FAILED
        app_id = bot.application_id
    where = f"in server {args.guild}" if guild else "globally (may take up to an hour to appear)"
    print(f"Registered {len(synced)} commands {where}:")
    for cmd in sorted(synced, key=lambda c: c.name):
        print(f"  /{cmd.name}: {cmd.description}")
    if app_id:
        url = discord.utils.oauth_url(
            app_id, permissions=INVITE_PERMISSIONS, scopes=("bot", "applications.commands")
        )
        print(f"Invite the bot with: {url}")
    return EXIT_OK
