"""The ``newsbot`` command line: argument parsing, logging, config, and dispatch.

Each command opens its resources in one place (``async with``) and closes them on the way out;
``newsbot run`` is the bot's composition root (``bot.cli.run``). Global options (``--db``,
``--config``, ``-v``, and ``--json`` for the commands that have it) are accepted before or after
the command. Results go to stdout; errors and warnings to stderr; exit codes are listed in
:mod:`bot.cli.errors` and docs/cli.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import data, db, digests, feeds, queries, stories_admin
from bot.cli.errors import (
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    database_message,
    user_exit_code,
    user_message,
)
from bot.cli.output import console, make_table, warn
from bot.config import Config, ConfigError, load_config
from bot.services.errors import UserError
from bot.storage.db import StorageError, driver_errors

__all__ = ["EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE", "build_parser", "main"]

DESCRIPTION = "Self-hosted Discord bot for news articles: ingest, query, digests."
EPILOG = (
    "Global options (--db, --config, -v, --log-format, --json) go before or after the command. "
    "`newsbot help COMMAND` shows a command's options. Exit codes: 0 ok, 1 not found or files "
    "rejected, 2 usage or configuration error, 3 database error, 130/143 interrupted."
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default after its help, unless there is none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or default in ([], ())
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return f"{text} (default: %(default)s)"


class CommandParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _add_globals(parser: argparse.ArgumentParser) -> None:
    """The global options; SUPPRESS defaults so a value given before the command survives."""
    group = parser.add_argument_group("global options")
    s = argparse.SUPPRESS
    group.add_argument(
        "--config",
        default=s,
        metavar="FILE",
        help="config file (default: $NEWSBOT_CONFIG, else ./config.toml when present)",
    )
    group.add_argument(
        "--db",
        default=s,
        metavar="PATH",
        help="database: a SQLite file or sqlite:///PATH, or postgresql://USER@HOST/DB "
        "(default: $NEWSBOT_DB, else [database] url or path, else ./newsbot.db)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=s,
        help="log at DEBUG level; show all warnings",
    )
    group.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=s,
        help="log lines as text or one JSON object a line (default: [logging] format, or text)",
    )


def _has_json(parser: argparse.ArgumentParser) -> bool:
    return any(a.dest == "json" for a in parser._actions)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="newsbot", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    _add_globals(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as one JSON object (commands that support it)",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=CommandParser, title="commands"
    )
    data.register(sub)
    queries.register(sub)
    digests.register(sub)
    stories_admin.register(sub)
    feeds.register(sub)
    db.register(sub)
    _register_bot_commands(sub)
    p = sub.add_parser("help", help="list the commands, or show one command's options")
    p.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to explain")
    p.set_defaults(handler=None)
    _finish(parser, sub)
    return parser


def _finish(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """Give every command (whichever module registered it) the global options, its one-line help
    as description, and a ``--json`` that does not reset a ``--json`` given before the command."""
    _finish_commands(sub)
    parser.set_defaults(_commands=sub)


def _finish_commands(sub: argparse._SubParsersAction) -> None:
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, p in sub.choices.items():
        if not any(a.dest == "db" for a in p._actions):
            _add_globals(p)
        for action in p._actions:
            if action.dest == "json":
                action.default = argparse.SUPPRESS
                action.help = action.help or "print the result as one JSON object"
            if isinstance(action, argparse._SubParsersAction):
                _finish_commands(action)
        if not p.description and helps.get(name):
            p.description = str(helps[name])[:1].upper() + str(helps[name])[1:] + "."


def _leaf(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command that was chosen: ``digests list`` -> its own parser."""
    while True:
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            return parser
        name = getattr(args, nested[0].dest, None)
        if name is None or name not in nested[0].choices:
            return parser
        parser = nested[0].choices[name]


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


def print_commands(parser: argparse.ArgumentParser) -> None:
    """``newsbot`` / ``newsbot help``: every command with its one line."""
    sub: argparse._SubParsersAction = parser.get_default("_commands")
    out = console()
    out.print(f"newsbot {__version__}: {DESCRIPTION}")
    out.print()
    out.print(
        "Usage: newsbot [--db PATH] [--config FILE] [-v] [--log-format F] COMMAND [--json] ..."
    )
    out.print()
    rows = [(a.dest, a.help or "") for a in sub._choices_actions]
    table = make_table(["command", "what it does"], rows, wrap=["what it does"])
    out.print(table)
    out.print()
    out.print("`newsbot help COMMAND` (or `newsbot COMMAND --help`) shows a command's options.")


def _help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    if not topic:
        print_commands(parser)
        return EXIT_OK
    sub: argparse._SubParsersAction = parser.get_default("_commands")
    chosen = sub.choices.get(topic)
    if chosen is None:
        warn(f"newsbot: no command called {topic!r}. Run `newsbot help` for the list.")
        return EXIT_USAGE
    chosen.print_help()
    return EXIT_OK


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


def parse(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.db = getattr(args, "db", None)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    args.log_format = getattr(args, "log_format", None)
    if args.command and args.command != "help":
        chosen = _leaf(parser.get_default("_commands").choices[args.command], args)
        if getattr(args, "json", False) and not _has_json(chosen):
            chosen.error(f"--json is not available for `newsbot {args.command}`")
        if _has_json(chosen):
            args.json = getattr(args, "json", False)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse(argv)
    if args.command is None:
        print_commands(parser)
        return EXIT_OK
    if args.command == "help":
        return _help(parser, args.topic)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        warn(f"newsbot: configuration error: {exc}")
        return EXIT_USAGE
    if args.db:
        from dataclasses import replace

        config = replace(config, database=replace(config.database, path=args.db))
    _setup_logging(config, args.verbose, args.command, args.log_format)
    try:
        return asyncio.run(args.handler(args, config))
    except UserError as exc:
        warn(f"newsbot: {user_message(exc)}")
        return user_exit_code(exc)
    except ConfigError as exc:
        warn(f"newsbot: configuration error: {exc}")
        return EXIT_USAGE
    except (StorageError, *driver_errors()) as exc:  # type: ignore[misc]
        warn(f"newsbot: {database_message(exc, config.database.path)}")
        return EXIT_DATABASE
    except KeyboardInterrupt:
        warn("newsbot: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        import errno

        if exc.errno != errno.ENOSPC:
            raise
        warn(f"newsbot: {database_message(exc, config.database.path)}")
        return EXIT_DATABASE
