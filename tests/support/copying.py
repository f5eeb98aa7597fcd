"""A populated database for the ``db copy`` tests: real ingest (articles, related links,
stories), digest subscriptions and a delivered digest run; and what the copy must preserve."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.services.query import QueryService
from bot.storage.copy import TABLES
from bot.storage.db import open_database
from tests.factories import related, write_article
from tests.support.backends import rows
from tests.support.digest import Article, Clock, FakePoster, ingest, make_service

GUILD, CHANNEL = 100, 200
DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 London


async def populate(target: str, folder: Path) -> None:
    """Articles (some grouped into stories by their related lists), two subscriptions, and one
    digest posted through a recording poster (ledger rows, messages, sent stories)."""
    src = folder / "files"
    for i in range(6):
        write_article(
            src, f"r{i}.md", f"Quasar telescope finds signal {i}", f"https://r.example/{i}",
            published=f"2024-06-02T1{i}:00:00Z", topics=["Space", "Science"], quality=60 + i,
            related_items=[related(f"Quasar telescope finds signal {i - 1}",
                                   f"https://r.example/{i - 1}", "2024-06-02T09:00:00Z")]
            if i else None,
        )  # fmt: skip
    clock = Clock(DAY1 - timedelta(hours=3))
    async with open_database(target) as db:
        news = [Article(n, DAY1 - timedelta(hours=5), topics=("AI",)) for n in range(8)]
        await ingest(db, folder / "news", news, DAY1 - timedelta(hours=2))
        from bot.services.ingest import IngestService

        async with IngestService(db, workers=1, clock=(DAY1 - timedelta(hours=2)).timestamp) as s:
            assert (await s.ingest([str(src)])).ok
        poster = FakePoster()
        service = make_service(db, clock, poster=poster)
        sub = await service.subscribe(
            guild_id=GUILD, channel_id=CHANNEL, time="08:00", timezone="Europe/London",
            topics="AI",
        )  # fmt: skip
        await service.subscribe(
            guild_id=GUILD, channel_id=CHANNEL + 1, time="09:30", timezone="UTC", topics="Space"
        )
        clock.set(DAY1)
        result = await service.run_scheduled(sub.id, now=DAY1)
        assert result.status == "sent" and poster.posts, result


def contents(target: str) -> dict[str, list[tuple]]:
    """Every row of every table, sorted (for comparing two SQLite files)."""
    return {t: sorted(rows(target, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def counts(target: str) -> dict[str, int]:
    return {t: rows(target, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


async def answers(target: str) -> dict[str, Any]:
    """What users see: topics, a search, a story with its coverage, the digest status."""
    async with open_database(target) as db:
        query = QueryService(db, clock=lambda: DAY1)
        topics = await query.topics()
        hits = await query.search("quasar telescope", limit=20)
        first = (await query.stories(limit=1)).items[0]
        story = await query.story(first.story.id)
        service = make_service(db, Clock(DAY1))
        status = await service.status(GUILD)
    return {
        "topics": [(t.name, t.articles, t.stories) for t in topics.items],
        "search": sorted(h.item.url for h in hits.items),
        "story": (story.story.id, story.story.article_count, [c.url for c in story.coverage]),
        "status": [
            (s.subscription.id, s.subscription.name, s.last_run.status if s.last_run else None)
            for s in status
        ],
        "ledger": json.dumps(
            rows(target, "SELECT id, subscription_id, status, story_ids FROM digest_runs"),
            default=str,
        ),
    }
