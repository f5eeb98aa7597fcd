"""``newsbot db backup|restore|check|migrate|current|copy``: database care without a database shell.

The work is in :mod:`bot.storage.backup` (SQLite files; on PostgreSQL they refuse and point to
pg_dump) and :mod:`bot.storage.schema` (either backend); blocking calls run in a thread here.
Exit codes: 0 done, 1 the check found a problem or the operation was refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.output import console, make_table, print_json
from bot.config import Config
from bot.storage import backup as care
from bot.storage import schema
from bot.storage.copy import copy_database

EXIT_OK, EXIT_FAILED = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database care: backup, restore, check, migrate, current, copy")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    p = dbsub.add_parser(
        "backup", help="copy the database to PATH (consistent, safe while the bot runs)"
    )
    p.add_argument("path", metavar="PATH", help="backup file, or a folder to put a dated one in")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_backup)

    p = dbsub.add_parser(
        "restore", help="replace the database with the backup at PATH (the bot must be stopped)"
    )
    p.add_argument("path", metavar="PATH", help="a file written by `newsbot db backup`")
    p.add_argument(
        "--no-keep",
        action="store_true",
        help="do not keep a copy of the current database (DB.pre-restore-STAMP.bak)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_restore)

    p = dbsub.add_parser("check", help="integrity check, schema version and counts")
    p.add_argument("path", nargs="?", metavar="PATH", help="database file (default: the bot's)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=cmd_check)

    p = dbsub.add_parser("migrate", help="apply pending schema migrations (prints from -> to)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=cmd_migrate)

    p = dbsub.add_parser(
        "copy",
        help="copy a whole database to another (SQLite <-> PostgreSQL), verified by counts",
        description="Copy every table of SRC into DST (created and migrated if needed, and "
        "then empty), ids kept, each table in one transaction; row counts are compared at the "
        "end. SRC is not changed and must be at this newsbot's schema version.",
    )
    p.add_argument("source", metavar="SRC", help="a SQLite path, sqlite:///path or postgresql://")
    p.add_argument("target", metavar="DST", help="a new (or freshly migrated) database")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted copy: skip the tables already complete (by count)",
    )
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(handler=cmd_copy)

    p = dbsub.add_parser(
        "current", help="the database's dialect, schema version, latest version, pending count"
    )
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=cmd_current)


def _print_report(report: dict[str, Any], title: str) -> None:
    print(title)
    print(f"  integrity:      {report['integrity']}")
    for problem in report["problems"]:
        print(f"    {problem}")
    print(
        f"  schema version: {report['schema_version']} "
        f"(this newsbot: {report['code_schema_version']})"
    )
    for name, count in report["counts"].items():
        print(f"  {name + ':':<22}{count}")
    if "bytes" in report:
        print(f"  size:           {report['bytes'] / 1e6:.1f} MB")


async def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    try:
        report = await asyncio.to_thread(care.backup, config.database.path, args.path)
    except care.BackupError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json(report)
    else:
        _print_report(report, f"Backed up {config.database.path} to {report['path']}")
        print(f"Restore it with: newsbot db restore {report['path']}")
    return EXIT_OK


async def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    try:
        report = await asyncio.to_thread(
            care.restore, args.path, config.database.path, keep_current=not args.no_keep
        )
    except care.BackupError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json(report)
        return EXIT_OK
    _print_report(report, f"Restored {config.database.path} from {args.path}")
    if report["previous_copy"]:
        print(f"The database as it was before is kept at {report['previous_copy']}")
    if report["schema_version"] < report["code_schema_version"]:
        print("The next start migrates it to this newsbot's schema (after a backup copy).")
    return EXIT_OK


async def cmd_check(args: argparse.Namespace, config: Config) -> int:
    path = args.path or config.database.path
    try:
        report = await asyncio.to_thread(care.check, path)
    except care.BackupError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    problems = care.problems_of(report)
    report["ok"] = not problems
    report["bot_running"] = await asyncio.to_thread(care.is_locked, path)
    if args.json:
        print_json(report)
    else:
        _print_report(report, f"Database {path}")
        print(f"  bot running:    {'yes' if report['bot_running'] else 'no'}")
        for problem in problems:
            print(f"newsbot: {path}: {problem}", file=sys.stderr)
    return EXIT_OK if not problems else EXIT_FAILED


async def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    before, after = await asyncio.to_thread(schema.apply, config.database.path)
    if args.json:
        print_json({**after.to_dict(), "from": before.version, "to": after.version})
    elif before.version == after.version:
        print(f"{after.database}: schema version {after.version}, up to date")
    else:
        print(f"{after.database}: migrated schema version {before.version} -> {after.version}")
    return EXIT_OK


async def cmd_current(args: argparse.Namespace, config: Config) -> int:
    state = await asyncio.to_thread(schema.current, config.database.path)
    if args.json:
        print_json(state.to_dict())
        return EXIT_OK
    print(f"Database {state.database}")
    print(f"  dialect:        {state.dialect}")
    print(f"  schema version: {state.version}")
    print(f"  latest known:   {state.latest}")
    print(f"  pending:        {state.pending}")
    return EXIT_OK


async def cmd_copy(args: argparse.Namespace, config: Config) -> int:
    report = await asyncio.to_thread(copy_database, args.source, args.target, resume=args.resume)
    if args.json:
        print_json(report.to_dict())
    else:
        rows = [
            (
                t.table,
                t.source,
                "complete already" if t.skipped else t.copied,
                t.target,
                "ok" if t.ok else "MISMATCH",
            )
            for t in report.tables
        ]
        out = console()
        out.print(f"{report.source} -> {report.target}")
        out.print(make_table(["table", "source rows", "copied", "target rows", "check"], rows))
    bad = [t.table for t in report.tables if not t.ok]
    if bad:
        print(f"newsbot: {report.target}: row counts differ in {', '.join(bad)}", file=sys.stderr)
        return EXIT_FAILED
    if not args.json:
        print(f"copied: every table's count matches ({len(report.tables)} tables)")
    return EXIT_OK
