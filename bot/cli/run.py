"""The bot's composition root: ``newsbot run`` and ``newsbot sync-commands``.

One ``AsyncExitStack`` opens the database, builds the services and the bot, and closes them in
reverse order (bot first, database last). Optional features (digests) plug in through
:func:`build_extensions`, the one place that wires them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.cli.run_roles import choose_shards, coordinate, coordination_extension, describe_shards
from bot.config import Config, DiscordConfig
from bot.domain.coordination import Shards
from bot.ops.health import Heartbeat
from bot.ops.metrics import Metrics
from bot.ops.service import Ops, serve_ops
from bot.scheduler import DigestScheduler, FeedScheduler
from bot.services.digest import DigestService
from bot.services.feeds import FeedService
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage.backup import DatabaseInUse, database_kind, run_lock
from bot.storage.db import StorageError, open_database
from bot.storage.dialect import display_target
from bot.ui.bot import (
    INVITE_PERMISSIONS,
    CloseHook,
    Extension,
    NewsBot,
    Services,
    ShardedNewsBot,
)
from bot.ui.cogs.digest import setup_digests
from bot.ui.cogs.feeds import setup_feeds

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# After SIGTERM/SIGINT: the gateway client gets CANCEL_AFTER seconds to return by itself (it
# may sit in discord.py's reconnect back-off), then is cancelled; whatever still runs at
# EXIT_AFTER seconds is abandoned and the process exits (a service manager waits 10 s).
CANCEL_AFTER = 3.0
EXIT_AFTER = 8.0

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
    coordinator = services.extra.get("coordinator")
    scheduler: DigestScheduler | None = None
    if services.digests is not None:
        scheduler = DigestScheduler(services.digests)
        services.extra["scheduler"] = scheduler  # the composition root adds the health heartbeat
        extensions.append(setup_digests)
        if coordinator is None:
            extensions.append(scheduler.extension())
        hooks.append(scheduler.close_hook())
    feeds = services.extra.get("feeds")
    if feeds is not None:
        poller = FeedScheduler(feeds, config.feeds.sources, tick_seconds=config.feeds.check_seconds)
        health = services.extra.get("health")
        if health is not None:
            health.add("feeds", poller.check)  # /readyz: no feed poll stuck or overdue
        if config.feeds.discord_admins:
            extensions.append(setup_feeds)
        extensions.append(poller.extension())
        hooks.append(poller.close_hook())
    if coordinator is not None:
        extension, hook = coordination_extension(coordinator, scheduler, services)
        extensions.append(extension)
        hooks.append(hook)
    return extensions, hooks


@asynccontextmanager
async def open_bot(
    config: Config,
    *,
    serving: bool = True,
    database: str | None = None,
    shards: Shards | None = None,
) -> AsyncIterator[NewsBot]:
    """Run lock -> database -> services -> bot -> ops (health, metrics), closed in reverse order.

    A SQLite file is held under the run lock (a second ``newsbot run`` on it is refused); on a
    PostgreSQL database several processes coordinate through it (leases and claims, see
    ``bot.services.coordination``). ``shards``: the gateway shards of this process.

    When serving with ``[http] listen`` set, metrics are collected (the services report to them)
    and the health/metrics server runs; ``bot.services.extra["ops"]`` is the :class:`Ops`.
    """
    async with AsyncExitStack() as stack:
        path = database or config.database.path
        # the run lock is a SQLite file lock; on PostgreSQL processes coordinate in the database
        shared = database_kind(path) != "sqlite"
        if serving and not shared:
            try:
                await asyncio.to_thread(stack.enter_context, run_lock(path))
            except DatabaseInUse as exc:
                raise StorageError(str(exc)) from exc
        db = await stack.enter_async_context(open_database(path))
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
        if serving:
            # Leases, claims and pacing on a connection of their own: a renewal never waits
            # behind the writer's queue (10,000 digests being planned, an ingest).
            coord_db = (
                await stack.enter_async_context(open_database(path, readers=0)) if shared else db
            )
            coordinate(config, coord_db, services, shared)
        ops = Ops(Metrics(), Heartbeat()) if serving and config.http.listen else None
        if ops is not None:
            services.ingest.events = ops.metrics
            if services.digests is not None:
                services.digests.delivery.events = ops.metrics
            services.extra["ops"] = ops
            services.extra["health"] = ops.health  # where other parts add checks (feeds)
            services.extra["feeds"].events = ops.metrics
        extensions, close_hooks = build_extensions(config, services)
        options: dict[str, Any] = {}
        bot_class: type[NewsBot] = NewsBot
        if serving and shards is not None and shards.sharded:
            bot_class = ShardedNewsBot
            options.update(shard_ids=list(shards.ids) if shards.ids else None)
            options.update(shard_count=shards.count)
        bot = bot_class(
            services=services,
            config=config,
            extensions=extensions,
            on_close=close_hooks,
            serving=serving,
            coordinated=serving,
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
            **options,
        )
        await stack.enter_async_context(bot)  # closed (bot.close) before the database
        if ops is not None:
            bot.tree.events = ops.metrics  # type: ignore[attr-defined]
            scheduler = services.extra.get("scheduler")
            if scheduler is not None:
                scheduler.add_heartbeat(ops.heartbeat.beat, ops.heartbeat.period)
            ops.add_standard_checks(db, bot)
            ops.add_scrape_hooks(db)
            await stack.enter_async_context(serve_ops(config, ops))  # closed before the bot
        yield bot


def _handle_signals(bot: NewsBot, gateway: asyncio.Task[None]) -> Callable[[], None]:
    """SIGINT / SIGTERM -> ``bot.close()``, bounded: the gateway task is cancelled after
    :data:`CANCEL_AFTER` s and the process exits at :data:`EXIT_AFTER` s whatever still runs.
    Returns a function that removes the handlers. The exit timer stays armed once started: the
    interpreter's own teardown (executor threads) is inside the bound too."""
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()
    timers: list[threading.Timer] = []

    def stop(name: str) -> None:
        if timers:  # a second signal: the shutdown under way is already bounded
            log.info("%s received again: still shutting down", name)
            return
        log.info("%s received: shutting down", name)
        exit_timer = threading.Timer(EXIT_AFTER, _exit_now)
        exit_timer.daemon = True
        exit_timer.start()
        timers.append(exit_timer)
        task = loop.create_task(bot.close())
        closing.add(task)
        task.add_done_callback(closing.discard)
        loop.call_later(CANCEL_AFTER, _cancel_gateway, gateway)

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


