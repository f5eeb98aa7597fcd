"""Exactly once by construction, through the Discord API double (issue 8 items 11, 12, 14, 17).

The "process" is killed at every named step of a post (a checkpoint raising ``Killed``), then
restarted: a new service and scheduler on the same database, posting through the same bot. Every
part must then exist exactly once in the double's channel, nothing missing; the double drops a
repeated nonce as Discord does.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli.run import REVOKED_TOKEN, cmd_run
from bot.config import Config, DatabaseConfig, DigestConfig, DiscordConfig, IngestConfig
from bot.domain.digest import RunStatus
from bot.scheduler import DigestScheduler
from bot.services.digest import DigestService
from bot.storage import digests as store
from bot.ui.cogs.digest import DiscordPoster
from tests.discord_double import DEFAULT_TOKEN, DiscordDouble
from tests.support import targets
from tests.support.digest_faults import ClockSleep, CrashAt, Killed
from tests.test_digest_discord import DAY1, MESSAGES, digest_env, make_sub

pytestmark = pytest.mark.usefixtures("on_each_backend")  # both backends

STEPS = [
    "claimed",
    *(f"{kind}:{i}" for i in range(3) for kind in ("posted", "recorded")),
    "before-sent",
]


def restarted(env) -> DigestService:
    """A new service on the same database and bot: what a restarted process has."""
    return DigestService(
        env.db, DigestConfig(), clock=env.clock, poster=DiscordPoster(env.bot), later_delays=()
    )


@pytest.mark.parametrize("step", STEPS)
async def test_killed_at_every_step_then_restarted_posts_every_part_once(
    tmp_path: Path, step: str
) -> None:
    async with digest_env(tmp_path, n_stories=25) as env:
        sub = await make_sub(env, max_stories=25)
        crash = CrashAt(step)
        env.digests.delivery.checkpoint = crash
        env.clock.set(DAY1)
        with pytest.raises(Killed):
            await env.scheduler.run_job(sub.id)
        assert crash.fired
        env.clock.advance(minutes=2)
        results = await DigestScheduler(restarted(env), clock=env.clock).catch_up()
        assert [r.status for r in results] == ["sent"]
        posts = env.posts()
        assert [len(p["embeds"]) for p in posts] == [10, 10, 5]
        titles = [e["title"] for p in posts for e in p["embeds"]]
        assert len(titles) == len(set(titles)) == 25
        nonces = [
            r.json["nonce"]
            for r in env.double.requests
            if r.method == "POST" and r.path.endswith("/messages")
        ]
        assert len(set(nonces)) == 3  # a re-sent part carried the same nonce
        run = (await env.db.run(store.latest_runs, [sub.id]))[sub.id]
        assert run.status is RunStatus.SENT and len(run.sent_message_ids) == 3
        assert [int(p["id"]) for p in posts] == list(run.sent_message_ids)
        # and nothing more on a second restart
        assert await DigestScheduler(restarted(env), clock=env.clock).catch_up() == []
        assert len(env.posts()) == 3


async def test_the_double_drops_a_repeated_nonce(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=1) as env:
        sub = await make_sub(env)
        env.clock.set(DAY1)
        planned = await env.digests.plan_scheduled(sub.id, now=DAY1)
        assert planned is not None
        message = planned[1].messages[0]
        poster = DiscordPoster(env.bot, rate=None)
        first = await poster.post(env.channel("news"), message, nonce="nb1.0")
        again = await poster.post(env.channel("news"), message, nonce="nb1.0")
        other = await poster.post(env.channel("news"), message, nonce="nb1.1")
        assert first == again != other and len(env.posts()) == 2
        assert env.double.rest.nonce_duplicates == 1


async def test_shutdown_lets_the_part_being_posted_finish(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=25) as env:
        sub = await make_sub(env, max_stories=25)
        real = env.digests.poster
        entered, release = asyncio.Event(), asyncio.Event()

        class Slow:
            async def post(self, channel_id, message, *, nonce):
                if nonce.endswith(".1"):
                    entered.set()
                    await release.wait()  # part 1 is on the wire when SIGTERM arrives
                return await real.post(channel_id, message, nonce=nonce)

        env.digests.poster = Slow()
        env.clock.set(DAY1)
        job = asyncio.create_task(env.scheduler.run_job(sub.id))
        await asyncio.wait_for(entered.wait(), 5)
        stopping = asyncio.create_task(env.scheduler.stop())
        await asyncio.sleep(0)
        assert not stopping.done()  # waiting for the part in flight
        release.set()
        await asyncio.wait_for(stopping, 10)
        result = await job
        assert result.status == "interrupted"
        assert len(env.posts()) == 2  # part 1 finished and was recorded; part 2 not started
        [run] = await env.db.run(store.open_runs)
        assert len(run.sent_message_ids) == 2
        results = await DigestScheduler(restarted(env), clock=env.clock).catch_up()
        assert [r.status for r in results] == ["sent"] and len(env.posts()) == 3


async def test_a_story_discord_refuses_is_dropped_and_the_rest_posted(tmp_path: Path) -> None:
    refused = {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {
            "embeds": {
                "1": {
                    "url": {
                        "_errors": [
                            {"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}
                        ]
                    }
                }
            }
        },
    }
    async with digest_env(tmp_path, n_stories=3) as env:
        sub = await make_sub(env)
        env.double.fail("POST", MESSAGES, 400, refused, times=1)
        env.clock.set(DAY1)
        result = await env.scheduler.run_job(sub.id)
        assert result.status == "sent" and result.stories == 2 and len(result.dropped) == 1
        [posted] = env.posts()
        assert len(posted["embeds"]) == 2 and "2 stories" in posted["content"]
        handle = await env.slash("status")
        await handle.response()
        field = (await handle.message())["embeds"][0]["fields"][0]["value"]
        assert f"dropped story #{result.dropped[0]}" in field and "active" in field


async def test_a_global_429_of_a_day_is_not_waited_out(tmp_path: Path) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 86400, "global": True}
    async with digest_env(tmp_path, n_stories=2, later_delays=(3600.0,)) as env:
        sub = await make_sub(env)
        fault = env.double.fail("POST", MESSAGES, 429, body, times=None)
        seen: list[str] = []

        def on_sleep(n: int) -> None:
            if n == 3:  # after the in-run retries and the first wait
                fault.times = fault.hits  # Discord lifts the limit

        sleep = ClockSleep(env.clock, on_sleep)
        env.digests.sleep = sleep

        async def watch() -> None:
            while True:
                [status] = await env.digests.status(sub.guild_id)
                if status.last_run and status.last_run.error:
                    seen.append(status.last_run.error)
                    return
                await asyncio.sleep(0.01)

        env.clock.set(DAY1)
        watcher = asyncio.create_task(watch())
        result = await asyncio.wait_for(env.scheduler.run_job(sub.id), 20)
        watcher.cancel()
        assert result.status == "sent" and len(env.posts()) == 1
        assert 3600.0 in sleep.slept
        assert seen and "rate limited for 86400 s" in seen[0] and "retrying" in seen[0]


async def test_a_global_429_past_grace_fails_with_the_reason(tmp_path: Path) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 86400, "global": True}
    async with digest_env(tmp_path, n_stories=2, later_delays=(3600.0,)) as env:
        sub = await make_sub(env)
        env.double.fail("POST", MESSAGES, 429, body, times=None)
        env.digests.sleep = ClockSleep(env.clock)
        env.clock.set(DAY1)
        result = await asyncio.wait_for(env.scheduler.run_job(sub.id), 30)
        assert result.status == "failed" and "rate limited for 86400 s" in result.error
        assert env.clock() <= DAY1 + timedelta(hours=6)
        handle = await env.slash("status")
        await handle.response()
        field = (await handle.message())["embeds"][0]["fields"][0]["value"]
        assert "failing" in field and "86400" in field


async def test_a_token_revoked_while_running_exits_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with DiscordDouble() as double:
        (tmp_path / "src").mkdir()
        config = Config(
            database=DatabaseConfig(targets.target(tmp_path, "bot.db")),
            ingest=IngestConfig(sources=(str(tmp_path / "src"),), rescan_minutes=0, workers=1),
            discord=DiscordConfig(
                token=DEFAULT_TOKEN, api_base=double.api_base, gateway_url=double.gateway_url
            ),
        )
        task = asyncio.create_task(cmd_run(argparse.Namespace(), config))
        await double.wait_ready(10)
        assert await double.close_gateway(4004) == 1
        code = await asyncio.wait_for(task, 15)
    err = capsys.readouterr().err
    assert code == 2
    assert REVOKED_TOKEN in err and "Traceback" not in err
    assert err.strip().splitlines() == [REVOKED_TOKEN]
