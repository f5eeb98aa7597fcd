"""Digest fan-out served by several real ``newsbot run`` processes on one PostgreSQL database.

``python -m bench.digest --processes 4 --pg ADMIN_URL [--subs 10000]``: a scratch database is
created on the server of ``ADMIN_URL`` (named ``$NEWSBOT_TEST_PG_PREFIX_bench_...``, dropped at the
end), the corpus ingested, ``--subs`` subscriptions in as many channels (10 guilds) due 10 minutes
ago; then one gateway process and ``processes - 1`` workers (``--shard-ids none``) start against
the Discord API double (global limit 50 requests/s, 5 messages / 5 s per channel). The leader's
catch-up plans every digest; every process claims runs and posts them, paced together through
the database. Printed: delivery time (leader elected -> last message accepted) against the
floor the global limit allows, duplicates and missing messages, then the time a new leader
takes over after the leader is killed (SIGKILL). Bars: delivery <= 1.2 x floor, 0 duplicates,
0 missing, takeover <= 30 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.digest import CHANNEL_LIMIT, GLOBAL_PER_S, TOPICS, write_corpus
from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.services.ingest import IngestService
from bot.storage.db import open_database
from tests.discord_double import DiscordDouble, default_world
from tests.support.backends import PgServer, rows
from tests.support.multi import until
from tests.support.ops import TOKEN, BotProcess, run_env

GUILDS = 10
CONFIG = """[ingest]
sources = ["{src}"]
rescan_minutes = 0
workers = 1
[digest]
max_subscriptions_per_guild = 1000
"""


async def populate(url: str, src: Path, channels: list[tuple[int, int]], stories: int) -> None:
    now = datetime.now(UTC)
    async with open_database(url) as db:
        ingest = IngestService(db, workers=1, clock=(now - timedelta(hours=1)).timestamp)
        report = await ingest.ingest([str(src)])
        assert report.ok, report.rejected
        created = int((now - timedelta(minutes=30)).timestamp())
        due = now - timedelta(minutes=10)
        rows_ = [
            (
                guild_id,
                channel_id,
                f"Digest {i}",
                f"{due:%H:%M}",
                "UTC",
                json.dumps([TOPICS[i % len(TOPICS)]] if i % 2 else []),
                10,  # one message each: the floor is one post per digest
                created,
                created,
            )
            for i, (guild_id, channel_id) in enumerate(channels)
        ]

        def insert(conn) -> None:  # one transaction (the service's subscribe takes ~10 ms each)
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO digest_subscriptions(guild_id, channel_id, name, local_time, "
                "timezone, topics, max_stories, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows_,
            )
            conn.execute("COMMIT")

        await db.run(insert)
        service = DigestService(db, DigestConfig(), clock=lambda: now)
        subs = await service.all_subscriptions()  # read back through the service: valid rows
        assert len(subs) == len(channels), len(subs)


def accepted(double: DiscordDouble, mark: int) -> tuple[int, int]:
    """(messages that exist, requests repeated with a nonce already used)."""
    posts = [
        r
        for r in double.requests[mark:]
        if r.method == "POST" and r.path.endswith("/messages") and r.status == 200
    ]
    return len({r.response["id"] for r in posts}), double.rest.nonce_duplicates


async def run_multi(subs: int, stories: int, processes: int, admin: str) -> bool:
    server = PgServer(admin)
    url = server.create(label="bench")
    world = default_world()
    guilds = [world.guild] + [world.add_guild(f"Guild {g}") for g in range(1, GUILDS)]
    channels = [
        (guilds[i % GUILDS].id, guilds[i % GUILDS].add_channel(f"digest-{i:05d}").id)
        for i in range(subs)
    ]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            src = root / "src"
            write_corpus(src, stories, datetime.now(UTC) - timedelta(hours=1))
            started = time.perf_counter()
            await populate(url, src, channels, stories)
            setup = time.perf_counter() - started
            print(f"setup: {subs} subscriptions on PostgreSQL in {setup:.1f} s")
            config = root / "config.toml"
            config.write_text(CONFIG.format(src=root / "empty"), encoding="utf-8")
            async with DiscordDouble(
                world,
                token=TOKEN,
                global_limit_per_s=GLOBAL_PER_S,
                channel_message_limit=CHANNEL_LIMIT,
            ) as double:
                env = run_env(double.api_base, double.gateway_url, config, NEWSBOT_DB=url)
                return await _serve(root, env, double, url, len(channels), processes)
    finally:
        server.drop(url)


async def _serve(
    root: Path, env: dict[str, str], double: DiscordDouble, url: str, subs: int, n: int
) -> bool:
    mark = double.mark()
    specs = [()] + [("--shard-ids", "none")] * (n - 1)
    procs = [BotProcess(root, env, run_args=args) for args in specs]
    for proc in procs:
        await proc.__aenter__()
    try:
        leader = await _leader(procs, 60)
        elected = time.perf_counter()
        timeline = asyncio.create_task(_sample(double, mark, url))
        try:
            await until(lambda: accepted(double, mark)[0] >= subs, subs, "every digest posted")
        except AssertionError:
            print(f"posted {accepted(double, mark)[0]} of {subs}; the logs:")
            for proc in procs:
                print("\n".join(ln for ln in proc.lines if "apscheduler" not in ln)[-2500:])
            raise
        delivered = time.perf_counter() - elected
        timeline.cancel()
        samples = await timeline
        sent_sql = "SELECT count(*) FROM digest_runs WHERE status = 'sent'"
        await until(lambda: rows(url, sent_sql)[0][0] >= subs, 60, "every run marked sent")
        _, repeats = accepted(double, mark)
        channel_ids = [c for _, c in rows(url, "SELECT id, channel_id FROM digest_runs")]
        counts = [len(double.channel_messages(c)) for c in channel_ids]
        duplicates = sum(max(0, k - 1) for k in counts)  # one message per digest
        missing = sum(1 for k in counts if k == 0)
        runs = len(channel_ids)
        floor = subs / GLOBAL_PER_S
        print(f"processes: {n} (1 gateway + {n - 1} workers)   digests: {subs}   sent: {runs}")
        print(
            f"delivery (leader elected -> last message accepted): {delivered:.1f} s   "
            f"floor {floor:.1f} s ({subs} msgs / {GLOBAL_PER_S} per s)   "
            f"ratio {delivered / floor:.3f}   (bar <= 1.2)"
        )
        print(
            f"429 served: {double.stats.rate_limited} (global {double.stats.global_rate_limited})"
            f"   duplicates: {duplicates}   missing: {missing}   nonce repeats: {repeats}"
        )
        print(_phases(elected, samples, subs))
        takeover = await _takeover(procs, leader)
        print(f"leader killed (SIGKILL): new leader after {takeover:.1f} s   (bar <= 30 s)")
        ok = delivered <= 1.2 * floor and not duplicates and not missing and takeover <= 30
        print("PASS" if ok else "FAIL")
        return ok
    finally:
        for proc in procs:
            await proc.__aexit__(None, None, None)
        logs = os.environ.get("NEWSBOT_BENCH_LOGS")  # a folder: each process's log written there
        if logs:
            _write_logs(Path(logs), [proc.lines for proc in procs])


def _write_logs(folder: Path, logs: list[list[str]]) -> None:
    for i, lines in enumerate(logs):
        (folder / f"process-{i}.log").write_text("\n".join(lines), encoding="utf-8")


Sample = tuple[float, int, int]  # (time, runs planned, messages accepted)


async def _sample(double: DiscordDouble, mark: int, url: str) -> list[Sample]:
    """(time, runs in the ledger, messages accepted) every 0.5 s, until cancelled."""
    samples: list[Sample] = []
    seen, posted, sql = mark, 0, "SELECT count(*) FROM digest_runs"
    try:
        while True:
            planned = (await asyncio.to_thread(rows, url, sql))[0][0]
            new, seen = double.requests[seen:], len(double.requests)
            posted += sum(
                1
                for r in new
                if r.method == "POST" and r.path.endswith("/messages") and r.status == 200
            )
            samples.append((time.perf_counter(), planned, posted))
            await asyncio.sleep(0.5)
    except asyncio.CancelledError:
        return samples


def _phases(elected: float, samples: list[Sample], subs: int) -> str:
    """Where the delivery time went: planning (runs in the ledger) against posting (accepted
    messages), both sampled every 0.5 s."""

    def reached(count: int, column: int = 2) -> float:
        return next((s[0] - elected for s in samples if s[column] >= count), float("nan"))

    t10, t90 = reached(subs // 10), reached(subs * 9 // 10)
    middle = (subs * 8 // 10) / (t90 - t10) if t90 > t10 else float("nan")
    return (
        f"phases: every run planned {reached(subs, 1):.1f} s after the election; "
        f"first message {reached(1):.1f} s; 10% {t10:.1f} s; 90% {t90:.1f} s "
        f"(posting {middle:.1f} msgs/s between them)"
    )


async def _leader(procs: list[BotProcess], timeout: float) -> BotProcess:  # noqa: ASYNC109
    try:
        async with asyncio.timeout(timeout):
            while True:
                for proc in procs:
                    if any("is the scheduler leader" in line for line in proc.lines):
                        return proc
                    if proc.proc is not None and proc.proc.returncode is not None:
                        raise RuntimeError(f"a process exited:\n{proc.text[-3000:]}")
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise RuntimeError(f"no leader:\n{procs[0].text[-3000:]}") from None


async def _takeover(procs: list[BotProcess], leader: BotProcess) -> float:
    assert leader.proc is not None
    others = [p for p in procs if p is not leader]
    seen = {id(p): len(p.lines) for p in others}
    os.kill(leader.proc.pid, signal.SIGKILL)
    killed = time.perf_counter()
    async with asyncio.timeout(60):
        while True:
            for proc in others:
                if any("is the scheduler leader" in ln for ln in proc.lines[seen[id(proc)] :]):
                    return time.perf_counter() - killed
            await asyncio.sleep(0.02)
