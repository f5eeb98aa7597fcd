"""The ingest service: paths in, articles and stories stored, a report out.

Reading and parsing happen off the event loop: file walking in a thread; parsing of large runs in
the service's persistent pool of parser processes (``bot.ingest.pool``: spawned once, reused by
every rescan, closed with :meth:`IngestService.close`; the only place the yaml_rs fast path runs),
of small runs in one thread of this process with PyYAML. Files whose size and mtime are unchanged
since the last ingest are skipped without being read; files that were touched but whose content
hash is unchanged are skipped without being parsed. Files are written in bounded transactions
(at most ``WRITE_BATCH`` files each) so that other database writers never wait long; a file the
database refuses is rejected with its reason and the rest is written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from bot.domain.models import SourceFile
from bot.ingest.loader import FileResult, expand_paths, parse_batch
from bot.ingest.pool import ParserPool
from bot.ingest.wire import Unpacker
from bot.services.events import NO_EVENTS, Events
from bot.services.stories import finish_pending_rebuild
from bot.storage.article_repo import ArticleRepository, BatchOutcome, KnownFile, WriteRefused
from bot.storage.db import Database, StorageBusy
from bot.storage.story_repo import StoryRepository

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

CHUNK = 48  # files per parse job
BATCH = 1000  # parsed files buffered for writing, at most
MIN_BATCH = CHUNK  # ... and at least, unless it is the last
WRITE_BATCH = 100  # files per write transaction, at most (keeps other writers' waits short)
PROCESS_THRESHOLD = 200  # fewer files than this are parsed in a thread: no process hop


@dataclass(slots=True)
class IngestReport:
    files: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    related: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def add(self, batch: BatchOutcome) -> None:
        self.new += batch.new
        self.updated += batch.updated
        self.unchanged += batch.unchanged
        self.related += batch.related
        self.rejected.extend({"path": p, "reason": r} for p, r in batch.rejected)
        self.warnings.extend({"path": p, "warning": w} for p, w in batch.warnings)

    def to_dict(self) -> dict:
        return asdict(self)

    def outcomes(self) -> dict[str, int]:
        """Files by outcome (for metrics)."""
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


def _scan(specs: Sequence[str]) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Expand specs and stat every file (runs in a thread): (files, unreadable specs or files).

    A file reached by two paths (a symlink, a folder and a glob) is read once, by its first path.
    """
    paths, missing = expand_paths(specs)
    files: list[SourceFile] = []
    seen: set[tuple[int, int]] = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            missing.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            continue
        seen.add(identity)
        files.append(SourceFile(path, st.st_size, st.st_mtime_ns, ""))
    return files, missing


