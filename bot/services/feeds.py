"""The feed service: add, list, remove, poll, OPML import/export, config sync.

Polling fetches the feeds concurrently (the fetcher holds the concurrency limits), parses each
fetched document in a worker (a thread for small polls, spawned processes for large ones: never in
the event loop), and writes results in batches, each one transaction (``SourceRepository``). The
polling rules (back-off, pause, retire) are ``bot.domain.feeds``; a feed turning failing, paused or
retired is logged at WARNING once, at the transition.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from bot.config import FeedsConfig, FeedSourceConfig
from bot.domain.feeds import (
    ACTIVE,
    FAILING,
    PAUSED,
    RETIRED,
    Feed,
    after_failure,
    after_success,
)
from bot.ingest.feeds.addresses import BlockedAddress, check_url
from bot.ingest.feeds.fetch import FeedFetcher, FetchResult
from bot.ingest.feeds.opml import OpmlError, OpmlOutline, read_opml, write_opml
from bot.ingest.feeds.parse import FeedParsed, parse_feed
from bot.ingest.urls import canonical_url
from bot.services.errors import BadInput, NotFound
from bot.services.events import NO_EVENTS, Events
from bot.services.feed_reports import ImportReport, PollReport, feed_dict, parse_topics
from bot.services.stories import finish_pending_rebuild
from bot.storage.db import Database
from bot.storage.sources import ConfigFeed, PollWrite, SourceRepository
from bot.storage.story_repo import StoryRepository

__all__ = ["Feed", "FeedService", "ImportReport", "PollReport", "feed_dict", "parse_topics"]

log = logging.getLogger(__name__)

PROCESS_THRESHOLD = 200  # polls of fewer feeds parse in a thread: no process start-up cost
WRITE_ENTRIES = 2000  # entries per write transaction, about
WRITE_FEEDS = 500  # ... or feeds
IN_FLIGHT = 200  # feeds fetched/parsed ahead of the writer, at most (or 2 x concurrency)

FetcherFactory = Callable[[], FeedFetcher]


class FeedClaims(Protocol):
    async def claim_feeds(self, feed_ids: list[int], due_at: int) -> list[int]: ...
    async def release_feeds(self, feed_ids: list[int]) -> None: ...


class FeedService:
    def __init__(
        self,
        db: Database,
        config: FeedsConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        fetcher_factory: FetcherFactory | None = None,
        workers: int = 0,
    ) -> None:
        self.db = db
        self.repo = SourceRepository(db)
        self.stories = StoryRepository(db)
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.fetcher_factory = fetcher_factory or self._default_fetcher
        cores = os.cpu_count() or 1
        self.workers = workers or max(1, cores - 1)
        self.parallel = cores > 1
        self._lock = asyncio.Lock()
        self.events: Events = NO_EVENTS  # metrics sink, set by the composition root
        # Per-feed claims shared with other processes (``services.coordination``): a due feed
        # is polled by the one process that claimed it. None: this process alone polls.
        self.claims: FeedClaims | None = None

    def _default_fetcher(self) -> FeedFetcher:
        c = self.config
        return FeedFetcher(
            timeout=c.timeout_seconds,
            max_bytes=c.max_bytes,
            concurrency=c.concurrency,
            per_host=c.per_host,
            allow_private=c.allow_private_addresses,
            contact_url=c.contact_url,
        )

    def _now(self) -> int:
        return int(self.clock().timestamp())

    # -- managing feeds -------------------------------------------------------------------------
    def _checked_url(self, url: str) -> str:
        try:
            canonical = canonical_url(url)
        except ValueError as exc:
            raise BadInput(f"not a usable feed url: {exc}") from None
        try:
            check_url(canonical, allow_private=self.config.allow_private_addresses)
        except BlockedAddress as exc:
            raise BadInput(str(exc)) from None
        return canonical

    async def add(
        self,
        url: str,
        *,
        name: str | None = None,
        topics: str | Sequence[str] | None = None,
        every_minutes: float | None = None,
    ) -> tuple[Feed, bool]:
        """Add a feed (due at once); ``(feed, created)``, created False if it was there."""
        canonical = self._checked_url(url)
        if name is not None:
            name = " ".join(name.split())[:100] or None
        if every_minutes is not None and not 1 <= every_minutes <= 7 * 24 * 60:
            raise BadInput("every must be from 1 to 10080 minutes")
        return await self.repo.add_feed(
            canonical,
            name=name,
            topics=parse_topics(topics),
            every_minutes=every_minutes,
            now=self._now(),
        )

    async def feeds(self) -> list[Feed]:
        return await self.repo.all()

    async def find(self, ref: str | int) -> Feed:
        """A feed by id (``3`` or ``#3``) or by url."""
        text = str(ref).strip()
        feed = None
        if text.lstrip("#").isdigit():
            feed = await self.repo.get(int(text.lstrip("#")))
        else:
            try:
                feed = await self.repo.by_url(canonical_url(text))
            except ValueError:
                feed = None
        if feed is None:
            raise NotFound(f"no feed {text!r}: see the feed list for ids")
        return feed

    async def remove(self, ref: str | int) -> Feed:
        feed = await self.find(ref)
        await self.repo.remove(feed.id)
        return feed

    async def sync_config(self, sources: Sequence[FeedSourceConfig]) -> tuple[int, int, int]:
        """Store the config's ``[[feeds.sources]]``; config feeds no longer listed are removed."""
        wanted = []
        for index, s in enumerate(sources, 1):
            try:
                url = self._checked_url(s.url)
            except BadInput as exc:
                log.warning("[[feeds.sources]] #%d url: %s", index, exc)
                continue
            wanted.append(ConfigFeed(url, s.name, parse_topics(s.topics), s.every_minutes))
        added, updated, removed = await self.repo.sync_config(wanted, self._now())
        if added or updated or removed:
            log.info("config feeds: %d added, %d updated, %d removed", added, updated, removed)
        return added, updated, removed

    # -- OPML -----------------------------------------------------------------------------------
    async def import_opml(self, data: bytes) -> ImportReport:
        try:
            outlines = read_opml(data)
        except OpmlError as exc:
            raise BadInput(f"cannot read the OPML file: {exc}") from None
        report = ImportReport()
        for o in outlines:
            try:
                feed, created = await self.add(o.url, name=o.title, topics=o.topics)
            except BadInput as exc:
                report.problems.append({"feed": o.url, "kind": "bad_url", "message": str(exc)})
                continue
            (report.added if created else report.existing).append(feed)
        return report

    async def export_opml(self) -> str:
        outlines = [OpmlOutline(f.url, f.name or f.title, f.topics) for f in await self.repo.all()]
        return write_opml(outlines, self.clock())

    # -- polling --------------------------------------------------------------------------------
    async def poll(self, refs: Sequence[str | int] | None = None) -> PollReport:
        """Fetch the due feeds (or exactly the named ones, whatever their state) once."""
        async with self._lock:
            await finish_pending_rebuild(self.stories, self._now())
            if refs:
                feeds = {}
                for ref in refs:
                    feed = await self.find(ref)
                    feeds[feed.id] = feed
                chosen = list(feeds.values())
            else:
                chosen = await self.repo.due(self._now())
                if self.claims is not None and chosen:
                    return await self._poll_claimed(self.claims, chosen)
            return await self._poll(chosen)

    async def _poll_claimed(self, claims: FeedClaims, due: list[Feed]) -> PollReport:
        """Poll those of the due feeds this process claims (claimed and found still due in one
        transaction); the claims are given back once the outcomes are written."""
        ids = set(await claims.claim_feeds([f.id for f in due], self._now()))
        mine = [f for f in due if f.id in ids]
        try:
            return await self._poll(mine)
        finally:
            if ids:
                await asyncio.shield(claims.release_feeds(sorted(ids)))

    def _executor(self, n: int) -> Executor:
        if self.parallel and n >= PROCESS_THRESHOLD:
            ctx = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-feeds")

    async def _poll(self, feeds: list[Feed]) -> PollReport:
        started = time.perf_counter()
        report = PollReport(feeds=len(feeds))
        if not feeds:
            return report
        loop = asyncio.get_running_loop()
        pool = self._executor(len(feeds))
        pending: list[tuple[Feed, PollWrite]] = []
        entries = 0
        try:
            async with self.fetcher_factory() as fetcher:
                fetcher.on_fetched = self.events.feed_fetched

                async def one(feed: Feed) -> tuple[Feed, FetchResult, FeedParsed | None]:
                    result = await fetcher.fetch(
                        feed.url, etag=feed.etag, last_modified=feed.last_modified
                    )
                    parsed = None
                    if result.body is not None:
                        body, result.body = result.body, None
                        parsed = await loop.run_in_executor(
                            pool,
                            parse_feed,
                            body,
                            result.final_url,
                            result.content_type,
                            feed.topics,
                            self.clock(),
                            self.config.max_entries,
                        )
                    return feed, result, parsed

                # A bounded window of feeds in flight (fetching, parsing, or parsed and waiting
                # for the writer): memory stays flat however many feeds are polled, and the
                # writer is never starved.
                window = max(IN_FLIGHT, self.config.concurrency * 2)
                queue = iter(feeds)
                running: set[asyncio.Future] = set()

                def refill() -> None:
                    for feed in queue:
                        running.add(asyncio.ensure_future(one(feed)))
                        if len(running) >= window:
                            break

                refill()
                try:
                    while running:
                        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            running.discard(task)
                            feed, result, parsed = task.result()
                            write = self._outcome(feed, result, parsed, report)
                            pending.append((feed, write))
                            entries += len(write.entries or ())
                        if entries >= WRITE_ENTRIES or len(pending) >= WRITE_FEEDS:
                            refill()  # fetching goes on while this batch is written
                            await self._write(pending, report)
                            pending, entries = [], 0
                        refill()
                    if pending:
                        await self._write(pending, report)
                finally:
                    for task in running:
                        task.cancel()
        finally:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        report.seconds = time.perf_counter() - started
        log.info(
            "feeds: %d polled, %d fetched, %d not modified, %d failed; %d new, %d updated, "
            "%d unchanged articles in %.2fs",
            report.feeds,
            report.fetched,
            report.not_modified,
            report.failed,
            report.new,
            report.updated,
            report.unchanged,
            report.seconds,
        )
        return report

    def _every(self, feed: Feed) -> int:
        return int((feed.every_minutes or self.config.every_minutes) * 60)

    def _outcome(
        self, feed: Feed, result: FetchResult, parsed: FeedParsed | None, report: PollReport
    ) -> PollWrite:
        now = self._now()
        every = self._every(feed)
        old = feed.poll_state()

        def problem(kind: str, message: str) -> None:
            report.problems.append(
                {"feed": feed.url, "id": feed.id, "kind": kind, "message": message}
            )

        write = PollWrite(
            feed_id=feed.id,
            state=old,
            fetched_at=now,
            status=result.status,
            ok=False,
            moved_to=result.moved_to if result.moved_to != feed.url else None,
        )
        if result.error_kind is None and result.not_modified:
            report.not_modified += 1
            write.ok = True
            write.etag, write.last_modified = result.etag, result.last_modified
            write.state = after_success(old, now, every)
        elif result.error_kind is None and parsed is not None and not parsed.failed:
            report.fetched += 1
            write.ok = True
            write.etag, write.last_modified = result.etag, result.last_modified
            write.state = after_success(old, now, every)
            write.entries = parsed.entries
            write.items = len(parsed.entries)
            write.title, write.site_url = parsed.title, parsed.site_url
            for kind, message in parsed.problems:
                problem(kind, message)
        else:
            report.failed += 1
            if parsed is not None and parsed.failed:
                kind, message = parsed.problems[0]
            else:
                kind, message = result.error_kind or "http", result.error or "no answer"
            problem(kind, message)
            write.state = after_failure(
                old,
                now,
                every,
                message,
                gone=result.error_kind == "gone",
                retry_after=result.retry_after,
            )
        if write.moved_to:
            problem("moved", f"moved permanently to {write.moved_to}: the stored url is updated")
        self._log_transition(feed, old.state, write.state.state, write.state.last_error)
        return write

    def _log_transition(self, feed: Feed, old: str, new: str, error: str | None) -> None:
        if old == new:
            return
        if new == FAILING:
            log.warning("feed #%d %s is failing: %s", feed.id, feed.url, error)
        elif new == PAUSED:
            log.warning("feed #%d %s is paused: %s", feed.id, feed.url, error)
            self.events.feed_paused("failures")
        elif new == RETIRED:
            log.warning("feed #%d %s is retired (410 Gone): %s", feed.id, feed.url, error)
            self.events.feed_paused("gone")
        elif new == ACTIVE and old in (FAILING, PAUSED, RETIRED):
            log.info("feed #%d %s works again", feed.id, feed.url)

    async def _write(self, pending: list[tuple[Feed, PollWrite]], report: PollReport) -> None:
        counts = await self.repo.record_polls([w for _, w in pending], self._now())
        for c in counts:
            report.new += c.new
            report.updated += c.updated
            report.unchanged += c.unchanged
