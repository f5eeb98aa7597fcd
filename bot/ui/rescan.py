"""The background ingest owned by the bot: once at start, then every ``interval`` seconds.

It never delays the connection (it runs as a task started in ``setup_hook``), never dies on an
error (logged, then the next run is scheduled as usual), and logs one INFO line per run.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from collections.abc import Sequence

from bot.services.ingest import IngestReport, IngestService

log = logging.getLogger(__name__)


class Rescanner:
    def __init__(self, ingest: IngestService, sources: Sequence[str], interval: float) -> None:
        """``interval`` in seconds; 0 means ingest once at start and never again."""
        self.ingest = ingest
        self.sources = tuple(sources)
        self.interval = interval
        self.runs = 0
        self.last_report: IngestReport | None = None
        self._task: asyncio.Task[None] | None = None
        self._ran = asyncio.Condition()
        self._missing: set[str] = set()  # sources already warned about as missing
        self._rejected: dict[str, str] = {}  # path -> reason already logged

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running or not self.sources:
            return
        self._task = asyncio.create_task(self._loop(), name="newsbot-rescan")

    async def _loop(self) -> None:
        while True:
            await self.run_once()
            if self.interval <= 0:
                return
            await asyncio.sleep(self.interval)

    async def run_once(self) -> IngestReport | None:
        """One ingest of every source; errors are logged, never raised (cancellation is)."""
        sources = ", ".join(self.sources)
        report: IngestReport | None = None
        try:
            present = await asyncio.to_thread(self._present_sources)
            report = await self.ingest.ingest(present) if present else None
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rescan of %s failed; trying again at the next run", sources)
        else:
            if report is not None:
                self._log_rejections(report)
        if report is not None:
            self.last_report = report
            # the ingest service logs its own INFO line per run; this one adds the sources
            log.debug(
                "rescan of %s: %d files, %d new, %d updated, %d rejected in %.2fs",
                sources,
                report.files,
                report.new,
                report.updated,
                len(report.rejected),
                report.seconds,
            )
        async with self._ran:
            self.runs += 1
            self._ran.notify_all()
        return report

    def _present_sources(self) -> list[str]:
        """The sources that exist; a missing one is warned about once (naming the config key),
        not counted as a rejected file, and picked up again when it appears."""
        present = []
        for source in self.sources:
            if os.path.exists(source) or glob.has_magic(source):
                present.append(source)
                if source in self._missing:
                    self._missing.discard(source)
                    log.info("[ingest] sources: %s exists now; loading it", source)
            elif source not in self._missing:
                self._missing.add(source)
                log.warning(
                    "[ingest] sources: %s does not exist; skipping it until it appears "
                    "(fix the path in the config file, or create the folder)",
                    source,
                )
        return present

    def _log_rejections(self, report: IngestReport) -> None:
        """Each rejected file once with its reason (again only if the reason changes)."""
        now = {r["path"]: r["reason"] for r in report.rejected}
        for path, reason in now.items():
            if self._rejected.get(path) != reason:
                log.warning("rejected file %s: %s", path, reason)
        self._rejected = now

    async def wait_runs(self, count: int) -> None:
        """Wait until at least ``count`` runs have finished (successfully or not)."""
        async with self._ran:
            await self._ran.wait_for(lambda: self.runs >= count)

    async def stop(self, grace: float = 30.0) -> None:
        """Cancel the task and wait for it. A database write already handed to the database thread
        finishes there (its transaction commits or rolls back whole) before the database closes."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            log.warning("the rescan did not stop within %.0f s", grace)
        elif not task.cancelled() and task.exception() is not None:
            log.error("the rescan task ended with an error", exc_info=task.exception())
