"""``newsbot run --shard-ids IDS --shard-count N`` and ``[discord] shard_ids`` / ``shard_count``:
validation with clear errors (exit code 2), the choice of client, a worker process with no
gateway posting over REST only, and two shard processes on one PostgreSQL database answering
the slash commands of their own shard's guilds only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from bot.cli import main
from bot.config import ConfigError, parse_config
from bot.domain.coordination import Shards, parse_shards
from tests.discord_double import DiscordDouble, default_world
from tests.discord_double.gateway import shard_id
from tests.support.backends import PgServer
from tests.support.multi import make_due_digests, newsbot, until, write_config
from tests.support.ops import TOKEN, BotProcess, get, run_env, sample
from tests.support.ui_harness import write_corpus

SHARD_0_GUILD = 1_200_000_000_000_000_000 + (1 << 22)  # the default guild is on shard 1 of 2


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    url = pg_server.fresh()
    try:
        yield url
    finally:
        pg_server.drop(url)


@pytest.mark.parametrize(
    ("ids", "count", "expected"),
    [
        (None, None, Shards(True, None, None)),
        ("", 4, Shards(True, None, 4)),
        ("all", None, Shards(True, None, None, all_shards=True)),
        ("none", None, Shards(False, None, None)),
        ("0,2", 4, Shards(True, (0, 2), 4)),
        ("1-3, 0", 4, Shards(True, (0, 1, 2, 3), 4)),
    ],
)
def test_shard_choices(ids, count, expected) -> None:
    assert parse_shards(ids, count) == expected


@pytest.mark.parametrize(
    ("ids", "count", "message"),
    [
        ("0,1", None, "needs the shard count"),
        ("4", 4, "shard id 4 does not exist with 4 shard"),
        ("a,b", 2, "expected shard ids like 0,1 or 0-3"),
        ("3-1", 4, "bad shard range"),
        ("", 0, "at least 1"),
    ],
)
def test_bad_shard_choices_say_what_is_wrong(ids, count, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shards(ids, count)


def test_only_an_explicit_choice_shards_the_client() -> None:
    assert not parse_shards(None, None).sharded  # one unsharded connection, as today
    assert parse_shards("all", None).sharded
    assert parse_shards("", 2).sharded
    assert not parse_shards("none", 2).sharded  # no gateway at all


def test_run_refuses_bad_shard_options_with_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "a-token")
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "x.db"}"\n', encoding="utf-8")
    assert main(["--config", str(config), "run", "--shard-ids", "0,5", "--shard-count", "2"]) == 2
    err = capsys.readouterr().err
    assert "--shard-ids/--shard-count: shard id 5 does not exist with 2 shard(s)" in err
    assert main(["--config", str(config), "run", "--shard-ids", "1"]) == 2
    assert "needs the shard count too" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_config_keys_are_validated_naming_the_key() -> None:
    cfg = parse_config({"discord": {"shard_ids": "0-1", "shard_count": 4}})
    assert (cfg.discord.shard_ids, cfg.discord.shard_count) == ("0-1", 4)
    with pytest.raises(ConfigError, match=r"\[discord\] shard_ids: shard id 3 does not exist"):
        parse_config({"discord": {"shard_ids": "3", "shard_count": 2}})
    with pytest.raises(ConfigError, match=r"\[coordination\] heartbeat_seconds: must be at most"):
        parse_config({"coordination": {"leader_ttl_seconds": 4, "heartbeat_seconds": 3}})


async def test_a_worker_without_gateway_posts_a_due_digest_over_rest(tmp_path, db_target) -> None:
    async with DiscordDouble(token=TOKEN) as double:
        channel = double.world.guild.channel("news").id
        db = db_target
        await make_due_digests(db, tmp_path / "articles", double.world.guild.id, [channel])
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "s"))
        env["NEWSBOT_DB"] = db
        async with BotProcess(tmp_path, env, run_args=("--shard-ids", "none")) as bot:
            await until(lambda: len(double.channel_messages(channel)) == 3, 20, "digest posted")
            assert "no gateway (a background worker" in bot.text
        assert double.gateway.connections == set() and not double.gateway.received  # no gateway


async def test_chosen_shards_identify_with_their_ids(tmp_path) -> None:
    """The database is incidental here (the gateway's IDENTIFY): default SQLite only."""
    async with DiscordDouble(token=TOKEN) as double:
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "s"))
        env["NEWSBOT_DB"] = str(tmp_path / "run.db")
        args = ("--shard-ids", "1", "--shard-count", "2")
        async with BotProcess(tmp_path, env, run_args=args):
            await double.wait_ready(timeout=30)
        identify = [p["d"] for p in double.gateway.received if p.get("op") == 2]
        assert [d["shard"] for d in identify] == [[1, 2]]


