"""Event-loop lag: a task sleeps ``interval`` seconds and records how late it woke up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

WARN_SECONDS = 0.5


class LoopLagMonitor:
    def __init__(self, report: Callable[[float], None], *, interval: float = 0.5) -> None:
        self.report = report
        self.interval = interval
        self.worst = 0.0  # largest lag since the last :meth:`take`
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="newsbot-loop-lag")

    def take(self) -> float:
        """The largest lag since the last call (the scrape reads it), then reset."""
        worst, self.worst = self.worst, 0.0
        return worst

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            lag = max(loop.time() - expected, 0.0)
            self.worst = max(self.worst, lag)
            self.report(lag)
            if lag > WARN_SECONDS:
                log.warning("the event loop was blocked for %.2f s", lag)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
