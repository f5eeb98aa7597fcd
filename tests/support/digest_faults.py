"""Deterministic faults for the digest tests: kill the "process" at a named step of a post, make
the database fail at a named step, and a sleep that moves the test clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta


class Killed(BaseException):
    """Stands for the process dying at a checkpoint: not an Exception, so nothing handles it."""


class CrashAt:
    """A ``Deliverer.checkpoint`` that raises :class:`Killed` the first time ``step`` is reached
    (then lets everything through); ``seen`` lists the steps passed, in order."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.fired = False
        self.seen: list[str] = []

    def __call__(self, step: str) -> None:
        self.seen.append(step)
        if step == self.step and not self.fired:
            self.fired = True
            raise Killed(step)


class DatabaseFaultAt:
    """A checkpoint that raises the driver's ``database is locked`` error at ``step`` the next
    ``times`` times (None: always), as a write lock held by another process does."""

    def __init__(self, step: str, times: int | None = 1, message: str = "database is locked"):
        self.step = step
        self.times = times
        self.message = message
        self.hits = 0

    def __call__(self, step: str) -> None:
        if step != self.step:
            return
        if self.times is None or self.hits < self.times:
            self.hits += 1
            raise sqlite3.OperationalError(self.message)


class ClockSleep:
    """An async ``sleep`` that advances ``clock`` (a ``tests.support.digest.Clock``) by the
    delay instead of waiting; ``slept`` records the delays and ``on_sleep(n)`` runs before the
    n-th one returns."""

    def __init__(self, clock: object, on_sleep: Callable[[int], object] | None = None) -> None:
        self.clock = clock
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        now: datetime = self.clock()  # type: ignore[operator]
        self.clock.set(now + timedelta(seconds=seconds))  # type: ignore[attr-defined]
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))
