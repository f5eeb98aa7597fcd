"""``newsbot feeds``: add, list, remove, poll, import (OPML), export (OPML). Each has ``--json``.

Every command first syncs the config's ``[[feeds.sources]]`` into the database, as ``newsbot run``
does at start, so that config feeds show up and can be polled by id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.cli.output import plural, print_json, shorten, table, warn
from bot.config import Config
from bot.domain.feeds import Feed
from bot.services.errors import UserError
from bot.storage.db import open_database

if TYPE_CHECKING:
    from bot.services.feeds import FeedService

# bot.services.feeds (and aiohttp behind it) is imported only when a feeds command runs, so that
# every other command starts without it.


def feed_dict(feed: Feed) -> dict[str, Any]:
    from bot.services.feeds import feed_dict as as_dict

    return as_dict(feed)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not 1 <= value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError("must be from 1 to 10080 minutes")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    feeds = sub.add_parser("feeds", help="follow RSS, Atom and JSON feeds")
    fsub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        p = fsub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.set_defaults(handler=handler)
        return p

    p = add("add", "follow a feed (fetched at the next poll)", cmd_add)
    p.add_argument("url", help="the feed's http(s) url")
    p.add_argument("--name", help="a name to show instead of the feed's title")
    p.add_argument("--topics", help="topics given to every entry, comma-separated")
    p.add_argument("--every", type=_minutes, metavar="MINUTES", help="poll interval")
    add("list", "the feeds, with their state", cmd_list)
    p = add("remove", "stop following a feed (its articles stay)", cmd_remove)
    p.add_argument("feed", metavar="ID|URL", help="the feed's id (from `feeds list`) or url")
    p = add("poll", "fetch the due feeds now (or the named ones), once", cmd_poll)
    p.add_argument(
        "feeds",
        nargs="*",
        metavar="ID|URL",
        help="only these feeds, due or not (default: the due ones)",
    )
    p = add("import", "follow every feed of an OPML file", cmd_import)
    p.add_argument("file", metavar="FILE.opml", help="an OPML file, as other feed readers export")
    add("export", "print the feeds as OPML", cmd_export)


async def _run(config: Config, fn: Callable[[FeedService], Awaitable[int]]) -> int:
    from bot.services.feeds import FeedService

    async with open_database(config.database.path) as db:
        service = FeedService(db, config.feeds, workers=config.ingest.workers)
        await service.sync_config(config.feeds.sources)
        try:
            return await fn(service)
        except UserError as exc:
            print(f"newsbot: {exc}", file=sys.stderr)
            return 1


def _when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else ""


def _next(feed: Feed) -> str:
    if feed.state in ("paused", "retired"):
        return "never"
    return _when(feed.next_fetch_at) if feed.next_fetch_at else "now"


async def cmd_add(args: argparse.Namespace, config: Config) -> int:
    async def go(service: FeedService) -> int:
        feed, created = await service.add(
            args.url, name=args.name, topics=args.topics, every_minutes=args.every
        )
        if args.json:
            print_json({"created": created, "feed": feed_dict(feed)})
        elif created:
            print(f"Added feed #{feed.id}: {feed.url} (fetched at the next poll)")
        else:
            print(f"Feed #{feed.id} already follows {feed.url}")
        return 0

    return await _run(config, go)


async def cmd_list(args: argparse.Namespace, config: Config) -> int:
    async def go(service: FeedService) -> int:
        feeds = await service.feeds()
        if args.json:
            print_json({"feeds": [feed_dict(f) for f in feeds]})
            return 0
        if not feeds:
            print("No feeds yet. Add one: newsbot feeds add URL")
            return 0
        rows = [
            (
                f.id,
                shorten(f.label, 30),
                f.state,
                _when(f.last_fetch_at),
                f.last_status,
                f.last_items,
                _next(f),
                f.error_streak,
                shorten(f.last_error, 50),
            )
            for f in feeds
        ]
        table(
            [
                "id",
                "feed",
                "state",
                "last fetch",
                "http",
                "items",
                "next fetch",
                "errors",
                "last error",
            ],
            rows,
        )
        return 0

    return await _run(config, go)


async def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    async def go(service: FeedService) -> int:
        feed = await service.remove(args.feed)
        if args.json:
            print_json({"removed": feed_dict(feed)})
        else:
            print(f"Removed feed #{feed.id}: {feed.url} (its articles stay)")
        return 0

    return await _run(config, go)


async def cmd_poll(args: argparse.Namespace, config: Config) -> int:
    async def go(service: FeedService) -> int:
        report = await service.poll(args.feeds or None)
        if args.json:
            print_json(report.to_dict())
        else:
            print(
                f"{plural(report.feeds, 'feed')}: {report.fetched} fetched, "
                f"{report.not_modified} not modified, {report.failed} failed; {report.new} new, "
                f"{report.updated} updated, "
                f"{report.unchanged} unchanged articles ({report.seconds:.2f}s)"
            )
            for p in report.problems:
                warn(f"#{p['id']} {p['feed']}: {p['kind']}: {p['message']}")
        return 1 if report.failed else 0

    return await _run(config, go)


def _read(path: str, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)


async def cmd_import(args: argparse.Namespace, config: Config) -> int:
    try:
        data = await asyncio.to_thread(_read, args.file, config.feeds.max_bytes + 1)
    except OSError as exc:
        print(f"newsbot: {args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if len(data) > config.feeds.max_bytes:
        print(f"newsbot: {args.file}: larger than [feeds] max_bytes", file=sys.stderr)
        return 1

    async def go(service: FeedService) -> int:
        report = await service.import_opml(data)
        if args.json:
            print_json(report.to_dict())
        else:
            print(
                f"{args.file}: {plural(len(report.added), 'feed')} added, "
                f"{len(report.existing)} already followed, {len(report.problems)} refused"
            )
            for p in report.problems:
                warn(f"{p['feed']}: {p['message']}")
        return 1 if report.problems else 0

    return await _run(config, go)


async def cmd_export(args: argparse.Namespace, config: Config) -> int:
    async def go(service: FeedService) -> int:
        text = await service.export_opml()
        if args.json:
            print_json({"opml": text})
        else:
            sys.stdout.write(text)
        return 0

    return await _run(config, go)
