"""``newsbot run --shard-ids IDS --shard-count N`` and ``[discord] shard_ids`` / ``shard_count``:
validation with clear errors (exit code 2), the choice of client, and a worker process with no
gateway posting over REST only."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import ConfigError, parse_config
from bot.domain.coordination import Shards, parse_shards
from tests.discord_double import DiscordDouble
from tests.support.multi import make_due_digests, until, write_config
from tests.support.ops import TOKEN, BotProcess, run_env


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


async def test_a_worker_without_gateway_posts_a_due_digest_over_rest(tmp_path) -> None:
    async with DiscordDouble(token=TOKEN) as double:
        channel = double.world.guild.channel("news").id
        db = str(tmp_path / "run.db")
        await make_due_digests(db, tmp_path / "articles", double.world.guild.id, [channel])
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "s"))
        env["NEWSBOT_DB"] = db
        async with BotProcess(tmp_path, env, run_args=("--shard-ids", "none")) as bot:
            await until(lambda: len(double.channel_messages(channel)) == 3, 20, "digest posted")
            assert "no gateway (a background worker" in bot.text
        assert double.gateway.connections == set() and not double.gateway.received  # no gateway


async def test_chosen_shards_identify_with_their_ids(tmp_path) -> None:
    async with DiscordDouble(token=TOKEN) as double:
        env = run_env(double.api_base, double.gateway_url, write_config(tmp_path, tmp_path / "s"))
        env["NEWSBOT_DB"] = str(tmp_path / "run.db")
        args = ("--shard-ids", "1", "--shard-count", "2")
        async with BotProcess(tmp_path, env, run_args=args):
            await double.wait_ready(timeout=30)
        identify = [p["d"] for p in double.gateway.received if p.get("op") == 2]
        assert [d["shard"] for d in identify] == [[1, 2]]
