"""The health and metrics server of a real bot connected to the Discord double: /livez, /readyz
(healthy, database gone, gateway down, scheduler stalled), /metrics (names, types, what the
commands and the ingest reported), and the [http] configuration. The healthy, database-gone and
metrics tests run on both backends (``on_each_backend``); the gateway and scheduler checks do not
touch the database, so those stay on the default SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli.run import open_bot
from bot.config import ConfigError, HttpConfig, apply_env, parse_config
from bot.ops.health import Health, Heartbeat
from bot.ops.metrics import Metrics
from bot.ui.bot import NewsBot
from tests.discord_double import DiscordDouble, running_client
from tests.support.ops import families, get, get_json, sample
from tests.support.ui_harness import make_config, write_corpus

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def bot_with_http(tmp_path: Path) -> AsyncIterator[tuple[DiscordDouble, NewsBot, str]]:
    src = tmp_path / "src"
    write_corpus(src)
    config = replace(make_config(tmp_path, src), http=HttpConfig(listen="127.0.0.1:0"))
    async with DiscordDouble() as double, open_bot(config) as bot:
        ops = bot.services.extra["ops"]
        async with running_client(double, bot, timeout=10):
            await bot.rescanner.wait_runs(1)  # the start-up ingest
            await bot.tree.sync()
            yield double, bot, ops.server.url


async def wait_status(url: str, status: int) -> dict:
    async with asyncio.timeout(10):
        while True:
            code, body = await get_json(url)
            if code == status:
                return body
            await asyncio.sleep(0.05)


@pytest.mark.usefixtures("on_each_backend")
async def test_healthy_bot_is_alive_and_ready(tmp_path):
    async with bot_with_http(tmp_path) as (_double, _bot, url):
        code, body = await get_json(f"{url}/livez")
        assert (code, body) == (200, {"status": "alive"})
        body = await wait_status(f"{url}/readyz", 200)
        assert body["status"] == "ready"
        assert set(body["checks"]) == {"database", "gateway", "scheduler", "digests", "feeds"}
        assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.usefixtures("on_each_backend")
async def test_database_gone_makes_readyz_503_naming_it(tmp_path):
    async with bot_with_http(tmp_path) as (_double, bot, url):
        await wait_status(f"{url}/readyz", 200)
        await bot.services.ingest.db.close()  # the database itself, not a read view
        code, body = await get_json(f"{url}/readyz")
        assert code == 503
        assert body["status"] == "not ready"
        assert body["failed"] == ["database", "digests"]  # the digest check reads it too
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["database"]["detail"]
        assert (await get_json(f"{url}/livez"))[0] == 200  # alive, just not ready


async def test_gateway_down_makes_readyz_503_naming_it(tmp_path):
    async with bot_with_http(tmp_path) as (double, _bot, url):
        await wait_status(f"{url}/readyz", 200)
        await double.close()  # Discord is gone: the gateway connection drops and cannot resume
        body = await wait_status(f"{url}/readyz", 503)
        assert body["failed"] == ["gateway"]
        assert "not connected" in body["checks"]["gateway"]["detail"]
        metrics = (await get(f"{url}/metrics"))[1]
        assert sample(metrics, "newsbot_gateway_connected", shard="0") == 0
        assert sample(metrics, "newsbot_ready") == 0


async def test_scheduler_stalled_makes_readyz_503_naming_it(tmp_path):
    async with bot_with_http(tmp_path) as (_double, bot, url):
        ops = bot.services.extra["ops"]
        scheduler = bot.services.extra["scheduler"]
        # a fast heartbeat through the real APScheduler: it ticks...
        ops.heartbeat.period = 0.05
        ticked = asyncio.Event()
        beat = ops.heartbeat.beat

        async def beat_and_tell() -> None:
            await beat()
            ticked.set()

        scheduler.add_heartbeat(beat_and_tell, 0.05)
        async with asyncio.timeout(10):
            await ticked.wait()
        await wait_status(f"{url}/readyz", 200)
        # ...until the scheduler stops running jobs; the clock then moves on without a tick
        scheduler.scheduler.pause()
        real = ops.heartbeat.clock
        ops.heartbeat.clock = lambda: real() + 60
        code, body = await get_json(f"{url}/readyz")
        assert code == 503 and body["failed"] == ["scheduler"]
        assert "last ticked" in body["checks"]["scheduler"]["detail"]


@pytest.mark.usefixtures("on_each_backend")
async def test_metrics_names_types_and_reported_values(tmp_path):
    async with bot_with_http(tmp_path) as (double, _bot, url):
        handle = await double.slash("topics")
        await handle.response()
        handle = await double.slash("news", {"days": 0})  # out of range: a friendly reply
        await handle.response()
        handle = await double.autocomplete("news", {"topic": "a"}, focused="topic")
        await handle.response()
        await asyncio.sleep(0)  # let the interaction tasks' done-callbacks run
        async with asyncio.timeout(5):
            while True:
                code, text, headers = await get(f"{url}/metrics")
                if sample(text, "newsbot_autocomplete_duration_seconds_count", command="news"):
                    break
                await asyncio.sleep(0.05)
    assert code == 200 and headers["Content-Type"].startswith("text/plain")
    found = families(text)
    expected = {
        "newsbot_build_info": "gauge",  # an Info metric: a gauge of 1 with the labels
        "newsbot_commands": "counter",
        "newsbot_command_duration_seconds": "histogram",
        "newsbot_autocomplete_duration_seconds": "histogram",
        "newsbot_digests": "counter",
        "newsbot_digest_delay_seconds": "histogram",
        "newsbot_ingest_files": "counter",
        "newsbot_ingest_duration_seconds": "histogram",
        "newsbot_articles": "gauge",
        "newsbot_stories": "gauge",
        "newsbot_feed_fetches": "counter",
        "newsbot_feed_fetch_duration_seconds": "histogram",
        "newsbot_feed_pauses": "counter",
        "newsbot_gateway_latency_seconds": "gauge",
        "newsbot_gateway_connected": "gauge",
        "newsbot_event_loop_lag_seconds": "gauge",
        "newsbot_ready": "gauge",
        "newsbot_health_check": "gauge",
    }
    for name, kind in expected.items():
        assert name in found, name
        assert found[name].type == kind, (name, found[name].type)
    assert all(n.startswith("newsbot_") for n in found)
    assert sample(text, "newsbot_commands_total", command="topics", outcome="ok") == 1
    assert sample(text, "newsbot_commands_total", command="news", outcome="user_error") == 1
    assert sample(text, "newsbot_command_duration_seconds_count", command="topics", outcome="ok")
    assert sample(text, "newsbot_articles") > 0 and sample(text, "newsbot_stories") > 0
    assert sample(text, "newsbot_ingest_files_total", outcome="new") > 0
    assert sample(text, "newsbot_ingest_duration_seconds_count") == 1
    assert sample(text, "newsbot_gateway_latency_seconds", shard="0") is not None
    assert sample(text, "newsbot_ready") == 1
    assert sample(text, "newsbot_build_info", version=__import__("bot").__version__) == 1
    # low-cardinality labels only: no ids anywhere in the label values
    for family in found.values():
        for s in family.samples:
            assert not any(v.isdigit() and len(v) > 6 for v in s.labels.values()), s


async def test_metrics_use_their_own_registry():
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)  # the global default registry stays untouched
    one, two = Metrics(), Metrics()  # two in one process: no "duplicated timeseries"
    one.command_finished("topics", "command", "ok", 0.01)
    assert set(REGISTRY._names_to_collectors) == before
    assert b"newsbot_commands_total" in await one.render()
    assert b'command="topics"' not in await two.render()


async def test_a_failing_check_or_slow_check_is_named_and_bounded():
    health = Health(timeout=0.05)

    async def fine() -> None:
        return None

    async def broken() -> None:
        raise RuntimeError("disk on fire")

    async def hangs() -> None:
        await asyncio.Event().wait()

    for name, check in (("fine", fine), ("broken", broken), ("hangs", hangs)):
        health.add(name, check)
    readiness = await health.readiness()
    body = readiness.to_dict()
    assert body["failed"] == ["broken", "hangs"]
    assert "disk on fire" in body["checks"]["broken"]["detail"]
    assert "no answer within" in body["checks"]["hangs"]["detail"]


async def test_heartbeat_grace_at_start_then_staleness():
    now = [1000.0]
    beat = Heartbeat(10, clock=lambda: now[0])
    assert await beat.check() is None  # just started
    now[0] += 31
    assert "not ticked" in await beat.check()
    await beat.beat()
    assert await beat.check() is None
    now[0] += 31
    assert "last ticked 31 s ago" in await beat.check()


@pytest.mark.parametrize(
    ("http", "message"),
    [
        ({"listen": "0.0.0.0:8787"}, r"\[http\] listen: 0.0.0.0 is not a loopback address"),
        ({"listen": "192.168.1.5:80"}, r"Set \[http\] public = true"),
        ({"listen": "8787"}, r"\[http\] listen: expected HOST:PORT"),
        ({"listen": "127.0.0.1:99999"}, r"\[http\] listen: expected HOST:PORT"),
        ({"listen": "bot.example:8787"}, r"\[http\] listen: expected an IP address"),
        ({"public": "yes"}, r"\[http\] public: expected true or false"),
    ],
)
def test_bad_http_config_names_the_key(http, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"http": http})


def test_http_config_accepts_loopback_and_public_addresses():
    assert parse_config({}).http.address is None  # off by default
    assert parse_config({"http": {"listen": "127.0.0.1:8787"}}).http.address == ("127.0.0.1", 8787)
    assert parse_config({"http": {"listen": "[::1]:9"}}).http.address == ("::1", 9)
    assert parse_config({"http": {"listen": "localhost:1"}}).http.address == ("localhost", 1)
    public = parse_config({"http": {"listen": "0.0.0.0:8787", "public": True}})
    assert public.http.address == ("0.0.0.0", 8787)
    env = {"NEWSBOT_HTTP_LISTEN": "0.0.0.0:8787", "NEWSBOT_HTTP_PUBLIC": "true"}
    assert apply_env(parse_config({}), env).http.address == ("0.0.0.0", 8787)
    with pytest.raises(ConfigError, match=r"NEWSBOT_HTTP_LISTEN.*public = true"):
        apply_env(parse_config({}), {"NEWSBOT_HTTP_LISTEN": "0.0.0.0:8787"})
