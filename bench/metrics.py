"""Benchmark: metrics on versus off in one run, and the cost of a /metrics scrape.

    python bench/metrics.py [CORPUS] [--runs 200] [--scrapes 500] [--subscriptions 1000]

1. The corpus (default ../shared/corpus) is ingested into a temporary database and 1,000 digest
   subscriptions are added (due in 12 h: none fires during the run); a copy of the database is
   made so that two bots can run at once (each holds its own database's run lock).
2. Two Discord API doubles and two ``newsbot run`` processes start: one with metrics off (no
   ``[http]``), one with ``[http] listen`` (metrics and health on). The command cases of
   ``bench/bot.py`` are measured on both, interleaved run by run, so that both see the same
   machine load.
3. ``GET /metrics`` is timed ``--scrapes`` times on the bot with metrics on (every scrape also
   runs the readiness checks and reads the article and story counts).

Bars: the p99 of all command round trips (every command case pooled) with metrics on <= 1.05 x
the same with metrics off, and likewise for autocomplete; /metrics p99 <= 20 ms. Per-case p99
ratios are printed too, for information: with a few hundred runs a case's p99 is its 2nd-5th
slowest run and moves by more than 5% from machine noise alone (the "Next button" case, which
metrics do not touch at all, shows how much).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import DigestConfig  # noqa: E402
from bot.services.digest import DigestService  # noqa: E402
from bot.storage.backup import backup  # noqa: E402
from bot.storage.db import open_database  # noqa: E402
from tests.discord_double import DiscordDouble  # noqa: E402

RATIO_BAR = 1.05
SCRAPE_BAR_MS = 20.0


def load_bench_bot():
    """bench/bot.py's helpers (BotProcess, cases, ...) without restructuring that script."""
    spec = importlib.util.spec_from_file_location("bench_bot", ROOT / "bench" / "bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def add_subscriptions(db_path: Path, guild_id: int, channel_id: int, count: int) -> None:
    due = datetime.now(UTC) + timedelta(hours=12)
    async with open_database(db_path) as db:
        service = DigestService(db, DigestConfig(max_subscriptions_per_guild=1000))
        existing = len(await service.all_subscriptions())
        for i in range(existing, count):
            await service.subscribe(
                guild_id=guild_id,
                channel_id=channel_id,
                # one minute apart: identical subscriptions are refused, and none is due during
                # the run (the earliest is 4.6 h away)
                time=f"{due + timedelta(minutes=i):%H:%M}",
                timezone="UTC",
                name=f"bench digest {i}",
            )


def write_config(bb, folder: Path, corpus: Path, db_path: Path, guild: int, http: bool) -> Path:
    extra = folder / "no-extra"  # bench/bot.py's second source; empty here
    extra.mkdir(exist_ok=True)
    path = bb.write_config(folder, corpus, db_path, guild, extra)
    target = folder / f"{db_path.stem}.toml"  # one per bot (and database)
    text = path.read_text(encoding="utf-8")
    if http:
        text += '[http]\nlisten = "127.0.0.1:0"\n'
    target.write_text(text, encoding="utf-8")
    return target


async def main() -> int:
    bb = load_bench_bot()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=bb.DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A run: both bots with metrics off (the 'on' bot keeps only the HTTP server off "
        "too), to show how far the ratios move from machine noise alone",
    )
    opts = parser.parse_args()
    if not opts.corpus.is_dir():
        print(f"corpus not found: {opts.corpus}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="newsbot-bench-metrics-") as tmp:
        folder = Path(tmp)
        off_db, on_db = folder / "off.db", folder / "on.db"
        async with DiscordDouble(token=bb.TOKEN) as d_off, DiscordDouble(token=bb.TOKEN) as d_on:
            args = await bb.prepare_database(opts.corpus, off_db)
            guild = d_off.world.guild
            channel = guild.channel("news")
            await add_subscriptions(off_db, guild.id, channel.id, opts.subscriptions)
            await asyncio.to_thread(backup, off_db, on_db)
            corpus = opts.corpus.resolve()
            off_cfg = write_config(bb, folder, corpus, off_db.resolve(), guild.id, http=False)
            on_cfg = write_config(
                bb, folder, corpus, on_db.resolve(), d_on.world.guild.id, not opts.control
            )
            bots = {"off": bb.BotProcess(d_off, off_cfg), "on": bb.BotProcess(d_on, on_cfg)}
            for bot in bots.values():
                await bot.start()
            await d_off.wait_ready(timeout=60)
            await d_on.wait_ready(timeout=60)
            for bot in bots.values():
                await bot.wait_for_line(r"bot\.services\.ingest: ingest: .*rejected in", 1800)
            url = ""
            if not opts.control:
                line = await bots["on"].wait_for_line(r"health and metrics on http://", 60)
                url = line.split("health and metrics on ")[1].split()[0]
            mode = "A/A control: metrics off on both" if opts.control else f"metrics on at {url}"
            print(f"{mode}; {opts.subscriptions} subscriptions; corpus {corpus}")

            rows = []
            off_cases, on_cases = bb.cases(d_off, args), bb.cases(d_on, args)
            for (name, kind, off_case), (_, _, on_case) in zip(off_cases, on_cases, strict=True):
                times: dict[str, list[float]] = {"off": [], "on": []}
                for i in range(10):  # warm-up
                    await off_case(i)
                    await on_case(i)
                for i in range(opts.runs):
                    first, second = (off_case, on_case) if i % 2 else (on_case, off_case)
                    a, b = await first(i), await second(i)
                    times["off"].append(a if i % 2 else b)
                    times["on"].append(b if i % 2 else a)
                p99_off = bb.percentile(times["off"], 99)
                p99_on = bb.percentile(times["on"], 99)
                rows.append((name, kind, p99_off, p99_on, times))

            scrapes: list[float] = []
            size = 0
            if opts.control:
                opts.scrapes = 0  # no server to scrape
            async with aiohttp.ClientSession() as session:
                for _ in range(20 if opts.scrapes else 0):
                    async with session.get(f"{url}/metrics") as response:
                        await response.read()
                for _ in range(opts.scrapes):
                    started = time.perf_counter()
                    async with session.get(f"{url}/metrics") as response:
                        body = await response.read()
                        assert response.status == 200
                    scrapes.append((time.perf_counter() - started) * 1000)
                    size = len(body)
            scrapes = scrapes or [0.0]
            for bot in bots.values():
                await bot.stop()

    print(f"\n{'what':32} {'off p50':>8} {'on p50':>8} {'off p99':>8} {'on p99':>8} {'on/off':>7}")
    print("-" * 78)
    for name, _kind, p_off, p_on, times in rows:
        m_off, m_on = bb.percentile(times["off"], 50), bb.percentile(times["on"], 50)
        print(f"{name:32} {m_off:8.2f} {m_on:8.2f} {p_off:8.2f} {p_on:8.2f} {p_on / p_off:7.3f}")
    pooled_ok = True
    for kind in ("command", "autocomplete"):
        off = [t for r in rows if r[1] == kind for t in r[4]["off"]]
        on = [t for r in rows if r[1] == kind for t in r[4]["on"]]
        p_off, p_on = bb.percentile(off, 99), bb.percentile(on, 99)
        m_off, m_on = bb.percentile(off, 50), bb.percentile(on, 50)
        ok = p_on <= p_off * RATIO_BAR
        pooled_ok = pooled_ok and ok
        print(
            f"{'all ' + kind + 's (' + str(len(on)) + ' runs)':32} {m_off:8.2f} {m_on:8.2f} "
            f"{p_off:8.2f} {p_on:8.2f} {p_on / p_off:7.3f}  bar {RATIO_BAR:.2f}: "
            f"{'yes' if ok else 'NO'}"
        )
    s50, s99 = bb.percentile(scrapes, 50), bb.percentile(scrapes, 99)
    scrape_ok = s99 <= SCRAPE_BAR_MS
    if not opts.control:
        print(
            f"\n/metrics scrape ({size} bytes): p50 {s50:.2f} ms, p99 {s99:.2f} ms, max "
            f"{max(scrapes):.2f} ms over {len(scrapes)} scrapes; bar {SCRAPE_BAR_MS:.0f} ms: "
            f"{'yes' if scrape_ok else 'NO'}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"times in ms; load average {load} on {os.cpu_count()} cores (a shared machine)")
    return 0 if pooled_ok and scrape_ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
