"""Benchmark: slash-command round trips of the real `newsbot run` process, via the Discord double.

    python bench/bot.py [CORPUS] [--runs 200] [--db PATH] [--cold]

1. The corpus (default ../shared/corpus) is ingested into a temporary database (or ``--db``,
   reused when it already holds data). With ``--cold`` the bot ingests it itself at start instead.
2. The Discord API double starts here; ``newsbot run`` starts as a separate process pointed at it
   (NEWSBOT_DISCORD_API_BASE / NEWSBOT_DISCORD_GATEWAY), registers its commands in the double's
   guild (dev_guild_id) and rescans the corpus once (all files unchanged).
3. Each command is injected ``--runs`` times, one at a time, after a warm-up; the round trip is
   "INTERACTION_CREATE sent -> the bot's callback recorded by the double". Autocomplete and page
   turns (button presses) are measured the same way.
4. The bot process's memory is read from /proc/PID/status (VmRSS now, VmHWM peak).
5. During an ingest: a copy of the corpus with every article's url changed (5,516 new articles
   whose related lists point at the stored ones) is dropped into a second source folder; the bot's
   next rescan ingests it while every case is run round-robin until that ingest has finished. The
   figures are printed next to the idle ones (bar: autocomplete p99 <= 100 ms during the ingest).

Bars: p99 <= 50 ms per command, <= 20 ms per autocomplete, RSS <= 150 MB (idle);
autocomplete p99 <= 100 ms and commands within Discord's 3 s during the ingest.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

from bot.services.ingest import IngestService  # noqa: E402
from bot.services.query import QueryService  # noqa: E402
from bot.storage.db import open_database  # noqa: E402
from tests.discord_double import DiscordDouble  # noqa: E402

TOKEN = "bench-token"
COMMAND_BAR_MS = 50.0
AUTOCOMPLETE_BAR_MS = 20.0
RSS_BAR_MB = 150.0
DURING_AUTOCOMPLETE_BAR_MS = 100.0
DURING_COMMAND_BAR_MS = 3000.0  # Discord's deadline for the first response
RESCAN_MINUTES = 0.25  # the second source folder is picked up within this
SEARCHES = [
    "azure machine learning",
    "diablo",
    "power apps",
    "security update",
    "kubernetes",
    "data",
    "new season",
    "virtual machines",
    "ai",
    "preview",
]
PREFIXES = ["a", "az", "azu", "intro", "dia", "power", "new", "how", "micro", "the", "", "w"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def proc_memory(pid: int) -> dict[str, float]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return found


async def prepare_database(corpus: Path, db_path: Path) -> dict:
    """Ingest the corpus (unless the database already has it); pick arguments for the commands."""
    async with open_database(db_path) as db:
        started = time.perf_counter()
        report = await IngestService(db).ingest([str(corpus)])
        print(
            f"ingest: {report.files} files, {report.new} new, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected in {time.perf_counter() - started:.1f}s"
        )
        query = QueryService(db)
        topics = (await query.topics(limit=10)).items
        stories = []
        for offset in range(0, 2000, 100):  # the top 2000 stories
            stories += [s.story for s in (await query.stories(limit=100, offset=offset)).items]
        # the top stories, and the ones with the most coverage (the heaviest /story pages)
        picked = stories[:10] + sorted(stories, key=lambda st: -st.item_count)[:10]
        return {
            "topics": [t.name for t in topics] or ["AI"],
            "articles": [f"article:{st.lead.id}" for st in picked] or ["article:1"],
            "max_coverage": max((st.item_count for st in stories), default=0),
        }


def write_config(folder: Path, corpus: Path, db_path: Path, guild_id: int, extra: Path) -> Path:
    path = folder / "bench-config.toml"
    path.write_text(
        f'log_level = "INFO"\n[database]\npath = "{db_path}"\n'
        f'[ingest]\nsources = ["{corpus}", "{extra}"]\nrescan_minutes = {RESCAN_MINUTES}\n'
        f"[discord]\ndev_guild_id = {guild_id}\n",
        encoding="utf-8",
    )
    return path


_OWN_URL = re.compile(r'^(webUrl|originalUrl): ("?)(https?://)', re.MULTILINE)


def copy_corpus(corpus: Path, extra: Path) -> int:
    """The corpus with each article's own url moved to a "copy." host, placed in ``extra`` at
    once (written in a hidden folder, which no walk enters, then renamed). Returns the count."""
    staging = extra / ".staging"
    count = 0
    for source in sorted(corpus.rglob("*")):
        if not source.is_file():
            continue
        target = staging / source.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8", errors="surrogateescape")
        target.write_text(
            _OWN_URL.sub(r"\1: \2\3copy.", text), encoding="utf-8", errors="surrogateescape"
        )
        count += 1
    staging.rename(extra / "copy")
    return count


def copied_articles(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT count(*) FROM items WHERE is_article = 1 AND url LIKE 'https://copy.%'"
        ).fetchone()[0]
    finally:
        conn.close()


class BotProcess:
    """`newsbot run` as a child process; its log lines are collected."""

    def __init__(self, double: DiscordDouble, config: Path) -> None:
        self.double = double
        self.config = config
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "NEWSBOT_"))}
        env.update(
            DISCORD_TOKEN=TOKEN,
            NEWSBOT_CONFIG=str(self.config),
            NEWSBOT_DISCORD_API_BASE=self.double.api_base,
            NEWSBOT_DISCORD_GATEWAY=self.double.gateway_url,
            PYTHONPATH=str(ROOT),
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=self.config.parent,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def wait_for_line(self, pattern: str, within: float) -> str:
        regex = re.compile(pattern)
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError("the bot exited:\n" + "\n".join(self.lines[-20:]))
                await asyncio.sleep(0.05)

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code


Case = Callable[[int], Awaitable[float]]  # run number -> milliseconds


def cases(double: DiscordDouble, args: dict) -> list[tuple[str, str, Case]]:
    topics, articles = args["topics"], args["articles"]

    async def slash(name: str, options: dict | None = None) -> float:
        handle = await double.slash(name, options)
        await handle.response(timeout=10)
        return (asyncio.get_running_loop().time() - handle.created_at) * 1000

    async def complete(name: str, option: str, typed: str) -> float:
        handle = await double.autocomplete(name, {option: typed}, focused=option)
        response = await handle.response(timeout=10)
        assert response["type"] == 8, response
        return (asyncio.get_running_loop().time() - handle.created_at) * 1000

    next_ids: list[str] = []

    async def page_turn(i: int) -> float:
        if not next_ids:
            handle = await double.slash("news")
            data = (await handle.response(timeout=10))["data"]
            row = data["components"][0]["components"]
            next_ids.append(next(c["custom_id"] for c in row if c["label"] == "Next"))
        press = await double.component(next_ids.pop())
        response = await press.response(timeout=10)
        assert response["type"] == 7, response
        return (asyncio.get_running_loop().time() - press.created_at) * 1000

    return [
        ("/topics", "command", lambda i: slash("topics")),
        ("/news", "command", lambda i: slash("news")),
        (
            "/news topic min_quality days",
            "command",
            lambda i: slash(
                "news", {"topic": topics[i % len(topics)], "min_quality": 60, "days": 365}
            ),
        ),
        (
            "/story article",
            "command",
            lambda i: slash("story", {"article": articles[i % len(articles)]}),
        ),
        (
            "/related article",
            "command",
            lambda i: slash("related", {"article": articles[i % len(articles)]}),
        ),
        (
            "/search query",
            "command",
            lambda i: slash("search", {"query": SEARCHES[i % len(SEARCHES)]}),
        ),
        ("/help", "command", lambda i: slash("help")),
        ("Next button", "command", page_turn),
        (
            "autocomplete /story article",
            "autocomplete",
            lambda i: complete("story", "article", PREFIXES[i % len(PREFIXES)]),
        ),
        (
            "autocomplete /news topic",
            "autocomplete",
            lambda i: complete("news", "topic", PREFIXES[i % len(PREFIXES)][:2]),
        ),
    ]


async def measure(case: Case, runs: int, warmup: int = 10) -> list[float]:
    for i in range(warmup):
        await case(i)
    return [await case(i) for i in range(runs)]


async def measure_during_ingest(
    bot: BotProcess, all_cases: list[tuple[str, str, Case]], corpus: Path, extra: Path, db: Path
) -> tuple[dict[str, list[float]], str, float]:
    """Every case round-robin while the bot ingests a renamed copy of the corpus."""
    copied = await asyncio.to_thread(copy_corpus, corpus, extra)
    mark = len(bot.lines)
    deadline = time.monotonic() + RESCAN_MINUTES * 60 + 120
    while await asyncio.to_thread(copied_articles, db) == 0:  # the next rescan starts writing
        if time.monotonic() > deadline:
            raise RuntimeError("the bot did not start ingesting the copy")
        await asyncio.to_thread(time.sleep, 0.05)
    started = time.perf_counter()
    done = re.compile(r"bot\.services\.ingest: ingest: \d+ files, (\d+) new")
    times: dict[str, list[float]] = {name: [] for name, _, _ in all_cases}
    line = ""
    i = 0
    while not line:
        for name, _, case in all_cases:
            times[name].append(await case(i))
        i += 1
        for text in bot.lines[mark:]:
            found = done.search(text)
            if found and int(found.group(1)) >= copied // 2:
                line = text.split("ingest: ", 2)[-1]
        if bot.proc is not None and bot.proc.returncode is not None:
            raise RuntimeError("the bot exited during the ingest")
    return times, line, time.perf_counter() - started


def print_rows(rows: list[tuple]) -> None:
    print(f"\n{'what':32} {'runs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'bar':>6}  ok")
    print("-" * 78)
    for name, runs, p50, p99, worst, bar, ok in rows:
        print(
            f"{name:32} {runs:5d} {p50:8.2f} {p99:8.2f} {worst:8.2f} {bar:6.0f}  "
            f"{'yes' if ok else 'NO'}"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--db", type=Path, help="database to use (kept); default a temporary one")
    parser.add_argument("--cold", action="store_true", help="let the bot ingest the corpus itself")
    opts = parser.parse_args()
    if not opts.corpus.is_dir():
        print(f"corpus not found: {opts.corpus}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        folder = Path(tmp)
        db_path = opts.db or folder / "bench.db"
        extra = folder / "incoming"
        extra.mkdir()
        async with DiscordDouble(token=TOKEN) as double:
            if opts.cold:
                async with open_database(db_path):
                    pass
            else:
                await prepare_database(opts.corpus, db_path)
            config = write_config(
                folder, opts.corpus.resolve(), db_path.resolve(), double.world.guild.id, extra
            )
            bot = BotProcess(double, config)
            started = time.perf_counter()
            await bot.start()
            await double.wait_ready(timeout=60)
            ready = time.perf_counter() - started
            # the ingest service's one INFO line per run: the start-up scan has finished
            line = await bot.wait_for_line(
                r"bot\.services\.ingest: ingest: .*rejected in", within=1800
            )
            print(
                f"bot process {bot.proc.pid}: READY after {ready:.2f}s; start-up scan: "
                f"{line.split('ingest: ', 2)[-1]}"
            )
            args = await prepare_database(opts.corpus, db_path)  # (already ingested: no-op)
            print(
                f"arguments: {len(args['articles'])} articles (largest story "
                f"{args['max_coverage']} items), topics {', '.join(args['topics'][:5])}"
            )
            memory_before = proc_memory(bot.proc.pid)

            rows = []
            for name, kind, case in cases(double, args):
                times = await measure(case, opts.runs)
                bar = AUTOCOMPLETE_BAR_MS if kind == "autocomplete" else COMMAND_BAR_MS
                p50, p99 = percentile(times, 50), percentile(times, 99)
                rows.append((name, len(times), p50, p99, max(times), bar, p99 <= bar))
            memory = proc_memory(bot.proc.pid)
            all_cases = cases(double, args)
            during, ingest_line, ingest_seconds = await measure_during_ingest(
                bot, all_cases, opts.corpus, extra, db_path
            )
            during_rows = []
            for name, kind, _ in all_cases:
                times = during[name]
                p50, p99 = percentile(times, 50), percentile(times, 99)
                bar = (
                    DURING_AUTOCOMPLETE_BAR_MS if kind == "autocomplete" else DURING_COMMAND_BAR_MS
                )
                during_rows.append((name, len(times), p50, p99, max(times), bar, p99 <= bar))
            code = await bot.stop()

    print("\nidle (the corpus stored, no ingest running):")
    print_rows(rows)
    print(
        f"\nduring an ingest ({ingest_seconds:.1f} s measured; the bot's ingest: {ingest_line}); "
        "bars: commands 3 s (Discord's deadline), autocomplete 100 ms:"
    )
    print_rows(during_rows)
    rss_ok = memory["VmHWM"] <= RSS_BAR_MB
    print(
        f"\nbot RSS: {memory_before['VmRSS']:.1f} MiB after start-up, {memory['VmRSS']:.1f} MiB "
        f"after the runs, peak (VmHWM) {memory['VmHWM']:.1f} MiB; bar {RSS_BAR_MB:.0f} MiB: "
        f"{'yes' if rss_ok else 'NO'}"
    )
    print(f"bot exit code after SIGTERM: {code}")
    during_ok = all(r[-1] for r in during_rows)
    return 0 if all(r[-1] for r in rows) and during_ok and rss_ok and code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
