"""Several real ``newsbot run`` processes on one PostgreSQL database (issue 12 item 3): through
the Discord API double, every digest is posted exactly once, also when the scheduler leader is
killed mid-digest; a feed is polled by one process per interval. PostgreSQL only (a SQLite file
admits one ``newsbot run``: see test_ops_backup's run-lock test); skipped without
NEWSBOT_TEST_PG."""

from __future__ import annotations

import collections
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from tests.discord_double import DiscordDouble
from tests.support.backends import PgServer, rows
from tests.support.feed_server import FeedServer
from tests.support.feeds import Item, rss
from tests.support.multi import (
    CRASH_AFTER_POSTING_PART_1,
    accepted_posts,
    make_due_digests,
    newsbot,
    until,
    write_config,
)
from tests.support.ops import TOKEN, BotProcess, run_env

WORKER = ("--shard-ids", "none")
PARTS = 3  # 25 stories: messages of 10, 10 and 5 embeds


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    url = pg_server.fresh()
    try:
        yield url
    finally:
        pg_server.drop(url)


@asynccontextmanager
async def processes(
    tmp_path: Path, env: dict[str, str], *specs: tuple[tuple[str, ...], str]
) -> AsyncIterator[list[BotProcess]]:
    """Start one ``newsbot run`` per (run arguments, preamble)."""
    async with AsyncExitStack() as stack:
        procs = [BotProcess(tmp_path, env, run_args=args, preamble=pre) for args, pre in specs]
        for proc in procs:
            await stack.enter_async_context(proc)
        yield procs


async def digest_setup(tmp_path: Path, url: str, double: DiscordDouble, n: int) -> list[int]:
    guild = double.world.guild
    channels = [guild.add_channel(f"digest-{i}").id for i in range(n)]
    await make_due_digests(url, tmp_path / "articles", guild.id, channels)
    return channels


async def wait_all_sent(url: str, runs: int, procs: list[BotProcess], timeout: float) -> None:  # noqa: ASYNC109
    """Until ``runs`` digest runs are recorded as sent (a bound, not a measurement)."""

    def sent() -> bool:
        return rows(url, "SELECT count(*) FROM digest_runs WHERE status = 'sent'")[0][0] >= runs

    try:
        await until(sent, timeout, "digests sent")
    except AssertionError:
        logs = "\n---\n".join(p.text[-2000:] for p in procs)
        states = rows(url, "SELECT id, status, error FROM digest_runs ORDER BY id")
        raise AssertionError(f"not every digest was sent: {states}\n{logs}") from None


def assert_exactly_once(double: DiscordDouble, channels: list[int]) -> None:
    posts = accepted_posts(double)
    for channel in channels:
        messages = double.channel_messages(channel)
        assert len(messages) == PARTS, (channel, len(messages))
        nonces = [m.get("nonce") for m in messages]
        assert len(set(nonces)) == PARTS  # each part once, under its own nonce
        # every accepted request named one of those messages (a repeat got the same one back)
        assert {mid for _, mid in posts[channel]} == {int(m["id"]) for m in messages}


def leaders(procs: list[BotProcess]) -> list[str]:
    return [line for p in procs for line in p.lines if "is the scheduler leader" in line]


async def test_three_processes_post_every_digest_exactly_once(tmp_path, pg_url) -> None:
    async with DiscordDouble(token=TOKEN) as double:
        channels = await digest_setup(tmp_path, pg_url, double, 6)
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "src"))
        env["NEWSBOT_DB"] = pg_url
        specs = [((), ""), (WORKER, ""), (WORKER, "")]
        async with processes(tmp_path, env, *specs) as procs:
            await wait_all_sent(pg_url, len(channels), procs, 25)
            assert len(leaders(procs)) == 1  # one leader planned every digest
        assert_exactly_once(double, channels)
        assert double.rest.nonce_duplicates == 0  # no part was even requested twice: claims
        planned = rows(pg_url, "SELECT count(*) FROM digest_runs")[0][0]
        assert planned == len(channels)  # one ledger row per fire, not one per process


async def test_the_leader_killed_mid_digest_is_replaced_and_nothing_is_repeated(
    tmp_path, pg_url
) -> None:
    async with DiscordDouble(token=TOKEN) as double:
        channels = await digest_setup(tmp_path, pg_url, double, 3)
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "src"))
        env["NEWSBOT_DB"] = pg_url
        async with processes(tmp_path, env, ((), CRASH_AFTER_POSTING_PART_1)) as (first,):
            await first.wait_for_line("is the scheduler leader", 20)
            # Alone, the leader's own delivery worker claims the runs it planned (with workers
            # beside it, any of them may claim them all, and the leader would never post): it is
            # killed right after Discord accepted a part. The workers start on its leftovers.
            assert await first.wait_exit(20) == 9  # killed after part 1 was accepted
            async with processes(tmp_path, env, (WORKER, ""), (WORKER, "")) as others:
                await wait_all_sent(pg_url, len(channels), [first, *others], 25)
                # the workers resume the dead leader's runs once its claims expire; one of them
                # becomes the leader once its lease expires (whichever comes first)
                await until(lambda: leaders(others), 20, "no process took the leadership over")
                takeover = leaders(others)
                assert len(takeover) == 1 and "lease token 2" in takeover[0]
        assert_exactly_once(double, channels)
        # the part in flight was posted again with its nonce and Discord returned the message;
        # nothing else was requested twice (at most one part in flight per digest)
        assert 1 <= double.rest.nonce_duplicates <= len(channels)


async def test_a_feed_is_polled_once_per_interval_across_processes(tmp_path, pg_url) -> None:
    async with FeedServer() as feeds, DiscordDouble(token=TOKEN) as double:
        feeds.route("/news.xml", body=rss([Item("First item", "https://example.com/1")]))
        extra = "[feeds]\nallow_private_addresses = true\ncheck_seconds = 0.2\n"
        env = run_env(
            double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "src", extra)
        )
        env["NEWSBOT_DB"] = pg_url
        await newsbot(env, tmp_path, "feeds", "add", feeds.url("/news.xml"), "--every", "60")
        specs = [((), ""), (WORKER, "")]  # two processes: a gateway and a worker
        async with processes(tmp_path, env, *specs) as procs:
            ticks = re.compile(r'Job "poll due feeds .* executed successfully')

            def counts() -> list[int]:
                return [sum(bool(ticks.search(line)) for line in p.lines) for p in procs]

            await until(lambda: feeds.hits("/news.xml"), 20, "the feed was never fetched")
            start = counts()
            await until(  # every process has looked for due feeds 5 more times since
                lambda: all(now >= then + 5 for now, then in zip(counts(), start, strict=True)),
                20,
                "the processes stopped polling",
            )
        assert len(feeds.hits("/news.xml")) == 1
        stored = rows(pg_url, "SELECT count(*) FROM items")[0][0]
        assert stored == 1
        per_process = collections.Counter(
            i for i, p in enumerate(procs) for line in p.lines if "feeds: 1 polled" in line
        )
        assert sum(per_process.values()) == 1
