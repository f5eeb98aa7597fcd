"""Shared helpers for the digest tests (no tests here): a controllable clock, article ingest at a
chosen time, a recording poster with scripted failures, and the service wiring."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import DigestConfig
from bot.domain.digest_messages import MessagePlan
from bot.services.digest import DeliveryError, DigestService
from bot.storage.db import Database
from tests.factories import write_article

WORDS = [
    "falcon",
    "quasar",
    "meadow",
    "lantern",
    "harbor",
    "cobalt",
    "saffron",
    "glacier",
    "orchard",
    "tundra",
    "velvet",
    "ember",
    "prairie",
    "canyon",
    "beacon",
    "summit",
    "marble",
    "willow",
    "thistle",
    "juniper",
    "lagoon",
    "mosaic",
    "nebula",
    "quartz",
    "cedar",
    "dune",
    "fjord",
    "garnet",
    "heron",
    "iris",
    "jasper",
    "kelp",
    "lotus",
    "maple",
    "nectar",
    "opal",
    "pebble",
    "quill",
    "raven",
    "sierra",
    "topaz",
    "umber",
    "vortex",
    "walnut",
    "yarrow",
    "zephyr",
    "acorn",
    "basil",
    "clover",
    "delta",
]


def words(n: int, k: int = 3) -> str:
    """``k`` distinctive words for story ``n`` (so that different stories never group)."""
    return " ".join(f"{WORDS[(n * k + i) % len(WORDS)]}{n}" for i in range(k))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class Article:
    n: int  # story number: distinct words in the title
    published: datetime
    topics: tuple[str, ...] = ("AI",)
    quality: int = 70
    excerpt: str = "Details of the event."
    provider: str = "Example News"
    suffix: str = ""


_files = itertools.count()


async def ingest(db: Database, folder: Path, articles: Sequence[Article], at: datetime) -> None:
    """Write article files and ingest them as if at ``at`` (their first-seen time)."""
    paths = []
    for a in articles:
        i = next(_files)
        title = f"Story {words(a.n)} announced {a.suffix}".strip()
        paths.append(
            write_article(
                folder,
                f"a{i:05d}.txt",
                title,
                f"https://news{i}.example.com/story-{a.n}-{i}",
                published=a.published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                excerpt=a.excerpt,
                quality=a.quality,
                topics=list(a.topics),
                provider=a.provider,
            )
        )
    from bot.services.ingest import IngestService  # imported late: only ingesting tests need it

    service = IngestService(db, workers=1, clock=at.timestamp)
    report = await service.ingest([str(p) for p in paths])
    assert report.ok, report.rejected


@dataclass
class Post:
    channel_id: int
    message: MessagePlan
    nonce: str
    message_id: int


@dataclass
class FakePoster:
    """Records posts; ``failures[channel]`` is a list of exceptions raised by the next posts
    there (``None`` entries let a post through); ``crash_after`` raises ``Crash`` once that many
    posts succeeded (a kill in the middle of a digest)."""

    posts: list[Post] = field(default_factory=list)
    failures: dict[int, list[BaseException | None]] = field(default_factory=dict)
    crash_after: int | None = None
    ids: itertools.count = field(default_factory=lambda: itertools.count(9000))

    async def post(self, channel_id: int, message: MessagePlan, *, nonce: str) -> int:
        if self.crash_after is not None and len(self.posts) >= self.crash_after:
            raise Crash()
        queue = self.failures.get(channel_id)
        if queue:
            exc = queue.pop(0)
            if exc is not None:
                raise exc
        post = Post(channel_id, message, nonce, next(self.ids))
        self.posts.append(post)
        return post.message_id

    def channel(self, channel_id: int) -> list[Post]:
        return [p for p in self.posts if p.channel_id == channel_id]


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing handles it."""


def make_service(
    db: Database,
    clock: Clock,
    *,
    poster: object | None = None,
    config: DigestConfig | None = None,
    **kw: object,
) -> DigestService:
    async def topic_name(text: str) -> str:
        from bot.services.query import QueryService  # the real topic check, imported when used

        return await QueryService(db, clock=clock).topic_exists(text)

    # Runs that could not post are retried later within grace only where a test asks for it
    # (``later_delays=...``), with a sleep that moves its clock.
    kw.setdefault("later_delays", ())
    return DigestService(
        db,
        config or DigestConfig(),
        topic_name=topic_name,
        clock=clock,
        poster=poster,  # type: ignore[arg-type]
        sleep=_no_sleep,
        **kw,  # type: ignore[arg-type]
    )


async def _no_sleep(_seconds: float) -> None:
    return None


__all__ = [
    "Article",
    "Clock",
    "Crash",
    "DeliveryError",
    "FakePoster",
    "Post",
    "ingest",
    "make_service",
    "words",
]