def _cancel_gateway(gateway: asyncio.Task[None]) -> None:
    if not gateway.done():
        log.info("the gateway connection did not end by itself (reconnect back-off?): cancelled")
        gateway.cancel()


def _exit_now() -> None:
    """The last resort, from a timer thread: the shutdown overran its bound."""
    log.error("shutdown did not finish within %.0f s: exiting now", EXIT_AFTER)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_FAILED)


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    token = config.discord.token
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    try:
        shards = choose_shards(args, config.discord)
    except ValueError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    point_at_endpoints(config.discord)
    log.info(
        "starting newsbot: database %s, sources %s, rescan every %g min, %s",
        display_target(config.database.path),
        ", ".join(config.ingest.sources),
        config.ingest.rescan_minutes,
        describe_shards(shards),
    )
    try:
        code = await _run(config, token, shards)
    except OSError as exc:  # e.g. the health server's port is taken
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if code == EXIT_OK:
        log.info("newsbot stopped")
    return code


async def _run(config: Config, token: str, shards: Shards | None = None) -> int:
    async with open_bot(config, shards=shards) as bot:
        if shards is not None and not shards.gateway:
            connect = bot.run_without_gateway(token)
        else:
            connect = bot.start(token)
        gateway = asyncio.create_task(connect, name="newsbot-gateway")
        remove_handlers = _handle_signals(bot, gateway)
        try:
            await gateway
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves
            # cancelled by the shutdown bound: a normal stop
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
