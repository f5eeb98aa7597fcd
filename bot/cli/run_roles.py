"""The process roles of ``newsbot run``: which gateway shards it runs, and how it takes part in
the work shared through the database (the coordination; docs/scaling.md). Part of the
composition root (:mod:`bot.cli.run`)."""

from __future__ import annotations

import argparse
import logging

from bot.config import Config, DiscordConfig
from bot.domain.coordination import Shards, parse_shards
from bot.scheduler import DigestScheduler
from bot.services.coordination import Coordinator, SharedPacer, SoleProcess
from bot.services.digest_workers import DeliveryWorker
from bot.storage.coordination import Coordination
from bot.storage.db import Database
from bot.ui.bot import CloseHook, Extension, NewsBot, Services

log = logging.getLogger(__name__)

# With a shared database the leader re-reads the subscriptions this often (changes made through
# another process's slash commands reach its jobs within this delay).
RESYNC_SECONDS = 30.0


def choose_shards(args: argparse.Namespace, cfg: DiscordConfig) -> Shards:
    """``--shard-ids`` / ``--shard-count`` over ``[discord] shard_ids`` / ``shard_count``;
    ValueError naming the option or key that is wrong."""
    ids = getattr(args, "shard_ids", None)
    count = getattr(args, "shard_count", None)
    where = (
        "--shard-ids/--shard-count"
        if ids is not None or count is not None
        else ("[discord] shard_ids/shard_count")
    )
    if ids is None:
        ids = cfg.shard_ids
    if count is None:
        count = cfg.shard_count or None
    try:
        return parse_shards(ids, count)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def describe_shards(shards: Shards) -> str:
    if not shards.gateway:
        return "no gateway (a background worker: --shard-ids none)"
    if not shards.sharded:
        return "one unsharded gateway connection"
    ids = "all shards" if shards.ids is None else "shards " + ",".join(map(str, shards.ids))
    count = "as many as Discord recommends" if shards.count is None else f"of {shards.count}"
    return f"gateway {ids} {count}"


def coordination_extension(
    coordinator: Coordinator | SoleProcess, scheduler: DigestScheduler | None, services: Services
) -> tuple[Extension, CloseHook]:
    """The leader-only work (digest planning, rescans) follows the scheduler lease; with a
    shared database every process also runs a delivery worker claiming open digest runs."""
    worker = None
    if coordinator.shared and services.digests is not None:
        assert isinstance(coordinator, Coordinator)
        worker = DeliveryWorker(services.digests, coordinator)
        services.digests.hand_off = True  # the planner leaves its runs to the workers
        if scheduler is not None:
            scheduler.resync_seconds = RESYNC_SECONDS

    async def start(bot: NewsBot) -> None:
        if not bot.serving:
            return
        if scheduler is not None:
            coordinator.on_elected.append(scheduler.start)
            coordinator.on_deposed.append(scheduler.suspend)

        async def start_rescan() -> None:
            bot.rescanner.start()

        coordinator.on_elected.append(start_rescan)
        coordinator.on_deposed.append(bot.rescanner.stop)
        await coordinator.start()
        if worker is not None:
            worker.start()

    async def stop(_bot: NewsBot) -> None:
        if worker is not None:
            await worker.stop()
        await coordinator.stop()

    return start, stop


def coordinate(config: Config, db: Database, services: Services, shared: bool) -> None:
    """The process coordination: on a shared database a :class:`Coordinator` (leases, claims,
    shared send pacing); on a SQLite file (this process alone) a :class:`SoleProcess`."""
    cfg = config.coordination
    if not shared:
        services.extra["coordinator"] = SoleProcess()
        return
    coordinator = Coordinator(
        db,
        leader_ttl=cfg.leader_ttl_seconds,
        claim_ttl=cfg.claim_ttl_seconds,
        every=cfg.heartbeat_seconds,
    )
    services.extra["coordinator"] = coordinator
    services.extra["pacer"] = SharedPacer(
        Coordination(db), cfg.send_rate, members=lambda: coordinator.members
    )
    if services.digests is not None:
        services.digests.delivery.claims = coordinator
    services.extra["feeds"].claims = coordinator
    log.info("process %s coordinates through the database", coordinator.holder)
