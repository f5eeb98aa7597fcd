"""Soak benchmark: a real `newsbot run` rescanning every minute while files are added.

    python bench/soak.py [--minutes 60] [--rescan-minutes 1] [--add-every 15] [--burst-every 10]

The bot runs as a child process against the Discord API double (as in bench/bot.py) with
``[ingest] rescan_minutes`` set, sources a temporary folder seeded with ``seeds/``. Every
``--add-every`` seconds a few new article files are added (atomically: written in a hidden folder,
then renamed), and every ``--burst-every`` minutes a burst large enough that the rescan parses it in
the parser processes. Every 5 seconds the script samples the RSS (VmRSS) and the open file
descriptors of the bot and of all its descendants (parser processes, resource tracker), and sends
one ``/topics`` command to check that the bot still answers. At the end it prints: crashed or not
(the bot's exit status while running and after SIGTERM), RSS start/end/max and fds start/end/max
(start = after the first rescan), the number of rescans, files added and stored, slow commands.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bot import TOKEN, BotProcess  # noqa: E402
from tests.discord_double import DiscordDouble  # noqa: E402
from tests.factories import write_article  # noqa: E402

SAMPLE_SECONDS = 5.0
BURST = 250  # > PROCESS_THRESHOLD: parsed in the parser processes


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc/*/stat parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def sample(pid: int) -> tuple[float, int, int]:
    """(RSS MiB of the process tree, fds of the bot, fds of the process tree)."""
    rss_kb = 0
    fds_bot = fds_all = 0
    for proc in descendants(pid):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
            count = len(os.listdir(f"/proc/{proc}/fd"))
        except OSError:
            continue
        fds_all += count
        if proc == pid:
            fds_bot = count
    return rss_kb / 1024, fds_bot, fds_all


def add_files(src: Path, start: int, count: int) -> None:
    staging = src / f".incoming-{start}"
    for i in range(start, start + count):
        write_article(
            staging,
            f"soak-{i:06d}.md",
            f"Soak headline {i} about subject {i * 37 % 211}",
            f"https://soak.example/{i}",
            published=f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
        )
    staging.rename(src / f"batch-{start:06d}")


def write_config(folder: Path, src: Path, db: Path, guild: int, rescan_minutes: float) -> Path:
    path = folder / "soak-config.toml"
    path.write_text(
        f'log_level = "INFO"\n[database]\npath = "{db}"\n'
        f'[ingest]\nsources = ["{src}"]\nrescan_minutes = {rescan_minutes}\n'
        f"[discord]\ndev_guild_id = {guild}\n",
        encoding="utf-8",
    )
    return path


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rescan-minutes", type=float, default=1.0)
    parser.add_argument("--add-every", type=float, default=15.0, help="seconds between additions")
    parser.add_argument("--add-count", type=int, default=3, help="files per addition")
    parser.add_argument("--burst-every", type=float, default=10.0, help="minutes between bursts")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsbot-soak-") as tmp:
        folder = Path(tmp)
        src = folder / "src"
        src.mkdir()
        for seed in (ROOT / "seeds").iterdir():
            if seed.is_file():
                (src / seed.name).write_bytes(seed.read_bytes())
        db = folder / "soak.db"
        async with DiscordDouble(token=TOKEN) as double:
            config = write_config(folder, src, db, double.world.guild.id, opts.rescan_minutes)
            bot = BotProcess(double, config)
            await bot.start()
            assert bot.proc is not None
            await double.wait_ready(timeout=120)
            await bot.wait_for_line(r"bot\.services\.ingest: ingest: .*rejected in", within=600)
            pid = bot.proc.pid
            first = sample(pid)
            rss = [first[0]]
            fds_bot = [first[1]]
            fds_all = [first[2]]
            print(
                f"bot {pid} ready; start: RSS {first[0]:.1f} MiB, fds {first[1]} "
                f"(bot) / {first[2]} (tree)",
                flush=True,
            )
            added = 0
            slow: list[float] = []
            started = time.monotonic()
            next_add = started + opts.add_every
            next_burst = started + opts.burst_every * 60
            end = started + opts.minutes * 60
            crashed_code: int | None = None
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_burst:
                    await asyncio.to_thread(add_files, src, added, BURST)
                    added += BURST
                    next_burst += opts.burst_every * 60
                if now >= next_add:
                    await asyncio.to_thread(add_files, src, added, opts.add_count)
                    added += opts.add_count
                    next_add += opts.add_every
                await asyncio.sleep(SAMPLE_SECONDS)
                if bot.proc.returncode is not None:
                    crashed_code = bot.proc.returncode
                    break
                r, fb, fa = sample(pid)
                rss.append(r)
                fds_bot.append(fb)
                fds_all.append(fa)
                t0 = time.perf_counter()
                handle = await double.slash("topics")
                await handle.response(timeout=30)
                took = (time.perf_counter() - t0) * 1000
                if took > 1000:
                    slow.append(took)
                elapsed = (time.monotonic() - started) / 60
                if len(rss) % 12 == 0:
                    print(
                        f"  {elapsed:5.1f} min: RSS {r:.1f} MiB, fds {fb}/{fa}, "
                        f"{added} files added",
                        flush=True,
                    )
            rescans = sum("bot.services.ingest: ingest: " in line for line in bot.lines)
            code = crashed_code if crashed_code is not None else await bot.stop()
        conn = sqlite3.connect(db)
        (stored,) = conn.execute(
            "SELECT count(*) FROM items WHERE url LIKE 'https://soak.example/%' AND is_article = 1"
        ).fetchone()
        conn.close()

    minutes = (time.monotonic() - started) / 60
    crashed = crashed_code is not None or code != 0
    print(f"\nsoak: {minutes:.1f} min, rescan every {opts.rescan_minutes:g} min, {rescans} rescans")
    verdict = f"YES (exit code {code})" if crashed else "no"
    print(f"crashed: {verdict} (exit after SIGTERM: {code})")
    print(f"RSS of the bot and its children, MiB: start {rss[0]:.1f}, end {rss[-1]:.1f}, "
          f"max {max(rss):.1f}")  # fmt: skip
    print(f"open fds of the bot: start {fds_bot[0]}, end {fds_bot[-1]}, max {max(fds_bot)}")
    print(f"open fds of bot + children: start {fds_all[0]}, end {fds_all[-1]}, max {max(fds_all)}")
    print(f"files added {added}, stored as articles {stored}; /topics slower than 1 s: {len(slow)}")
    if slow:
        print(f"  slowest /topics: {max(slow):.0f} ms")
    print("last log lines:\n  " + "\n  ".join(bot.lines[-3:]))
    return 1 if crashed or stored < added - 2 * opts.add_count - BURST else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
