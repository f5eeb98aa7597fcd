"""Data commands: ingest and stats (and the query commands, see ``bot.cli.queries``)."""

from __future__ import annotations

import argparse
import sys

from bot.cli.output import ProgressBar, print_json, table
from bot.config import Config
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage.db import open_database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="load article files, folders or globs into the database")
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder (recursive) or glob")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("stats", help="counts of what the database holds")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=cmd_stats)


async def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    progress = ProgressBar("ingest") if not args.json else None
    async with open_database(config.database.path) as db:
        service = IngestService(
            db, max_file_bytes=config.ingest.max_file_bytes, workers=config.ingest.workers
        )
        try:
            report = await service.ingest(args.paths, progress)
        finally:
            await service.close()
            if progress:
                progress.close()
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{report.files} files: {report.new} new, {report.updated} updated, "
            f"{report.unchanged} unchanged articles; {report.related} related links; "
            f"{len(report.rejected)} rejected ({report.seconds:.2f}s)"
        )
        for w in report.warnings:
            print(f"warning: {w['path']}: {w['warning']}", file=sys.stderr)
        for r in report.rejected:
            print(f"{r['path']}: {r['reason']}")
    return 1 if report.rejected else 0


async def cmd_stats(args: argparse.Namespace, config: Config) -> int:
    async with open_database(config.database.path) as db:
        stats = await QueryService(db).stats()
    if args.json:
        print_json(stats)
    else:
        table(["what", "count"], [(k.replace("_", " "), v) for k, v in stats.items()])
    return 0
