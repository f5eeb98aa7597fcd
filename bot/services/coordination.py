"""One process's part in a group of processes sharing a database (issue 12).

:class:`Coordinator` keeps the process's membership and claims alive (a heartbeat every
``every`` s), competes for the scheduler leader lease, and tells its listeners when it becomes
leader (start the leader-only work: digest fire-time planning, rescans) or stops being one (stop
that work at once). A leader that cannot renew gives up *before* its lease expires
(:func:`bot.domain.coordination.lead_until`), so two leaders never act at the same time.

:class:`SoleProcess` is the same interface for a database only this process may use (a SQLite
file under the run lock): leader at once, every claim granted, nothing written.

:class:`SharedPacer` spaces the digest posts of every process together (one send slot per
``1 / rate`` s, handed out by the database); :class:`LocalPacer` is the in-process version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.domain import coordination as c
from bot.domain.digest import DigestRun, Subscription
from bot.storage.coordination import Coordination
from bot.storage.db import Database

log = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]
PACING = "discord-global"
MAX_SLOTS = 16  # send slots taken from the database in one round trip at most


def new_process_id() -> str:
    return c.process_id(socket.gethostname(), os.getpid(), secrets.token_hex(3))


class Claims(Protocol):
    """What the digest delivery and the feed poller need: claims on runs and feeds."""

    holder: str

    async def claim_run(self, run_id: int) -> bool: ...
    async def release_run(self, run_id: int) -> None: ...
    async def claim_runs(self, limit: int) -> list[int]: ...
    async def claim_open_runs(self, limit: int) -> list[tuple[Subscription, DigestRun]]: ...
    async def claim_feeds(self, feed_ids: list[int], due_at: int) -> list[int]: ...
    async def release_feeds(self, feed_ids: list[int]) -> None: ...


class Coordinator:
    """Leader election, membership and claims for one process (see the module docstring)."""

    shared = True

    def __init__(
        self,
        db: Database,
        *,
        holder: str | None = None,
        leader_ttl: float = c.LEADER_TTL,
        claim_ttl: float = c.CLAIM_TTL,
        every: float = c.RENEW_EVERY,
        margin: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        margin = min(c.LEADER_MARGIN, leader_ttl / 5) if margin is None else margin
        if not 0 < every < leader_ttl - margin:
            raise ValueError("the heartbeat must be shorter than the leader lease minus its margin")
        self.repo = Coordination(db)
        self.holder = holder or new_process_id()
        self.leader_ttl = leader_ttl
        self.claim_ttl = claim_ttl
        self.every = every
        self.margin = margin
        self.clock = clock
        self.on_elected: list[Listener] = []
        self.on_deposed: list[Listener] = []
        self.token: int | None = None  # the leader lease's fencing token while leading
        self.members = 1  # live processes at the last heartbeat (at least this one)
        self.elected_at: float | None = None
        self._until = 0.0  # act as leader until then (lead_until of the last renewal)
        self._task: asyncio.Task[None] | None = None
        self._transition = asyncio.Lock()
        self._releases: list[tuple[str, asyncio.Future[None]]] = []
        self._releaser: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self.token is not None and self.clock() < self._until

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """The first heartbeat (awaited: a process alone becomes leader before this returns),
        then the heartbeat loop."""
        await self.beat()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="newsbot-coordination")

    async def stop(self) -> None:
        """Stop the loop, stop the leader-only work, give every lease and claim up."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._depose("shutting down")
        try:
            await self.repo.release_all(self.holder, self.clock())
        except Exception as exc:  # the database is going away: the leases expire by themselves
            log.warning("could not release the leases of %s: %s", self.holder, exc)

    async def _loop(self) -> None:
        while True:
            delay = c.heartbeat_delay(every=self.every)
            if self.token is not None:  # wake up in time to give up a lease not renewed
                delay = max(0.0, min(delay, self._until - self.clock()))
            await asyncio.sleep(delay)
            await self.beat()

    # -- one heartbeat -------------------------------------------------------------------------
    async def beat(self) -> None:
        """Renew membership and claims; renew or try to take the leader lease."""
        now = self.clock()
        try:
            await self.repo.heartbeat(self.holder, now, self.claim_ttl)
            self.members = max(1, len(await self.repo.live_members(now)))
        except Exception as exc:
            log.warning("coordination heartbeat failed: %s", exc)
        if self.token is not None:
            await self._renew(now)
        else:
            await self._try_lead(now)

    async def _renew(self, now: float) -> None:
        assert self.token is not None
        try:
            kept = await self.repo.renew(c.LEADER, self.holder, self.token, now, self.leader_ttl)
        except Exception as exc:
            kept = None
            log.warning("could not renew the scheduler lease: %s", exc)
        if kept:
            self._until = c.lead_until(now, self.leader_ttl, self.margin)
        elif kept is False:
            await self._depose("the scheduler lease was taken over")
        elif self.clock() >= self._until:
            await self._depose("the scheduler lease could not be renewed in time")

    async def _try_lead(self, now: float) -> None:
        try:
            token = await self.repo.acquire(c.LEADER, self.holder, now, self.leader_ttl)
        except Exception as exc:
            log.warning("could not contend for the scheduler lease: %s", exc)
            return
        if token is None:
            return
        async with self._transition:
            self.token = token
            self.elected_at = now
            self._until = c.lead_until(now, self.leader_ttl, self.margin)
            log.info("%s is the scheduler leader (lease token %d)", self.holder, token)
            for listener in self.on_elected:
                try:
                    await listener()
                except Exception:
                    log.exception("starting the leader's work failed")

    async def _depose(self, why: str) -> None:
        async with self._transition:
            if self.token is None:
                return
            self.token = None
            self._until = 0.0
            log.warning("%s is no longer the scheduler leader: %s", self.holder, why)
            for listener in self.on_deposed:
                try:
                    await listener()
                except Exception:
                    log.exception("stopping the leader's work failed")

    # -- claims ------------------------------------------------------------------------------
    async def claim_run(self, run_id: int) -> bool:
        return await self.repo.claim_run(run_id, self.holder, self.clock(), self.claim_ttl)

    async def release_run(self, run_id: int) -> None:
        """Give the claim up; the releases asked for while one is being written are written
        together in the next round trip."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._releases.append((c.run_claim(run_id), future))
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release_claims(), name="newsbot-releases")
        await future

    async def _release_claims(self) -> None:
        while self._releases:
            batch, self._releases = self._releases, []
            try:
                await self.repo.release_names([n for n, _ in batch], self.holder, self.clock())
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled: no caller is left waiting
                for _, future in [*batch, *self._releases]:
                    future.cancel()
                self._releases = []
                raise
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def claim_runs(self, limit: int) -> list[int]:
        return await self.repo.claim_runs(self.holder, self.clock(), self.claim_ttl, limit)

    async def claim_open_runs(self, limit: int) -> list[tuple[Subscription, DigestRun]]:
        """Claim up to ``limit`` open runs nobody holds, read in the same hop (with their
        subscriptions): ready to post without reading them again."""
        return await self.repo.claim_open_runs(self.holder, self.clock(), self.claim_ttl, limit)

    async def claim_feeds(self, feed_ids: list[int], due_at: int) -> list[int]:
        return await self.repo.claim_due_feeds(
            feed_ids, self.holder, self.clock(), self.claim_ttl, due_at
        )

    async def release_feeds(self, feed_ids: list[int]) -> None:
        names = [c.feed_claim(i) for i in feed_ids]
        await self.repo.release_names(names, self.holder, self.clock())


class SoleProcess:
    """The coordinator of a database no other process may use: leader from the start."""

    shared = False

    def __init__(self) -> None:
        self.holder = new_process_id()
        self.on_elected: list[Listener] = []
        self.on_deposed: list[Listener] = []
        self.token: int | None = None

    @property
    def leading(self) -> bool:
        return self.token is not None

    async def start(self) -> None:
        if self.token is None:
            self.token = 1
            for listener in self.on_elected:
                await listener()

    async def stop(self) -> None:
        if self.token is not None:
            self.token = None
            for listener in self.on_deposed:
                await listener()

    async def claim_run(self, run_id: int) -> bool:
        return True

    async def release_run(self, run_id: int) -> None:
        return None

    async def claim_runs(self, limit: int) -> list[int]:
        return []

    async def claim_open_runs(self, limit: int) -> list[tuple[Subscription, DigestRun]]:
        return []

    async def claim_feeds(self, feed_ids: list[int], due_at: int) -> list[int]:
        return list(feed_ids)

    async def release_feeds(self, feed_ids: list[int]) -> None:
        return None


class LocalPacer:
    """Spaces calls at least ``1 / rate`` s apart within this process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        (delay,) = self.reserve(1)
        if delay > 0:
            await asyncio.sleep(delay)

    def reserve(self, count: int) -> list[float]:
        """Take ``count`` consecutive slots: the delay from now until each."""
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + count * self.interval
        return [slot - now + i * self.interval for i in range(count)]


