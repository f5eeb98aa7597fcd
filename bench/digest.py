"""Digest fan-out benchmark: 1,000 subscriptions in 1,000 channels due in the same minute.

The Discord API double enforces a global limit of 50 requests/s and 5 messages / 5 s per channel,
with real rate-limit headers; the real discord.py client posts through the bot's DiscordPoster.
Prints the time to build every digest, and the time until the last message was accepted against
the floor the rate limits allow (total messages / 50 per s). Bars: build <= 2 s, delivery <=
1.2 x floor, zero duplicates, zero missing.

    python -m bench.digest [--subs 1000] [--stories 60] [--rate 48]
    python -m bench.digest --processes 4 --pg ADMIN_URL --subs 10000   (bench/digest_multi.py)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord

from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.services.ingest import IngestService
from bot.storage.db import open_database
from bot.ui.cogs.digest import DiscordPoster
from tests.discord_double import DEFAULT_TOKEN, DiscordDouble, default_world, running_client
from tests.factories import write_article

GLOBAL_PER_S = 50
CHANNEL_LIMIT = (5, 5.0)
TOPICS = ("AI", "Chips", "Climate", "Space", "Security")
NOW = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 Europe/London


def write_corpus(folder: Path, stories: int, now: datetime = NOW) -> None:
    for i in range(stories):
        published = now - timedelta(hours=1 + (i % 20))
        write_article(
            folder,
            f"s{i:04d}.txt",
            f"Headline {i} about alpha{i} bravo{i} charlie{i}",
            f"https://bench{i}.example.com/story/{i}",
            published=published.strftime("%Y-%m-%dT%H:%M:%SZ"),
            excerpt=f"Excerpt {i}: " + "the details of what happened and why it matters. " * 4,
            quality=40 + (i * 7) % 60,
            topics=[TOPICS[i % len(TOPICS)], TOPICS[(i + 1) % len(TOPICS)]],
            provider=f"Outlet {i % 13}",
        )


async def run(subs: int, stories: int, rate: float) -> bool:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bot.services.digest").setLevel(logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    world = default_world()
    guild = world.guild
    channels = [guild.add_channel(f"digest-{i:04d}").id for i in range(subs)]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        write_corpus(src, stories)
        async with open_database(Path(tmp) / "bench.db") as db:
            ingest = IngestService(db, workers=1, clock=(NOW - timedelta(minutes=30)).timestamp)
            report = await ingest.ingest([str(src)])
            assert report.ok, report.rejected
            clock = lambda: NOW  # noqa: E731 - a fixed clock: every job fires at 08:00
            config = DigestConfig(max_subscriptions_per_guild=1000)
            service = DigestService(db, config, clock=clock, concurrency=64)
            for i, channel in enumerate(channels):
                kind = i % 4
                await service.subscribe(
                    guild_id=guild.id,
                    channel_id=channel,
                    time="08:00",
                    timezone="Europe/London",
                    topics=[TOPICS[i % len(TOPICS)]] if kind in (1, 3) else None,
                    min_quality=60 if kind == 2 else None,
                    include="details" if kind == 3 else None,
                    exclude=f"alpha{i % stories}" if kind == 1 else None,
                    max_stories=10 + i % 6,
                )
            async with DiscordDouble(
                world, global_limit_per_s=GLOBAL_PER_S, channel_message_limit=CHANNEL_LIMIT
            ) as double:
                client = discord.Client(intents=discord.Intents.none())
                async with running_client(double, client, DEFAULT_TOKEN, timeout=30):
                    service.poster = DiscordPoster(client, rate=rate or None)
                    ids = [s.id for s in await service.all_subscriptions()]
                    mark = double.mark()
                    started = time.perf_counter()
                    planned = await asyncio.gather(*(service.plan_scheduled(i) for i in ids))
                    built = time.perf_counter() - started
                    results = await asyncio.gather(
                        *(service.deliver(*p) for p in planned if p is not None)
                    )
                    delivered = time.perf_counter() - started
                    return report_figures(double, db, mark, planned, results, built, delivered)


def report_figures(double, db, mark, planned, results, built, delivered) -> bool:
    runs = [p[1] for p in planned if p is not None]
    expected = {r.channel_id: len(r.messages) for r in runs}
    total = sum(expected.values())
    posts = [r for r in double.requests[mark:] if r.method == "POST" and "/messages" in r.path]
    accepted = collections.Counter(int(r.path.split("/")[2]) for r in posts if r.status == 200)
    nonces = collections.Counter(r.json.get("nonce") for r in posts if r.status == 200)
    duplicates = sum(n - 1 for n in nonces.values() if n > 1) + sum(
        max(accepted[c] - n, 0) for c, n in expected.items()
    )
    missing = sum(max(n - accepted[c], 0) for c, n in expected.items())
    failed = [r for r in results if r.status != "sent"]
    floor = total / GLOBAL_PER_S
    stories = sum(len(r.story_ids) for r in runs)
    print(f"subscriptions: {len(planned)}  digests planned: {len(runs)}  stories: {stories}")
    print(f"messages: {total}  (embeds per message <= 10, <= 6000 chars)")
    print(f"build all digests: {built:.2f} s   (bar <= 2 s)")
    print(
        f"last message accepted after: {delivered:.2f} s   floor {floor:.2f} s "
        f"({total} msgs / {GLOBAL_PER_S} per s)   ratio {delivered / floor:.3f}   (bar <= 1.2)"
    )
    print(
        f"429 served: {double.stats.rate_limited} (global {double.stats.global_rate_limited})   "
        f"duplicates: {duplicates}   missing: {missing}   failed runs: {len(failed)}"
    )
    ok = built <= 2.0 and delivered <= 1.2 * floor and not duplicates and not missing
    print("PASS" if ok else "FAIL")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subs", type=int, default=1000)
    parser.add_argument("--stories", type=int, default=60)
    parser.add_argument("--rate", type=float, default=48.0, help="client pacing, req/s (0: off)")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="serve the digests with this many real `newsbot run` processes (needs --pg)",
    )
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL admin url for --processes")
    args = parser.parse_args()
    if args.processes:
        if not args.pg:
            parser.error("--processes needs --pg URL (several processes share a PostgreSQL)")
        from bench.digest_multi import run_multi

        ok = asyncio.run(run_multi(args.subs, args.stories, args.processes, args.pg))
        sys.exit(0 if ok else 1)
    ok = asyncio.run(run(args.subs, args.stories, args.rate))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
