"""Helpers for feed tests: RSS documents, and a database + feed server + feed service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from bot.config import FeedsConfig
from bot.services.feeds import FeedService
from bot.storage.db import Database, open_database
from tests.support import targets
from tests.support.feed_server import FeedServer

T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    published: datetime | None = None
    guid: str | None = None
    summary: str = ""


def rss(items: Sequence[Item], title: str = "Test Feed", site: str = "https://site.example.com/"):
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(site)}</link>",
    ]
    for it in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(it.title)}</title><link>{escape(it.link)}</link>")
        if it.guid:
            parts.append(f'<guid isPermaLink="false">{escape(it.guid)}</guid>')
        if it.published:
            parts.append(f"<pubDate>{it.published:%a, %d %b %Y %H:%M:%S} GMT</pubDate>")
        if it.summary:
            parts.append(f"<description>{escape(it.summary)}</description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


@dataclass
class FeedEnv:
    db: Database
    server: FeedServer
    service: FeedService
    clock: Clock


@asynccontextmanager
async def feed_env(
    tmp_path: Path, *, target: str | None = None, **config
) -> AsyncIterator[FeedEnv]:
    clock = Clock(T0)
    cfg = replace(FeedsConfig(allow_private_addresses=True, timeout_seconds=5), **config)
    async with (
        FeedServer() as server,
        open_database(target or targets.target(tmp_path, "feeds.db")) as db,
    ):
        service = FeedService(db, cfg, clock=clock, workers=1)
        yield FeedEnv(db, server, service, clock)