class IngestService:
    events: Events = NO_EVENTS  # metrics sink, set by the composition root

    def __init__(
        self,
        db: Database,
        *,
        max_file_bytes: int = 5_000_000,
        workers: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.articles = ArticleRepository(db)
        self.stories = StoryRepository(db)
        self.max_file_bytes = max_file_bytes
        cores = os.cpu_count() or 1
        # Default: one parser process per core but one; this process writes the database on
        # the remaining core (measured on 2 cores: faster than two parsers competing with it).
        self.workers = workers or max(1, cores - 1)
        self.parallel = cores > 1
        self.clock = clock
        self._lock = asyncio.Lock()
        self.pool = ParserPool(self.workers)
        self._thread: ThreadPoolExecutor | None = None

    async def close(self) -> None:
        """Stop the parser processes and thread (the composition root calls this)."""
        async with self._lock:
            await self.pool.close()
            thread, self._thread = self._thread, None
            if thread is not None:
                await asyncio.to_thread(thread.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> IngestService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:  # a service dropped without close(): do not leave workers behind
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close_now()

    async def ingest(self, specs: Sequence[str], progress: Progress | None = None) -> IngestReport:
        """Ingest files, folders (recursively) and globs. One ingest runs at a time."""
        async with self._lock:
            return await self._ingest(specs, progress)

    async def _ingest(self, specs: Sequence[str], progress: Progress | None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        await finish_pending_rebuild(self.stories, int(self.clock()))
        files, missing = await asyncio.to_thread(_scan, specs)
        report.rejected.extend({"path": p, "reason": r} for p, r in missing)
        report.files = len(files)
        known: dict[str, KnownFile] = await self.articles.known_files()

        jobs: list[tuple[str, str | None]] = []
        for f in files:
            seen = known.get(f.path)
            if seen is not None and (seen.size, seen.mtime_ns) == (f.size, f.mtime_ns):
                self._count_unchanged(report, f.path, seen)
            else:
                jobs.append((f.path, seen.digest if seen else None))
        done = len(files) - len(jobs)
        if progress:
            progress(done, len(files))

        if jobs:
            await self._parse_and_write(jobs, known, report, progress, done, len(files))
            await self.articles.after_bulk_write(report.new + report.updated)
        report.seconds = time.perf_counter() - started
        log.info(
            "ingest: %d files, %d new, %d updated, %d unchanged, %d related links, %d rejected "
            "in %.2fs",
            report.files,
            report.new,
            report.updated,
            report.unchanged,
            report.related,
            len(report.rejected),
            report.seconds,
        )
        self.events.ingest_finished(report.outcomes(), report.seconds)
        return report

    @staticmethod
    def _count_unchanged(report: IngestReport, path: str, seen: KnownFile) -> None:
        if seen.error:
            report.rejected.append({"path": path, "reason": seen.error})
        else:
            report.unchanged += 1

    def _parser(self, n_jobs: int) -> Callable[[list[tuple[str, str | None]]], Awaitable[list]]:
        """How this run's chunks are parsed: in the parser processes (packed results, yaml_rs)
        for large runs, else in this process's parse thread (PyYAML; no yaml_rs here, ever)."""
        if self.parallel and n_jobs >= PROCESS_THRESHOLD:
            unpacker = Unpacker()

            async def in_processes(chunk: list[tuple[str, str | None]]) -> list:
                return unpacker.unpack(await self.pool.parse(chunk, self.max_file_bytes))

            return in_processes
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-parse")
        thread = self._thread
        loop = asyncio.get_running_loop()

        async def in_thread(chunk: list[tuple[str, str | None]]) -> list:
            return await loop.run_in_executor(thread, parse_batch, chunk, self.max_file_bytes)

        return in_thread

    async def _parse_and_write(
        self,
        jobs: list[tuple[str, str | None]],
        known: dict[str, KnownFile],
        report: IngestReport,
        progress: Progress | None,
        done: int,
        total: int,
    ) -> None:
        parse = self._parser(len(jobs))
        chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
        # Enough chunks in flight that the parsers keep working while a batch is being written
        # (results are consumed in order, so memory stays bounded by these chunks).
        in_flight = self.workers * 2 + 2 * BATCH // CHUNK
        pending: list[asyncio.Future[list]] = []
        next_chunk = 0
        buffer: list[FileResult] = []

        def submit() -> None:
            nonlocal next_chunk
            while next_chunk < len(chunks) and len(pending) < in_flight:
                pending.append(asyncio.ensure_future(parse(chunks[next_chunk])))
                next_chunk += 1

        try:
            submit()
            while pending:
                results = await pending.pop(0)
                submit()
                buffer.extend(results)
                # Write when a batch is full, or when the writer would otherwise sit idle waiting
                # for the parsers (early in a run): batches adapt to whichever side is slower.
                idle = not pending or not pending[0].done()
                if len(buffer) >= BATCH or (idle and len(buffer) >= MIN_BATCH):
                    await self._write(buffer, known, report)
                    done += len(buffer)
                    buffer = []
                    if progress:
                        progress(done, total)
            if buffer:
                await self._write(buffer, known, report)
                if progress:
                    progress(done + len(buffer), total)
        finally:
            for future in pending:
                future.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _write(
        self, results: list[FileResult], known: dict[str, KnownFile], report: IngestReport
    ) -> None:
        touched: list[SourceFile] = []
        entries = []
        for r in results:
            source = SourceFile(r.path, r.size, r.mtime_ns, r.digest)
            if r.unchanged:
                touched.append(source)
                self._count_unchanged(report, r.path, known[r.path])
            else:
                entries.append((source, r.parsed, r.error))
        if touched:
            await self.articles.touch(touched)
        for start in range(0, len(entries), WRITE_BATCH):
            await self._write_entries(entries[start : start + WRITE_BATCH], report)

    async def _write_entries(self, entries: list, report: IngestReport) -> None:
        """One bounded transaction; if it fails as a whole (not for a passing reason such as a
        lock), each file is written alone so that only the one at fault is rejected."""
        try:
            report.add(await self.articles.write_batch(entries, int(self.clock())))
            return
        except (StorageBusy, WriteRefused):
            raise  # locked, disk full, I/O: nothing recorded; the next ingest retries
        except Exception:
            if len(entries) == 1:
                raise
            log.warning("an ingest batch of %d files failed; writing them one by one", len(entries))
        for entry in entries:
            try:
                report.add(await self.articles.write_batch([entry], int(self.clock())))
            except (StorageBusy, WriteRefused):
                raise
            except Exception as exc:
                source = entry[0]
                reason = f"could not be stored: {type(exc).__name__}: {str(exc)[:200]}"
                log.error("%s: %s", source.path, reason)
                report.add(
                    await self.articles.write_batch([(source, None, reason)], int(self.clock()))
                )
