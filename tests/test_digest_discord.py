"""/digest end to end: the real discord.py client and NewsBot against the Discord API double.

The clock is controlled: jobs are run by calling the scheduler's job body with a given ``now``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli.run import RATE_LIMIT_WAIT
from bot.config import Config, DatabaseConfig, DigestConfig, DiscordConfig, IngestConfig
from bot.domain.digest import RunStatus, SubscriptionState
from bot.scheduler import DigestScheduler
from bot.services.digest import DigestService
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage import digests as store
from bot.storage.db import Database, open_database
from bot.ui.bot import NewsBot, Services
from bot.ui.cogs.digest import DiscordPoster, setup_digests
from tests.discord_double import DEFAULT_TOKEN, DiscordDouble, default_world, running_client
from tests.support import targets
from tests.support.digest import Article, Clock, Crash, ingest

pytestmark = pytest.mark.usefixtures("on_each_backend")  # both backends

DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 in London
EPHEMERAL = 1 << 6
MESSAGES = r"^/channels/\d+/messages$"


@dataclass
class Env:
    double: DiscordDouble
    bot: NewsBot
    db: Database
    digests: DigestService
    scheduler: DigestScheduler
    clock: Clock

    def channel(self, name: str) -> int:
        return self.double.world.guild.channel(name).id

    def posts(self, name: str = "news") -> list[dict[str, Any]]:
        return self.double.channel_messages(self.channel(name))

    async def slash(self, sub: str, user: str = "mod", **options: Any):
        return await self.double.slash("digest", options, subcommand=sub, user=user)


async def _fast_sleep(_seconds: float) -> None:
    return None


@asynccontextmanager
async def digest_env(
    tmp_path: Path,
    n_stories: int = 3,
    *,
    before_start: Any = None,
    later_delays: tuple[float, ...] = (),
    **double_kw: Any,
) -> AsyncIterator[Env]:
    clock = Clock(DAY1 - timedelta(hours=1))
    async with open_database(targets.target(tmp_path, "bot.db")) as db:
        articles = [
            Article(i, DAY1 - timedelta(hours=4), quality=60 + i, topics=("AI", "Chips"))
            for i in range(n_stories)
        ]
        if articles:
            await ingest(db, tmp_path / "src", articles, DAY1 - timedelta(hours=2))
        query = QueryService(db, clock=clock)
        digests = DigestService(
            db,
            DigestConfig(),
            topic_name=query.topic_exists,
            clock=clock,
            sleep=_fast_sleep,
            retry_delays=(0.01, 0.01),
            later_delays=later_delays,
        )
        services = Services(query=query, ingest=IngestService(db, workers=1), digests=digests)
        config = Config(
            database=DatabaseConfig(targets.target(tmp_path, "bot.db")),
            ingest=IngestConfig(sources=(str(tmp_path / "src"),), rescan_minutes=0, workers=1),
            discord=DiscordConfig(token=DEFAULT_TOKEN),
        )
        scheduler = DigestScheduler(digests, clock=clock)
        extensions: list[Any] = [setup_digests]
        if before_start is not None:  # the production wiring: the scheduler starts with the bot
            await before_start(digests, clock)
            extensions.append(scheduler.extension())
        async with DiscordDouble(**double_kw) as double:
            bot = NewsBot(
                services=services,
                config=config,
                extensions=extensions,
                on_close=[scheduler.close_hook()],
                max_ratelimit_timeout=RATE_LIMIT_WAIT,
            )
            async with running_client(double, bot, DEFAULT_TOKEN, timeout=10):
                await bot.tree.sync()
                yield Env(double, bot, db, digests, scheduler, clock)
            for req in double.requests:
                if (
                    req.method == "POST"
                    and isinstance(req.json, dict)
                    and ("/messages" in req.path or req.path.startswith("/webhooks/"))
                ):
                    assert req.json.get("allowed_mentions") == {"parse": []}, req


async def make_sub(env: Env, channel: str = "news", **kw: Any):
    kw.setdefault("time", "08:00")
    kw.setdefault("timezone", "Europe/London")
    return await env.digests.subscribe(
        guild_id=env.double.world.guild.id, channel_id=env.channel(channel), **kw
    )


# -- commands ------------------------------------------------------------------------------------
async def test_subscribe_then_fires_at_local_time(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        handle = await env.slash(
            "subscribe",
            channel="news",
            time="08:00",
            timezone="Europe/London",
            topics="AI",
            include="story",
        )
        reply = await handle.response()
        assert reply["type"] == 4 and reply["data"]["flags"] & EPHEMERAL
        assert "Subscribed" in reply["data"]["embeds"][0]["title"]
        [sub] = await env.digests.subscriptions(env.double.world.guild.id)
        fire = env.scheduler.trigger_for(sub).get_next_fire_time(None, env.clock())
        assert fire.astimezone(UTC) == DAY1
        env.clock.set(DAY1)
        result = await env.scheduler.run_job(sub.id)
        assert result.status == "sent"
        [message] = env.posts()
        assert message["content"].startswith("**AI digest** · Monday 3 June 2024 · 3 stories")
        assert len(message["embeds"]) == 3
        post = env.double.requests[-1]
        assert post.json["nonce"] == f"nb{result.run_id}.0" and post.json["enforce_nonce"]


async def test_member_without_manage_server_is_refused(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=0) as env:
        commands = {c["name"]: c for c in env.double.commands()}
        assert str(commands["digest"]["default_member_permissions"]) == str(1 << 5)
        assert commands["digest"].get("dm_permission") is False or commands["digest"].get(
            "contexts"
        ) == [0]
        for sub, options in [
            ("list", {}),
            ("status", {}),
            ("subscribe", {"channel": "news", "time": "08:00", "timezone": "UTC"}),
        ]:
            reply = await (await env.slash(sub, user="alice", **options)).response()
            assert reply["data"]["flags"] & EPHEMERAL
            assert "Manage Server" in reply["data"]["content"], reply
        assert await env.digests.subscriptions(env.double.world.guild.id) == []


async def test_subscribe_names_missing_channel_permissions(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=0) as env:
        reply = await (
            await env.slash("subscribe", channel="read-only", time="08:00", timezone="UTC")
        ).response()
        assert "Send Messages, Embed Links" in reply["data"]["content"]
        reply = await (
            await env.slash("subscribe", channel="no-embeds", time="08:00", timezone="UTC")
        ).response()
        assert "missing Embed Links" in reply["data"]["content"]


async def test_autocomplete_timezone_and_several_topics(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        handle = await env.double.autocomplete(
            "digest", {"timezone": "new_y"}, focused="timezone", subcommand="subscribe", user="mod"
        )
        choices = (await handle.response())["data"]["choices"]
        assert choices[0]["value"] == "America/New_York" and len(choices) <= 25
        handle = await env.double.autocomplete(
            "digest", {"topics": "AI, ch"}, focused="topics", subcommand="subscribe", user="mod"
        )
        values = [c["value"] for c in (await handle.response())["data"]["choices"]]
        assert values == ["AI, Chips"]


async def test_preview_is_ephemeral_and_exactly_what_would_be_posted(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        sub = await make_sub(env)
        env.clock.set(DAY1)
        handle = await env.slash("preview", digest=sub.id)
        await handle.response()
        [shown] = await handle.followups(1)
        assert shown["flags"] & EPHEMERAL
        assert env.posts() == []
        await env.digests.send_now(env.double.world.guild.id, sub.id)
        [posted] = env.posts()
        assert posted["embeds"] == shown["embeds"] and posted["content"] == shown["content"]


async def test_status_shows_next_run_and_failure(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        sub = await make_sub(env, channel="read-only")  # the double answers 403 50013
        env.clock.set(DAY1)
        result = await env.scheduler.run_job(sub.id)
        assert result.status == "failed" and "403" in result.error
        current = await env.digests.get(sub.guild_id, sub.id)
        assert current.state is SubscriptionState.FAILING
        handle = await env.slash("status")
        await handle.response()
        field = (await handle.message())["embeds"][0]["fields"][0]["value"]
        assert "failing" in field and "Missing Permissions" in field
        assert "Next run:** Tue 4 Jun 08:00 BST" in field


# -- delivery through the double -----------------------------------------------------------------
async def test_restart_mid_digest_sends_the_rest_once(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=25) as env:
        sub = await make_sub(env, max_stories=25)
        real = env.digests.poster
        sent = 0

        class Dying:
            async def post(self, channel_id, message, *, nonce):
                nonlocal sent
                if sent == 1:
                    raise Crash()  # the process dies after message 1 of 3
                sent += 1
                return await real.post(channel_id, message, nonce=nonce)

        env.digests.poster = Dying()
        env.clock.set(DAY1)
        with pytest.raises(Crash):
            await env.scheduler.run_job(sub.id)
        assert len(env.posts()) == 1
        # restart: a fresh service and scheduler on the same database, same channel
        fresh = DigestService(
            env.db, DigestConfig(), clock=env.clock, poster=DiscordPoster(env.bot)
        )
        env.clock.advance(minutes=2)
        results = await DigestScheduler(fresh, clock=env.clock).catch_up()
        assert [r.status for r in results] == ["sent"]
        posts = env.posts()
        assert [len(p["embeds"]) for p in posts] == [10, 10, 5]
        assert posts[0]["content"] and not posts[1]["content"]
        titles = [e["title"] for p in posts for e in p["embeds"]]
        assert len(titles) == len(set(titles)) == 25
        assert await DigestScheduler(fresh, clock=env.clock).catch_up() == []
        assert len(env.posts()) == 3


async def test_404_pauses(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        sub = await make_sub(env)
        env.double.fail("POST", MESSAGES, 404)
        env.clock.set(DAY1)
        result = await env.scheduler.run_job(sub.id)
        assert result.status == "failed" and "Unknown Channel" in result.error
        assert (await env.digests.get(sub.guild_id, sub.id)).state is SubscriptionState.PAUSED


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried(tmp_path: Path, status: int) -> None:
    # 500: discord.py itself retries (after 1 s); 503: the service retries with its backoff
    async with digest_env(tmp_path) as env:
        sub = await make_sub(env)
        env.double.fail("POST", MESSAGES, status, {"message": "oops", "code": 0}, times=1)
        env.clock.set(DAY1)
        assert (await env.scheduler.run_job(sub.id)).status == "sent"
        attempts = [
            r for r in env.double.requests if r.method == "POST" and r.path.endswith("/messages")
        ]
        assert [r.status for r in attempts] == [status, 200]
        assert len(env.posts()) == 1


async def test_429_is_obeyed(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        sub = await make_sub(env)
        env.double.fail(
            "POST",
            MESSAGES,
            429,
            {"message": "slow down", "retry_after": 0.2, "global": False},
            times=2,
        )
        env.clock.set(DAY1)
        assert (await env.scheduler.run_job(sub.id)).status == "sent"
        attempts = [r.status for r in env.double.requests if r.path.endswith("/messages")]
        assert attempts == [429, 429, 200] and len(env.posts()) == 1
        run = (await env.db.run(store.latest_runs, [sub.id]))[sub.id]
        assert run.status is RunStatus.SENT


async def test_startup_rebuilds_jobs_and_catches_up_a_missed_digest(tmp_path: Path) -> None:
    async def subscribe_then_go_down(digests: DigestService, clock: Clock) -> None:
        guild = default_world().guild  # the double's world: the same ids
        await digests.subscribe(
            guild_id=guild.id,
            channel_id=guild.channel("news").id,
            time="08:00",
            timezone="Europe/London",
        )
        clock.set(DAY1 + timedelta(hours=2))  # the bot comes back at 10:00, 2 h late

    async with digest_env(tmp_path, before_start=subscribe_then_go_down) as env:
        [job] = env.scheduler.scheduler.get_jobs()
        assert str(job.trigger) == "daily[08:00 Europe/London]"
        await env.double.wait_until(lambda: env.posts() or None, timeout=5)
        [posted] = env.posts()
        assert "3 stories" in posted["content"]
    assert not env.scheduler.scheduler.running  # stopped by the close hook


async def test_timezone_autocomplete_understands_abbreviations_and_names(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        for typed, first in (("EST", "America/New_York"), ("pacific", "America/Los_Angeles"),
                             ("india", "Asia/Kolkata"), ("mumbai", "Asia/Kolkata")):  # fmt: skip
            handle = await env.double.autocomplete(
                "digest",
                {"timezone": typed},
                focused="timezone",
                subcommand="subscribe",
                user="mod",
            )
            choices = (await handle.response())["data"]["choices"]
            assert choices[0]["value"] == first, typed
            assert all(len(c["name"]) <= 100 for c in choices) and len(choices) <= 25


async def test_help_lists_member_commands_first_and_the_digest_group_last(tmp_path: Path) -> None:
    async with digest_env(tmp_path) as env:
        handle = await env.double.slash("help")
        member, managers = (await handle.response())["data"]["embeds"]
        names = [f["name"].split()[0] for f in member["fields"]]
        assert "/news" in names and not any(n.startswith("/digest") for n in names)
        assert managers["title"] == "For server managers"
        admin = [f["name"].split()[0] + " " + f["name"].split()[1] for f in managers["fields"]]
        assert admin and all(n.startswith("/digest ") for n in admin)
        assert len(admin) == len(set(admin))  # each once
        for field in member["fields"] + managers["fields"]:
            assert not re.search(r"\(\d+-\d+\).*\(\d+–\d+\)", field["value"])  # ranges once
