"""The ``newsbot`` command line: argument parsing, logging, config, and dispatch.

Each command opens its resources in one place (``async with``) and closes them on the way out;
``newsbot run`` is the bot's composition root (``bot.cli.run``). Exit codes: 0 success, 1 some input
was rejected (e.g. files that could not be loaded), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import data, db, queries
from bot.config import Config, ConfigError, load_config
from bot.storage.db import StorageError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="Self-hosted Discord bot for news articles: ingest, query, digests.",
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    parser.add_argument("--config", help="config file (default: ./config.toml or $NEWSBOT_CONFIG)")
    parser.add_argument("--db", help="SQLite database (default: newsbot.db or $NEWSBOT_DB)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text or one JSON object a line (default: [logging] format, or text)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data.register(sub)
    queries.register(sub)
    db.register(sub)
    _register_bot_commands(sub)
    return parser


def _register_bot_commands(sub: argparse._SubParsersAction) -> None:
    """``run`` and ``sync-commands``; discord.py is imported only when one of them runs, so
    that data commands (ingest, preview, ...) start fast."""

    def lazy(name: str):
        async def handler(args: argparse.Namespace, config: Config) -> int:
            from bot.cli import run

            return await getattr(run, name)(args, config)

        return handler

    p = sub.add_parser("run", help="connect to Discord and answer slash commands until stopped")
    p.set_defaults(handler=lazy("cmd_run"))
    p = sub.add_parser("sync-commands", help="register the slash commands with Discord")
    p.add_argument(
        "--guild", type=int, metavar="ID", help="register in this server only (shows up at once)"
    )
    p.set_defaults(handler=lazy("cmd_sync_commands"))


def _setup_logging(config: Config, verbose: bool, command: str, fmt: str | None = None) -> None:
    """The bot logs at the configured level; one-shot commands only warn unless ``-v``, so that
    their own output is not drowned (ingest still reports every rejected file itself)."""
    level = getattr(logging, config.log_level)
    if command not in ("run", "sync-commands"):
        level = max(level, logging.WARNING)
    from bot.ops.logs import install

    install(
        logging.DEBUG if verbose else level,
        fmt or config.logging.format,
        secrets=(config.discord.token,),  # never in a log line, in either format
    )
    logging.getLogger("discord").setLevel(logging.INFO if not verbose else logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"newsbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.db:
        from dataclasses import replace

        config = replace(config, database=replace(config.database, path=args.db))
    _setup_logging(config, args.verbose, args.command, args.log_format)
    try:
        return asyncio.run(args.handler(args, config))
    except (StorageError, ConfigError) as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