async def metrics_url(bot: BotProcess) -> str:
    line = await bot.wait_for_line(r"health and metrics on http://", 60)
    found = re.search(r"(http://\S+:\d+)", line)
    assert found, line
    return found.group(1) + "/metrics"


async def commands_handled(url: str, command: str) -> float:
    status, text, _ = await get(url)
    assert status == 200
    return sample(text, "newsbot_commands_total", command=command, outcome="ok") or 0.0


async def test_each_shard_process_answers_the_interactions_of_its_guilds_only(
    tmp_path, pg_url
) -> None:
    world = default_world()
    one = world.guild  # shard 1 of 2
    zero = world.add_guild("Second", guild_id=SHARD_0_GUILD)
    zero.add_member("bob")
    zero.add_channel("general")
    assert (shard_id(zero.id, 2), shard_id(one.id, 2)) == (0, 1)
    src = tmp_path / "articles"
    write_corpus(src)
    async with DiscordDouble(world, token=TOKEN) as double:
        config = write_config(tmp_path, tmp_path / "empty")  # the processes ingest nothing
        env = run_env(
            double.api_base, double.gateway_url, config, NEWSBOT_HTTP_LISTEN="127.0.0.1:0"
        )
        env["NEWSBOT_DB"] = pg_url
        await newsbot(env, tmp_path, "ingest", str(src))  # what both processes answer from
        shard_args = [("--shard-ids", str(i), "--shard-count", "2") for i in (0, 1)]
        async with (
            BotProcess(tmp_path, env, run_args=shard_args[0]) as bot0,
            BotProcess(tmp_path, env, run_args=shard_args[1]) as bot1,
        ):
            urls = [await metrics_url(bot0), await metrics_url(bot1)]

            def shards() -> list[list[int]]:
                return sorted(s.shard for s in double.gateway.connected_ready_sessions())

            await until(lambda: shards() == [[0, 2], [1, 2]], 60, "both shards connected")
            handles = []
            for guild, command, options in [
                (zero, "search", {"query": "facial recognition"}),
                (one, "topics", {}),
                (zero, "search", {"query": "facial recognition"}),
                (one, "topics", {}),
                (zero, "search", {"query": "facial recognition"}),
            ]:
                handles.append(await double.slash(command, options, guild_id=guild.id))
            for handle in handles:
                data = (await handle.response(timeout=20))["data"]
                text = str(data.get("embeds"))
                assert (
                    "theguardian.com" if handle.payload["data"]["name"] == "search" else "AI"
                ) in text
            assert [len(h.callbacks) for h in handles] == [1] * len(handles)  # answered once
            callbacks = [r for r in double.requests if r.path.endswith("/callback")]
            assert [r.status for r in callbacks] == [200] * len(handles)  # no second answer

            async def counts() -> list[tuple[float, float]]:
                return [
                    (await commands_handled(u, "search"), await commands_handled(u, "topics"))
                    for u in urls
                ]

            # (the counters are updated when a command's task ends, just after its answer)
            for _ in range(400):  # a bound of 20 s, not a measurement
                if sum(a + b for a, b in await counts()) >= len(handles):
                    break
                await asyncio.sleep(0.05)
            assert await counts() == [(3, 0), (0, 2)]  # shard 0: /search in its guild only
        identify = [p["d"]["shard"] for p in double.gateway.received if p.get("op") == 2]
        assert sorted(identify) == [[0, 2], [1, 2]]  # one session per shard, no other
