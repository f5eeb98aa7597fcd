"""Wiring the operations side of ``newsbot run``: health checks, scrape hooks, lag monitor and
the HTTP server, opened and closed as one context by the composition root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.config import Config
from bot.ops.health import GatewayWatch, Health, Heartbeat, database_check, digests_check
from bot.ops.http import OpsServer
from bot.ops.lag import LoopLagMonitor
from bot.ops.metrics import Metrics
from bot.storage.db import Database
from bot.storage.health import counts

log = logging.getLogger(__name__)


class Ops:
    """What the composition root holds: the checks, the metrics and the server (when on)."""

    def __init__(self, metrics: Metrics, heartbeat: Heartbeat) -> None:
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.health = Health()
        self.gateway = GatewayWatch()
        self.lag = LoopLagMonitor(lambda lag: None)
        self.server: OpsServer | None = None

    def add_standard_checks(self, db: Database, bot: Any) -> None:
        self.gateway.attach(bot)
        self.health.add("database", database_check(db))
        self.health.add("gateway", self.gateway.check)
        self.health.add("scheduler", self.heartbeat.check)
        self.health.add("digests", digests_check(db))

    def add_scrape_hooks(self, db: Database) -> None:
        async def refresh(m: Metrics) -> None:
            (articles, stories), readiness = await asyncio.gather(
                db.run(counts), self.health.readiness()
            )
            m.articles.set(articles)
            m.stories.set(stories)
            for shard, up in self.gateway.connected.items():
                m.gateway_connected.labels(str(shard)).set(1 if up else 0)
            for shard, latency in self.gateway.latencies():
                m.gateway_latency.labels(str(shard)).set(latency)
            m.loop_lag.set(self.lag.take())
            if self.heartbeat.last_wall is not None:
                m.scheduler_tick.set(self.heartbeat.last_wall)
            m.ready.set(1 if readiness.ok else 0)
            for check in readiness.checks:
                m.check_ok.labels(check.name).set(1 if check.ok else 0)

        self.metrics.add_scrape_hook(refresh)


@asynccontextmanager
async def serve_ops(config: Config, ops: Ops) -> AsyncIterator[Ops]:
    """Start the lag monitor and (when ``[http] listen`` is set) the HTTP server."""
    ops.lag.start()
    try:
        address = config.http.address
        if address is not None:
            ops.server = OpsServer(*address, health=ops.health, metrics=ops.metrics)
            await ops.server.start()
        yield ops
    finally:
        if ops.server is not None:
            await ops.server.close()
        await ops.lag.stop()
