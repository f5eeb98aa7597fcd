"""The Discord double routes by shard as Discord does: a session identified as shard ``[i, n]``
gets READY, GUILD_CREATE and the interactions of the guilds with ``(guild_id >> 22) % n == i``
only; an unsharded session gets every guild."""

from __future__ import annotations

import json

import discord
from discord import app_commands

from tests.discord_double import DiscordDouble, World, default_world, payloads, running_client
from tests.discord_double.gateway import GatewaySession, shard_id

# the default guild is on shard 1 of 2; this one is on shard 0
OTHER_GUILD = 1_200_000_000_000_000_000 + (1 << 22)


class ShardBot(discord.AutoShardedClient):
    """Answers /whoami with the shard ids it runs."""

    def __init__(self, shard_ids: list[int], shard_count: int) -> None:
        super().__init__(
            intents=discord.Intents.default(), shard_ids=shard_ids, shard_count=shard_count
        )
        self.tree = app_commands.CommandTree(self)
        self.answered: list[int] = []

        @self.tree.command(name="whoami", description="Names the shard that answers")
        async def whoami(interaction: discord.Interaction) -> None:
            self.answered.append(interaction.id)
            await interaction.response.send_message(f"shards {self.shard_ids}")


def ready_guilds(session: GatewaySession) -> list[int]:
    """The guild ids of the READY the double sent to ``session``."""
    for _, frame in session.sent:
        payload = json.loads(frame)
        if payload["t"] == "READY":
            return [int(g["id"]) for g in payload["d"]["guilds"]]
    raise AssertionError("no READY sent")


def two_shard_world() -> World:
    world = default_world()
    world.add_guild("Other", guild_id=OTHER_GUILD).add_channel("general")
    return world


def test_the_guilds_are_on_both_shards() -> None:
    world = two_shard_world()
    assert [shard_id(g.id, 2) for g in world.guilds] == [1, 0]


async def test_each_shard_gets_its_guilds_and_their_interactions_only() -> None:
    world = two_shard_world()
    first, other = world.guilds
    async with (
        DiscordDouble(world) as double,
        running_client(double, ShardBot([0], 2)) as zero,
        running_client(double, ShardBot([1], 2)) as one,
    ):
        assert [g.id for g in zero.guilds] == [other.id]
        assert [g.id for g in one.guilds] == [first.id]
        ready = {tuple(s.shard): ready_guilds(s) for s in double.gateway.live_sessions()}
        assert ready == {(0, 2): [other.id], (1, 2): [first.id]}
        update = payloads.channel_payload(other.channel("general"), other.id)
        assert await double.dispatch("CHANNEL_UPDATE", update, guild_id=other.id) == 1
        handles = []
        for guild in (first, other, first, other, other):
            handle = await double.slash("whoami", guild_id=guild.id)
            handles.append((guild, handle))
        for guild, handle in handles:
            expected = [shard_id(guild.id, 2)]
            assert (await handle.response())["data"]["content"] == f"shards {expected}"
        assert [len(h.callbacks) for _, h in handles] == [1] * 5  # each answered once
        assert sorted(zero.answered) == sorted(h.id for g, h in handles if g is other)
        assert sorted(one.answered) == sorted(h.id for g, h in handles if g is first)


async def test_an_unsharded_session_gets_every_guild() -> None:
    world = two_shard_world()
    client = discord.Client(intents=discord.Intents.default())
    async with DiscordDouble(world) as double, running_client(double, client):
        assert sorted(g.id for g in client.guilds) == sorted(g.id for g in world.guilds)
        [session] = double.gateway.live_sessions()
        assert ready_guilds(session) == [g.id for g in world.guilds]
        other = world.guilds[1]
        update = payloads.channel_payload(other.channel("general"), other.id)
        assert await double.dispatch("CHANNEL_UPDATE", update, guild_id=other.id) == 1
