"""The parser processes: a persistent pool of spawned workers, the only place yaml_rs runs.

yaml_rs (the fast YAML path) can crash the interpreter when it is used from a thread other than
the one that imported it once that thread has exited, so it is never imported in the bot's own
process: every worker imports it once, in its main thread, from its initializer, and parses there
for its whole life. :class:`ParserPool` is owned by the ingest service for its lifetime (reused
across rescans, started on first use, closed by the composition root).

A worker that dies (a native crash, the OOM killer) breaks the pool: the files that were in
flight are parsed again one by one, PyYAML only, in a separate single-worker pool, and a file that
kills that worker too is reported with a reason; the main pool is restarted for the next chunks.

Workers end with their parent: on Linux the kernel sends them SIGKILL when the parent dies
(``PR_SET_PDEATHSIG``), and a watchdog thread in every worker exits when its parent process
changes (other systems, or a parent that died before the signal was armed).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.ingest.wire import Packed, parse_batch_packed

log = logging.getLogger(__name__)

__all__ = ["WORKER_DIED", "ParserPool"]

WORKER_DIED = "the parser process died while reading this file (it is retried when it changes)"
_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5


def _die_with_parent(parent: int) -> None:
    """Arm PR_SET_PDEATHSIG (Linux) and start a thread that exits when ``parent`` is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no usable libc
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="newsbot-parent-watch", daemon=True).start()


def _init_worker(parent: int, fast: bool) -> None:
    _die_with_parent(parent)
    if fast:
        from bot.ingest.yamlload import enable_fast_path

        enable_fast_path()  # imported in this process's main thread, which parses


class ParserPool:
    """Spawned parser processes, started on first use and reused until :meth:`close`."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.restarts = 0
        self._pool: ProcessPoolExecutor | None = None
        self._safe: ProcessPoolExecutor | None = None
        self._retry_lock: asyncio.Lock | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _new(self, workers: int, *, fast: bool) -> ProcessPoolExecutor:
        # spawn: never fork a process that runs an event loop and database threads. Created from
        # the event loop's thread, which lives as long as the process (PR_SET_PDEATHSIG fires
        # when the thread that started a worker ends).
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(), fast),
        )

    def pids(self) -> list[int]:
        """The live worker processes' ids (for tests and the soak benchmark)."""
        found: list[int] = []
        for pool in (self._pool, self._safe):
            procs = getattr(pool, "_processes", None) or {}
            found.extend(pid for pid, proc in list(procs.items()) if proc.is_alive())
        return found

    async def parse(self, jobs: list[tuple[str, str | None]], max_bytes: int) -> list[Packed]:
        """Parse one chunk of ``(path, known digest)`` jobs; packed results in job order."""
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = self._new(self.workers, fast=True)
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, parse_batch_packed, jobs, max_bytes)
        except BrokenProcessPool:
            await self._discard(pool)
            return await self._parse_safely(jobs, max_bytes)

    async def _discard(self, pool: ProcessPoolExecutor) -> None:
        """Replace a broken pool (once, whichever chunk noticed first)."""
        if self._pool is pool:
            self._pool = None
            self.restarts += 1
            log.warning("a parser process died; restarting the parser pool")
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _parse_safely(
        self, jobs: list[tuple[str, str | None]], max_bytes: int
    ) -> list[Packed]:
        """Each file alone, PyYAML only, in a one-worker pool: a crash is that file's."""
        loop = asyncio.get_running_loop()
        if self._retry_lock is None:
            self._retry_lock = asyncio.Lock()
        out: list[Packed] = []
        async with self._retry_lock:
            for job in jobs:
                if self._safe is None:
                    self._safe = self._new(1, fast=False)
                safe = self._safe
                try:
                    parsed = await loop.run_in_executor(safe, parse_batch_packed, [job], max_bytes)
                    out.extend(parsed)
                except BrokenProcessPool:
                    self._safe = None
                    await asyncio.to_thread(safe.shutdown, wait=True, cancel_futures=True)
                    log.warning("%s: %s", job[0], WORKER_DIED)
                    out.append(await asyncio.to_thread(_died, job[0]))
        return out

    async def close(self) -> None:
        """Stop the workers (joined off the event loop); the pool may be started again."""
        pools = [p for p in (self._pool, self._safe) if p is not None]
        self._pool = self._safe = None
        for pool in pools:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def close_now(self) -> None:
        """Best-effort stop without waiting (a service dropped without ``close``)."""
        for pool in (self._pool, self._safe):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._safe = None


def _died(path: str) -> Packed:
    """A rejection for a file that killed its parser, with its size and mtime (so that it is
    read again only once it changes)."""
    try:
        info = os.stat(path)
        size, mtime_ns = info.st_size, info.st_mtime_ns
    except OSError:
        size, mtime_ns = 0, 0
    return (path, size, mtime_ns, "", None, WORKER_DIED, False)
