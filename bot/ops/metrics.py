"""Prometheus metrics: an :class:`~bot.services.events.Events` sink over its own registry.

Everything lives on one :class:`Metrics` object built by the composition root, with its own
``CollectorRegistry`` (never the global default one). Names are prefixed ``newsbot_``, in base
units, counters end in ``_total`` and durations in ``_seconds``; labels are low-cardinality (no
guild, channel or user ids). Values that are read rather than counted (articles, stories, gateway
latency, readiness) are refreshed by the scrape hooks just before each scrape.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from bot import __version__

log = logging.getLogger(__name__)

ScrapeHook = Callable[["Metrics"], Awaitable[None]]

COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INGEST_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
DELAY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INGEST_OUTCOMES = ("new", "updated", "unchanged", "rejected")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The metric objects, and the Events methods that feed them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._hooks: list[ScrapeHook] = []
        self.build_info = Info("newsbot_build", "newsbot version and Python version", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})
        self.start_time = Gauge(
            "newsbot_start_time_seconds", "Unix time the process started", registry=r
        )
        self.start_time.set(time.time())
        # -- commands ---------------------------------------------------------------------------
        self.commands = Counter(
            "newsbot_commands_total",
            "Slash commands and button presses handled, by command and outcome",
            ["command", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "newsbot_command_duration_seconds",
            "Time from receiving a command to finishing its handling, by command and outcome",
            ["command", "outcome"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.autocomplete_seconds = Histogram(
            "newsbot_autocomplete_duration_seconds",
            "Time to answer an autocomplete request, by command",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        # -- digests ----------------------------------------------------------------------------
        self.digests = Counter(
            "newsbot_digests_total",
            "Digest runs by outcome (posted, skipped, failed) and reason",
            ["outcome", "reason"],
            registry=r,
        )
        self.digest_delay = Histogram(
            "newsbot_digest_delay_seconds",
            "Delay from a digest's scheduled time to its first message",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        # -- ingest -----------------------------------------------------------------------------
        self.ingest_files = Counter(
            "newsbot_ingest_files_total",
            "Article files seen by ingest runs, by outcome",
            ["outcome"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "newsbot_ingest_duration_seconds",
            "Duration of ingest runs",
            buckets=INGEST_BUCKETS,
            registry=r,
        )
        self.ingest_last = Gauge(
            "newsbot_ingest_last_success_timestamp_seconds",
            "Unix time the last ingest run finished",
            registry=r,
        )
        # -- feeds (reported by the feed poller) ------------------------------------------------
        self.feed_fetches = Counter(
            "newsbot_feed_fetches_total",
            "Feed fetches by status (HTTP status, or timeout/error/refused)",
            ["status"],
            registry=r,
        )
        self.feed_seconds = Histogram(
            "newsbot_feed_fetch_duration_seconds",
            "Duration of feed fetches",
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.feed_pauses = Counter(
            "newsbot_feed_pauses_total",
            "Feeds paused after repeated failures, by reason",
            ["reason"],
            registry=r,
        )
        # -- read at scrape time ----------------------------------------------------------------
        self.articles = Gauge("newsbot_articles", "Visible articles in the database", registry=r)
        self.stories = Gauge("newsbot_stories", "Stories with at least one article", registry=r)
        self.gateway_latency = Gauge(
            "newsbot_gateway_latency_seconds",
            "Discord gateway heartbeat latency, by shard",
            ["shard"],
            registry=r,
        )
        self.gateway_connected = Gauge(
            "newsbot_gateway_connected",
            "1 when the shard's gateway connection is up",
            ["shard"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "newsbot_event_loop_lag_seconds",
            "How late the event loop ran the last lag probe (largest in the last interval)",
            registry=r,
        )
        self.scheduler_tick = Gauge(
            "newsbot_scheduler_last_tick_timestamp_seconds",
            "Unix time of the scheduler's last heartbeat",
            registry=r,
        )
        self.ready = Gauge("newsbot_ready", "1 when every readiness check passes", registry=r)
        self.check_ok = Gauge(
            "newsbot_health_check", "1 when the readiness check passes", ["check"], registry=r
        )
        for outcome in INGEST_OUTCOMES:  # present from the start, so rate() works at once
            self.ingest_files.labels(outcome)

    # -- scrape ---------------------------------------------------------------------------------
    def add_scrape_hook(self, hook: ScrapeHook) -> None:
        """``await hook(metrics)`` runs before each scrape (refresh the gauges it owns)."""
        self._hooks.append(hook)

    async def render(self) -> bytes:
        """The metrics in the Prometheus text format, after running the scrape hooks."""
        for hook in self._hooks:
            try:
                await hook(self)
            except Exception:  # a failing hook must not take the whole scrape down
                log.warning("a metrics scrape hook failed", exc_info=True)
        # formatting takes milliseconds for a full registry: not on the event loop
        return await asyncio.to_thread(generate_latest, self.registry)

    # -- Events ---------------------------------------------------------------------------------
    def command_finished(self, command: str, kind: str, outcome: str, seconds: float) -> None:
        if kind == "autocomplete":
            self.autocomplete_seconds.labels(command).observe(seconds)
            return
        self.commands.labels(command, outcome).inc()
        self.command_seconds.labels(command, outcome).observe(seconds)

    def digest_finished(self, outcome: str, reason: str, delay_seconds: float | None) -> None:
        self.digests.labels(outcome, reason).inc()
        if delay_seconds is not None:
            self.digest_delay.observe(max(delay_seconds, 0.0))

    def ingest_finished(self, files: Mapping[str, int], seconds: float) -> None:
        for outcome, count in files.items():
            self.ingest_files.labels(outcome).inc(count)
        self.ingest_seconds.observe(seconds)
        self.ingest_last.set(time.time())

    def feed_fetched(self, status: str, seconds: float) -> None:
        self.feed_fetches.labels(status).inc()
        self.feed_seconds.observe(seconds)

    def feed_paused(self, reason: str) -> None:
        self.feed_pauses.labels(reason).inc()
