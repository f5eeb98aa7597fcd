"""Readiness checks: named async checks, each answering "fine" or what is wrong.

:class:`Health` runs them concurrently, each bounded by a timeout, for ``GET /readyz`` and the
``newsbot_ready`` metric. The composition root registers the standard ones (database, gateway,
scheduler, digests); another part of the bot adds its own with :meth:`Health.add` (the feed
poller: ``health.add("feeds", check)`` where ``check`` returns None or why a feed is stuck).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database
from bot.storage.health import ping, stuck_digest_runs

log = logging.getLogger(__name__)

# A check returns None when all is well, else a short reason; raising counts as failing.
Check = Callable[[], Awaitable[str | None]]

CHECK_TIMEOUT = 5.0
HEARTBEAT_SECONDS = 30.0
STUCK_DIGEST_SECONDS = 30 * 60


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ready" if self.ok else "not ready"}
        if not self.ok:
            body["failed"] = self.failed
        body["checks"] = {
            c.name: {"ok": c.ok, **({"detail": c.detail} if c.detail else {})} for c in self.checks
        }
        return body


class Health:
    def __init__(self, *, timeout: float = CHECK_TIMEOUT) -> None:
        self.timeout = timeout
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def _run(self, name: str, check: Check) -> CheckResult:
        try:
            async with asyncio.timeout(self.timeout):
                problem = await check()
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {self.timeout:g} s")
        except Exception as exc:
            log.debug("health check %s raised", name, exc_info=True)
            return CheckResult(name, False, f"{type(exc).__name__}: {exc}"[:300])
        return CheckResult(name, problem is None, problem or "")

    async def readiness(self) -> Readiness:
        results = await asyncio.gather(*(self._run(n, c) for n, c in self._checks.items()))
        return Readiness(tuple(results))


# -- the standard checks ------------------------------------------------------------------------
def database_check(db: Database) -> Check:
    async def check() -> str | None:
        await db.run(ping)
        return None

    return check


class GatewayWatch:
    """Connection state per shard, from the client's connect/disconnect events.

    ``attach(bot)`` adds listeners (``on_connect``, ``on_resumed``, ``on_ready``,
    ``on_disconnect`` and their ``on_shard_*`` forms); ``latencies`` reads ``bot.latencies``.
    """

    def __init__(self, shards: int = 1) -> None:
        self.connected: dict[int, bool] = dict.fromkeys(range(shards), False)
        self._bot: Any = None

    def attach(self, bot: Any) -> None:
        self._bot = bot

        async def up(*_: object) -> None:
            self._set(None, True)

        async def down(*_: object) -> None:
            self._set(None, False)

        async def shard_up(shard_id: int, *_: object) -> None:
            self._set(shard_id, True)

        async def shard_down(shard_id: int, *_: object) -> None:
            self._set(shard_id, False)

        for name in ("on_connect", "on_resumed", "on_ready"):
            bot.add_listener(up, name)
        bot.add_listener(down, "on_disconnect")
        for name in ("on_shard_connect", "on_shard_resumed", "on_shard_ready"):
            bot.add_listener(shard_up, name)
        bot.add_listener(shard_down, "on_shard_disconnect")

    def _set(self, shard: int | None, value: bool) -> None:
        shards = [shard] if shard is not None else list(self.connected) or [0]
        for s in shards:
            if self.connected.get(s) != value:
                log.info("gateway shard %d %s", s, "connected" if value else "disconnected")
            self.connected[s] = value

    def latencies(self) -> list[tuple[int, float]]:
        if self._bot is None:
            return []
        bot = self._bot
        pairs = getattr(bot, "latencies", None)  # AutoShardedClient: one per shard
        if pairs is None:
            pairs = [(bot.shard_id or 0, bot.latency)]
        return [(s, lat) for s, lat in pairs if math.isfinite(lat)]

    async def check(self) -> str | None:
        if self._bot is not None and self._bot.is_closed():
            return "the client is closed"
        down = [s for s, up in sorted(self.connected.items()) if not up]
        if down:
            return f"shard(s) {', '.join(map(str, down))} not connected to the gateway"
        return None


class Heartbeat:
    """The scheduler calls :meth:`beat` every ``period`` seconds; stale after 3 periods."""

    def __init__(
        self, period: float = HEARTBEAT_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.period = period
        self.clock = clock
        self.started = clock()
        self.last: float | None = None
        self.last_wall: float | None = None

    async def beat(self) -> None:
        self.last = self.clock()
        self.last_wall = time.time()

    async def check(self) -> str | None:
        now = self.clock()
        limit = 3 * self.period
        since = now - (self.last if self.last is not None else self.started)
        if since <= limit:
            return None
        if self.last is None:
            return f"the scheduler has not ticked in the {since:.0f} s since start"
        return f"the scheduler last ticked {since:.0f} s ago (period {self.period:g} s)"


def digests_check(
    db: Database,
    *,
    stuck_after: float = STUCK_DIGEST_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Check:
    async def check() -> str | None:
        stuck = await db.run(stuck_digest_runs, int(clock() - stuck_after))
        if not stuck:
            return None
        subs = sorted({sub for _, sub in stuck})
        return (
            f"{len(stuck)} digest run(s) unfinished for over {stuck_after / 60:.0f} min "
            f"(subscription(s) {', '.join(map(str, subs))})"
        )

    return check
