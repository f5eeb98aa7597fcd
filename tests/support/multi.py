"""Helpers for the multi-process tests: several real ``newsbot run`` processes on one
PostgreSQL database, through the Discord API double (and the local feed server)."""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.storage.db import open_database
from tests.discord_double import DiscordDouble
from tests.support.digest import Article, ingest

# Short leases for tests: a dead leader is replaced within ~7 s, a dead claimer's runs in ~4 s;
# a leader stalled by a loaded machine keeps its lease for up to 4.8 s without a renewal.
COORDINATION = (
    "[coordination]\nleader_ttl_seconds = 6\nheartbeat_seconds = 1\nclaim_ttl_seconds = 4\n"
)

# The leader is killed (os._exit: no cleanup at all, as SIGKILL) right after Discord accepted
# part 1 of a digest and before it was recorded: the crash-checkpoint fault injection.
CRASH_AFTER_POSTING_PART_1 = """
import os
import bot.services.digest_delivery as _delivery
_init = _delivery.Deliverer.__init__
def _crashing_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    def checkpoint(step):
        if step == "posted:1":
            os._exit(9)
    self.checkpoint = checkpoint
_delivery.Deliverer.__init__ = _crashing_init
"""


def write_config(tmp_path: Path, src: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    src.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[ingest]\nsources = ["{src}"]\nrescan_minutes = 0\nworkers = 1\n{COORDINATION}{extra}',
        encoding="utf-8",
    )
    return path


async def make_due_digests(
    url: str, folder: Path, guild_id: int, channels: list[int], stories: int = 25
) -> None:
    """``stories`` stories first seen an hour ago and one digest per channel that was due 10
    minutes ago (created before that: the leader's catch-up runs them): 25 stories make three
    messages (10, 10 and 5 embeds)."""
    now = datetime.now(UTC)
    async with open_database(url) as db:
        arts = [Article(n, published=now - timedelta(hours=2)) for n in range(stories)]
        await ingest(db, folder, arts, now - timedelta(hours=1))
        config = DigestConfig(max_subscriptions_per_guild=100)
        service = DigestService(db, config, clock=lambda: now - timedelta(minutes=30))
        due = now - timedelta(minutes=10)
        for channel_id in channels:
            await service.subscribe(
                guild_id=guild_id,
                channel_id=channel_id,
                time=f"{due:%H:%M}",
                timezone="UTC",
                max_stories=25,
            )


def accepted_posts(double: DiscordDouble) -> dict[int, list[tuple[str, int]]]:
    """Per channel, the (nonce, message id) of every channel post Discord answered with 200."""
    out: dict[int, list[tuple[str, int]]] = collections.defaultdict(list)
    for r in double.requests:
        if r.method == "POST" and r.path.endswith("/messages") and r.status == 200:
            channel = int(r.path.split("/")[2])
            out[channel].append((r.json.get("nonce"), int(r.response["id"])))
    return out


async def until(check: Callable[[], object], timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` is true (polled; ``timeout`` is a bound, not a measurement)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout:g} s") from None


async def newsbot(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run a one-shot ``newsbot`` command; its stdout (asserts it succeeded)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()
