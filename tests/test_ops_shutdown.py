"""SIGTERM / SIGINT end a real ``newsbot run`` process within 10 s in every state: with the
gateway gone (reconnect attempts hanging on a server that never answers), during an ingest, and
during a digest post held up by a long rate limit. The 10 s is a bound on waiting, not a timing
measurement: the test fails only if the process is still running after it. The ingest and the
digest post run on both backends (``db_target``); in the back-off and hung-close tests the
database is incidental (nothing is written), so they stay on the default SQLite."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.services.ingest import IngestService
from bot.storage.db import open_database
from tests.discord_double import DiscordDouble
from tests.factories import write_article
from tests.support.backends import rows
from tests.support.ops import TOKEN, BotProcess, run_env
from tests.support.ui_harness import write_corpus

pytestmark = pytest.mark.timeout(90)

STOP_BOUND = 10.0


def write_config(tmp_path: Path, src: Path, extra: str = "", db: str | None = None) -> Path:
    """``db``: a SQLite path (``[database] path``) or a PostgreSQL url (``[database] url``)."""
    path = tmp_path / "config.toml"
    key = "url" if db and db.startswith("postgresql://") else "path"
    path.write_text(
        f'[database]\n{key} = "{db or tmp_path / "run.db"}"\n'
        f'[ingest]\nsources = ["{src}"]\nrescan_minutes = 0\nworkers = 1\n{extra}',
        encoding="utf-8",
    )
    return path


async def stop_and_check(bot: BotProcess, sig: signal.Signals = signal.SIGTERM) -> str:
    assert bot.proc is not None
    bot.proc.send_signal(sig)
    code = await bot.wait_exit(STOP_BOUND)
    text = bot.text
    assert code == 0, text[-3000:]
    assert f"{sig.name} received: shutting down" in text
    assert TOKEN not in text
    return text


# discord.py's reconnect back-off after a long outage (its delays grow to minutes), at once:
LONG_BACKOFF = "import discord.backoff as b\nb.ExponentialBackoff.delay = lambda self: 120.0"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_stops_within_10s_in_the_reconnect_back_off(tmp_path, sig):
    src = tmp_path / "src"
    write_corpus(src)
    double = DiscordDouble(token=TOKEN)
    await double.start()
    env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, src))
    try:
        async with BotProcess(tmp_path, env, preamble=LONG_BACKOFF) as bot:
            await bot.wait_for_line(r"connected as newsbot", 60)
            await double.close()  # Discord goes away: reconnects are refused
            await bot.wait_for_line(r"Attempting a reconnect in 120", 60)
            text = await stop_and_check(bot, sig)
    finally:
        await double.close()
    assert "gateway connection did not end by itself" in text


async def test_stops_within_10s_during_an_ingest(tmp_path, db_target):
    src = tmp_path / "src"
    write_corpus(src)
    for i in range(3000):  # an ingest that takes a while (parsed in worker processes)
        write_article(
            src / "bulk", f"{i:04d}.md", f"Bulk headline {i} zebra{i}", f"https://b.example/{i}"
        )
    async with DiscordDouble(token=TOKEN) as double:
        config = write_config(tmp_path, src, db=db_target)
        env = run_env(double.api_base, double.gateway_url, config)
        async with BotProcess(tmp_path, env) as bot:
            await double.wait_ready(timeout=30)
            assert not any("bot.services.ingest: ingest:" in line for line in bot.lines)
            text = await stop_and_check(bot)
    assert "bot.services.ingest: ingest:" not in text  # it was stopped mid-ingest
    if not db_target.startswith("postgresql://"):
        conn = sqlite3.connect(db_target)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    # what was committed is whole: every stored file's article has its story
    orphans = "SELECT count(*) FROM items WHERE is_article = 1 AND removed = 0 AND story_id IS NULL"
    assert rows(db_target, orphans) == [(0,)]


async def make_due_digest(db_path: str, src: Path, channel_id: int, guild_id: int) -> None:
    """The corpus ingested and a digest that was due 5 minutes ago (caught up at start)."""
    now = datetime.now(UTC)
    async with open_database(db_path) as db:
        await IngestService(db, workers=1).ingest([str(src)])
        service = DigestService(db, DigestConfig(post_when_empty=True), clock=lambda: now)
        service.clock = lambda: now - timedelta(hours=1)  # created an hour ago
        due = now - timedelta(minutes=5)
        await service.subscribe(
            guild_id=guild_id, channel_id=channel_id, time=f"{due:%H:%M}", timezone="UTC"
        )


async def test_stops_within_10s_during_a_digest_post(tmp_path, db_target):
    src = tmp_path / "src"
    write_corpus(src)
    async with DiscordDouble(token=TOKEN) as double:
        guild = double.world.guild
        channel = guild.channel("news")
        await make_due_digest(db_target, src, channel.id, guild.id)
        # every channel post is answered with a 60 s rate limit: the post waits it out
        double.fail(
            "POST",
            r"/channels/\d+/messages",
            429,
            {"message": "You are being rate limited.", "retry_after": 60, "global": False},
            times=None,
        )
        config = write_config(tmp_path, src, db=db_target)
        env = run_env(double.api_base, double.gateway_url, config)
        async with BotProcess(tmp_path, env) as bot:
            await double.wait_ready(timeout=30)
            await double.wait_for("POST", rf"/channels/{channel.id}/messages", timeout=30)
            text = await stop_and_check(bot)
    assert "Traceback" not in text
    # the run stays open in the ledger (resumed at the next start, within grace)
    assert rows(db_target, "SELECT status FROM digest_runs") in ([("planned",)], [("sending",)])


# a close step that never returns (a hung thread, a wedged library): the hard bound still holds
HUNG_CLOSE = (
    "import asyncio, bot.ui.rescan as r\n"
    "async def _hang(self, grace=30.0):\n"
    "    await asyncio.Event().wait()\n"
    "r.Rescanner.stop = _hang"
)


async def test_a_hung_shutdown_still_exits_within_10s_with_code_1(tmp_path):
    src = tmp_path / "src"
    write_corpus(src)
    async with DiscordDouble(token=TOKEN) as double:
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, src))
        async with BotProcess(tmp_path, env, preamble=HUNG_CLOSE) as bot:
            await bot.wait_for_line(r"connected as newsbot", 60)
            assert bot.proc is not None
            bot.proc.send_signal(signal.SIGTERM)
            assert await bot.wait_exit(STOP_BOUND) == 1
    assert "shutdown did not finish within 8 s: exiting now" in bot.text