class SharedPacer:
    """Spaces the calls of every process sharing the database ``1 / rate`` s apart: the calls
    waiting together take consecutive send slots from the database in one UPDATE ... RETURNING
    (at most ``max_slots``; the calls arriving meanwhile take theirs in the next one), then each
    sleeps until its slot. A database error falls back to this process's share
    (``rate / members()``, the live processes) for those calls rather than stopping the posts."""

    def __init__(
        self,
        repo: Coordination,
        rate: float,
        *,
        members: Callable[[], int] = lambda: 1,
        clock: Callable[[], float] = time.time,
        max_slots: int = MAX_SLOTS,
    ) -> None:
        self.repo = repo
        self.rate = rate
        self.interval = 1.0 / rate
        self.members = members
        self.clock = clock
        self.max_slots = max_slots
        self._fallback = LocalPacer(rate)
        self._waiting: list[asyncio.Future[float]] = []
        self._taker: asyncio.Task[None] | None = None

    async def wait(self) -> None:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if self._taker is None or self._taker.done():
            self._taker = asyncio.create_task(self._take(), name="newsbot-send-pacing")
        send_at = await future
        delay = send_at - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _take(self) -> None:
        batch: list[asyncio.Future[float]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_slots]
                del self._waiting[: len(batch)]
                for future, send_at in zip(batch, await self._slots(len(batch)), strict=True):
                    if not future.done():
                        future.set_result(send_at)
        except BaseException:  # cancelled: no caller is left waiting
            for future in [*batch, *self._waiting]:
                if not future.done():
                    future.cancel()
            self._waiting.clear()
            raise

    async def _slots(self, count: int) -> list[float]:
        """The send times of ``count`` consecutive slots (wall-clock seconds)."""
        try:
            first = await self.repo.take_slot(PACING, self.clock(), self.interval, count)
        except Exception as exc:
            log.warning("the shared send pacing is unavailable (%s): pacing locally", exc)
            self._fallback.interval = max(1, self.members()) / self.rate
            now = self.clock()
            return [now + delay for delay in self._fallback.reserve(count)]
        return [first + i * self.interval for i in range(count)]
