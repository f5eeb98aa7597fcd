"""The digest delivery worker of a process that shares its database with others.

The scheduler leader plans digests (the ledger row is the intent) and posts them itself as
delivery slots free up; every process also runs this worker, which claims open runs nobody
holds (or whose claimer died: its claim expired) and posts them. Claims are taken only for free
delivery slots, so work spreads over the processes; a run resumed by another process posts only
its parts not yet recorded, the one in flight with the same nonce (Discord returns the message
it already created).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.domain.digest import DigestRun, Subscription
from bot.services.coordination import Claims
from bot.services.digest import DigestService

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BATCH = 25  # runs claimed per poll at most


class DeliveryWorker:
    def __init__(
        self, service: DigestService, claims: Claims, *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.service = service
        self.claims = claims
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._posting: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="newsbot-digest-worker")

    async def stop(self) -> None:
        """Stop claiming; runs being posted are the delivery's to drain (see ``Deliverer``)."""
        tasks = [t for t in (self._task, *self._posting) if t is not None and not t.done()]
        self._task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def join(self) -> None:
        """Wait until the runs this worker started posting are done."""
        while self._posting:
            await asyncio.gather(*self._posting, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("digest worker: could not claim runs: %s", exc)
            await asyncio.sleep(self.poll_seconds)

    async def poll(self) -> list[int]:
        """Claim what the free delivery slots can take and start posting it."""
        delivery = self.service.delivery
        room = min(BATCH, delivery.capacity)
        if room <= 0 or delivery.poster is None:
            return []
        claimed = await self.claims.claim_open_runs(room)
        for sub, run in claimed:
            if not delivery.take(run.id):  # this process posts it already
                continue
            task = asyncio.create_task(self._post(sub, run), name=f"digest-run-{run.id}")
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        return [run.id for _, run in claimed]

    async def _post(self, sub: Subscription, run: DigestRun) -> None:
        try:
            result = await self.service.resume_claimed(sub, run)
        except Exception:
            log.exception("digest run %d: posting failed", run.id)
            await self.claims.release_run(run.id)
            return
        if result.status != "noop":
            log.info("digest run %d (subscription %d): %s", run.id, sub.id, result.status)
