"""Data commands: ingest and stats (and the query commands, see ``bot.cli.queries``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

from bot.cli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, require_database
from bot.cli.output import (
    ProgressBar,
    console,
    err_console,
    human_size,
    make_table,
    plural,
    print_json,
    warn,
)
from bot.config import Config
from bot.services.ingest import IngestReport, IngestService
from bot.services.query import QueryService
from bot.storage.db import open_database

SHOWN_PROBLEMS = 10  # rejected files listed without -v; warnings are summarised by kind


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="load article files, folders or globs into the database")
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder (recursive) or glob")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("stats", help="counts of what the database holds")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=cmd_stats)


_INDEX = re.compile(r"\[\d+\]")
_DETAIL = re.compile(r"\s*\([^)]*\)|\s*'[^']*'|\s*\"[^\"]*\"|\s*“[^”]*”")
_LINE = re.compile(r"\s*\(?(at )?line \d+(, column \d+)?\)?", re.IGNORECASE)


def problem_kind(message: str) -> str:
    """The kind of an ingest problem, for counting: the message without its specifics
    (list indices, quoted values, line numbers), e.g. ``related: dropped: missing title``."""
    text = _LINE.sub("", _DETAIL.sub("", _INDEX.sub("", message)))
    parts = [p.strip(" :;") for p in re.split(r":\s|;\s", text) if p.strip(" :;")]
    return ": ".join(parts[:3])[:80] or "other"


def problem(path: str, message: str) -> dict[str, str]:
    """The one shape of a problem in every JSON output: ``{path, kind, message}``."""
    return {"path": path, "kind": problem_kind(message), "message": message}


def _problems(entries: Iterable[Mapping[str, str]], key: str) -> list[dict[str, str]]:
    return [problem(e["path"], e.get(key) or e.get("message") or "") for e in entries]


def report_dict(report: IngestReport) -> dict:
    return {
        "files": report.files,
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "related_links": report.related,
        "rejected": _problems(report.rejected, "reason"),
        "warnings": _problems(report.warnings, "warning"),
        "seconds": round(report.seconds, 3),
    }


def print_report(report: IngestReport, verbose: bool) -> None:
    out = console()
    rejected = _problems(report.rejected, "reason")
    warnings = _problems(report.warnings, "warning")
    out.print(
        f"{plural(report.files, 'file')}: {report.new:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {len(rejected):,} rejected; "
        f"{plural(report.related, 'related link')} ({report.seconds:.2f}s)"
    )
    err = err_console()
    shown = rejected if verbose else rejected[:SHOWN_PROBLEMS]
    for r in shown:
        warn(f"rejected: {r['path']}: {r['message']}")
    if len(rejected) > len(shown):
        err.print(
            f"… and {len(rejected) - len(shown):,} more rejected files (all with -v or --json)"
        )
    if not warnings:
        return
    if verbose:
        for w in warnings:
            warn(f"warning: {w['path']}: {w['message']}")
        return
    counts = Counter(w["kind"] for w in warnings)
    files = len({w["path"] for w in warnings})
    err.print(
        f"{plural(len(warnings), 'warning')} in {plural(files, 'file')} (entries dropped or "
        "ignored, the articles loaded); by kind:"
    )
    err.print(make_table(["count", "kind"], [(n, k) for k, n in counts.most_common()]))
    err.print("Every warning with its file: -v, or --json.")


async def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    progress = ProgressBar("ingest") if not args.json else None
    seen = [0]

    def track(done: int, total: int) -> None:
        seen[0] = done
        if progress:
            progress(done, total)

    # set up before the database opens: its threads must inherit the SIGINT block
    with _Interrupts() as interrupts:
        stopped = interrupts.stopped
        async with open_database(config.database.path) as db:
            service = IngestService(
                db, max_file_bytes=config.ingest.max_file_bytes, workers=config.ingest.workers
            )
            task = interrupts.task = asyncio.ensure_future(service.ingest(args.paths, track))
            if stopped:  # a signal came while the database was opening
                task.cancel()
            try:
                report = await task
            except asyncio.CancelledError:
                if not stopped:
                    raise
                if progress:
                    progress.close()
                warn(
                    f"newsbot: ingest {stopped[0]}: {plural(seen[0], 'file')} in the database "
                    "(committed); run the same `newsbot ingest` again to finish the job."
                )
                return EXIT_INTERRUPTED if stopped[0] == "interrupted" else EXIT_TERMINATED
            finally:
                await service.close()
                if progress:
                    progress.close()
    if args.json:
        print_json(report_dict(report))
    else:
        print_report(report, args.verbose)
    return 1 if report.rejected else 0


class _Interrupts:
    """Ctrl-C and SIGTERM during an ingest cancel it (the batch being written commits or rolls
    back whole); ``stopped`` receives "interrupted" or "stopped" when that happens.

    A Ctrl-C reaches the terminal's whole process group, parser processes included, and each would
    die with a traceback. So SIGINT is blocked in this thread before any thread or parser process
    starts (they inherit the block) and taken here by a waiter thread instead. The resource
    tracker is started first: starting it later would unblock SIGINT on its way out.
    """

    def __init__(self) -> None:
        self.task: asyncio.Future | None = None
        self.stopped: list[str] = []
        self._loop = asyncio.get_running_loop()
        self._done = threading.Event()
        self._waiter: threading.Thread | None = None

    def stop(self, what: str) -> None:
        if not self.stopped:
            self.stopped.append(what)
            if self.task is not None:
                self.task.cancel()

    def __enter__(self) -> _Interrupts:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no Unix signals here
            self._loop.add_signal_handler(signal.SIGTERM, self.stop, "stopped")
        main = threading.current_thread() is threading.main_thread()
        if main and hasattr(signal, "sigtimedwait") and hasattr(signal, "pthread_sigmask"):
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            self._waiter = threading.Thread(target=self._wait, name="newsbot-sigint", daemon=True)
            self._waiter.start()
        else:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(signal.SIGINT, self.stop, "interrupted")
        return self

    def _wait(self) -> None:
        while not self._done.is_set():
            if signal.sigtimedwait({signal.SIGINT}, 0.1) is not None:
                self._loop.call_soon_threadsafe(self.stop, "interrupted")

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            self._loop.remove_signal_handler(signal.SIGTERM)
            self._loop.remove_signal_handler(signal.SIGINT)
        if self._waiter is not None:
            self._done.set()
            self._waiter.join()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


_STAT_LABELS = {
    "articles": "articles",
    "removed_articles": "removed articles",
    "related_items": "related items",
    "related_links": "related links",
    "stories": "stories",
    "providers": "outlets",
    "topics": "topics",
    "files": "files",
    "rejected_files": "rejected files",
    "first_published": "first published (UTC)",
    "last_published": "last published (UTC)",
    "database_bytes": "database size",
}


def _stat_text(key: str, value: object) -> str:
    if key == "database_bytes":
        return human_size(int(value or 0))  # type: ignore[call-overload]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str) and value.endswith("Z"):
        return value[:16].replace("T", " ")
    return str(value) if value else "–"


async def cmd_stats(args: argparse.Namespace, config: Config) -> int:
    require_database(config.database.path)
    async with open_database(config.database.path) as db:
        stats = await QueryService(db).stats()
    if args.json:
        print_json({**stats, "outlets": stats.get("providers")})
        return 0
    rows = []
    for key, value in stats.items():
        rows.append((_STAT_LABELS.get(key, key.replace("_", " ")), _stat_text(key, value)))
    console().print(make_table(["what", "count"], rows))
    return 0
