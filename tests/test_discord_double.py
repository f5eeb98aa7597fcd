"""The Discord API double, driven by the real discord.py client (no mocks of discord.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.discord_double import (
    DiscordDouble,
    Perm,
    default_world,
    payloads,
    point_discord_at,
    running_client,
)

TOPICS = ["ai", "chips", "climate", "space"]


class MoreView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="More", custom_id="topic:more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="more stories", view=None)

    @discord.ui.button(label="Next", custom_id="topic:page")
    async def page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="page 2")

    @discord.ui.select(
        custom_id="topic:pick", options=[discord.SelectOption(label=t) for t in TOPICS]
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}", ephemeral=True)


class DemoBot(discord.Client):
    """A small slash-command bot exercising what newsbot needs."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)
        self.results: defaultdict[str, asyncio.Future[Any]] = defaultdict(
            lambda: asyncio.get_running_loop().create_future()
        )
        tree = self.tree

        @tree.command(name="ping", description="Replies with an embed")
        async def ping(interaction: discord.Interaction) -> None:
            embed = discord.Embed(title="Pong", description="The double answers")
            sent = await interaction.response.send_message(
                embed=embed, allowed_mentions=discord.AllowedMentions.none()
            )
            _resolve(self.results["ping"], sent)

        @tree.command(name="slow", description="Defers, then follows up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            _resolve(self.results["slow"], await interaction.followup.send("done after deferring"))

        @tree.command(name="topic", description="Shows a topic")
        @app_commands.describe(name="Topic name")
        async def topic(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"Topic: {name}", view=MoreView())

        @topic.autocomplete("name")
        async def topic_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=t, value=t) for t in TOPICS if t.startswith(current)]

        @tree.command(name="echo", description="Echoes typed options")
        async def echo(
            interaction: discord.Interaction,
            member: discord.Member,
            channel: discord.TextChannel,
            role: discord.Role,
            count: int,
        ) -> None:
            text = f"{member.name} {channel.name} {role.name} {count}"
            await interaction.response.send_message(text)

        digest = app_commands.Group(name="digest", description="Digest commands")

        @digest.command(name="preview", description="Previews the digest")
        async def preview(interaction: discord.Interaction, count: int) -> None:
            await interaction.response.send_message(f"preview {count}")

        tree.add_command(digest)

        @tree.command(name="admin", description="Needs Manage Server")
        @app_commands.checks.has_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("admin ok", ephemeral=True)

        @tree.error
        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            await interaction.response.send_message("not allowed", ephemeral=True)
            _resolve(self.results["error"], error)


@pytest.fixture
async def double():
    async with DiscordDouble() as running:
        yield running


@pytest.fixture
async def bot(double: DiscordDouble):
    async with running_client(double, DemoBot()) as client:
        yield client


async def result(bot: DemoBot, name: str) -> Any:
    return await asyncio.wait_for(bot.results[name], timeout=2)


# -- connection and cache ------------------------------------------------------------------------


async def test_ready_populates_the_guild_cache(double: DiscordDouble, bot: DemoBot) -> None:
    world = double.world
    guild = bot.get_guild(world.guild.id)
    assert bot.user is not None and bot.user.id == world.bot.id
    assert bot.application_id == world.application_id
    assert guild is not None and guild.name == world.guild.name
    assert [c.name for c in guild.text_channels] == [c.name for c in world.guild.channels]
    assert {m.name for m in guild.members} == {"newsbot", "alice", "mod", "owner"}

    alice, mod = guild.get_member_named("alice"), guild.get_member_named("mod")
    assert alice is not None and mod is not None
    assert not alice.guild_permissions.manage_guild
    assert mod.guild_permissions.manage_guild
    read_only = guild.get_channel(world.guild.channel("read-only").id)
    assert read_only is not None
    me_there = read_only.permissions_for(guild.me)
    assert not me_there.send_messages and not me_there.embed_links
    assert (
        not guild.get_channel(world.guild.channel("secret").id)
        .permissions_for(guild.me)
        .view_channel
    )

    # The double's permission algorithm agrees with discord.py's for every member and channel.
    for member in world.guild.members:
        if member.id == world.guild.owner_id:
            continue
        for channel in world.guild.channels:
            ours = world.guild.permissions_for(member, channel)
            theirs = guild.get_channel(channel.id).permissions_for(guild.get_member(member.id))
            assert ours == theirs.value, (member.user.username, channel.name)


async def test_several_guilds() -> None:
    world = default_world()
    second = world.add_guild("Second desk")
    desk = second.add_channel("desk")
    async with DiscordDouble(world) as double, running_client(double, DemoBot()) as bot:
        assert {g.name for g in bot.guilds} == {"Newsroom", "Second desk"}
        await bot.get_channel(desk.id).send("hello second desk")
        assert double.channel_messages(desk.id)[0]["content"] == "hello second desk"
        handle = await double.slash("ping", guild_id=second.id, channel_id="desk", user="owner")
        assert (await handle.response())["type"] == 4
        assert handle.payload["guild_id"] == str(second.id)


async def test_gateway_handshake_as_discord_py_does_it(double: DiscordDouble, bot: DemoBot) -> None:
    query = double.gateway.connect_queries[0]
    assert query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    identify = (await double.wait_for_gateway(2))[0]
    assert identify["d"]["token"] == "<redacted>"
    assert identify["d"]["intents"] == bot.intents.value
    assert double.gateway.heartbeats >= 1  # discord.py beats right after HELLO
    login = [r.path for r in double.requests[:2]]
    assert login == ["/users/@me", "/oauth2/applications/@me"]


async def test_replies_carry_exact_json_content_type(double: DiscordDouble) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{double.api_base}/users/@me") as resp,
    ):
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["id"] == str(double.world.bot.id)


async def test_wrong_token_is_a_login_failure() -> None:
    async with DiscordDouble(token="right-token") as strict:
        with pytest.raises(discord.LoginFailure):
            async with running_client(strict, DemoBot(), token="wrong-token"):
                pass


# -- commands ------------------------------------------------------------------------------------


async def test_sync_records_the_payload_and_returns_ids(
    double: DiscordDouble, bot: DemoBot
) -> None:
    synced = await bot.tree.sync()
    request = (await double.wait_for("PUT", r"^/applications/\d+/commands$"))[0]
    assert {c["name"] for c in request.json} == {"ping", "slow", "topic", "echo", "digest", "admin"}
    assert all(command.id for command in synced)
    assert {c.id for c in synced} == {int(c["id"]) for c in double.commands()}

    guild = discord.Object(double.world.guild.id)
    bot.tree.copy_global_to(guild=guild)
    guild_synced = await bot.tree.sync(guild=guild)
    assert {c.guild_id for c in guild_synced} == {guild.id}
    assert len(double.commands(guild.id)) == 6


async def test_ping_replies_with_an_embed_and_no_mentions(
    double: DiscordDouble, bot: DemoBot
) -> None:
    await bot.tree.sync()
    handle = await double.slash("ping")
    body = await handle.response()
    assert body["type"] == 4
    assert body["data"]["embeds"][0]["title"] == "Pong"
    assert body["data"]["allowed_mentions"] == {"parse": []}
    shown = await handle.message()
    assert shown["embeds"][0]["description"] == "The double answers"
    sent = await result(bot, "ping")  # discord.py parsed the with_response body
    assert isinstance(sent.resource, discord.InteractionMessage)
    assert sent.message_id == int(shown["id"])


async def test_defer_then_followup_shows_the_followup(double: DiscordDouble, bot: DemoBot) -> None:
    handle = await double.slash("slow")
    assert (await handle.response())["type"] == 5
    shown = await handle.message()
    assert shown["content"] == "done after deferring"
    assert int(shown["id"]) == handle.original_id  # the first followup replaces "thinking..."
    assert [m["id"] for m in await handle.followups()] == [shown["id"]]
    webhook_message = await result(bot, "slow")
    assert isinstance(webhook_message, discord.WebhookMessage)
    assert webhook_message.content == "done after deferring"


async def test_autocomplete_returns_choices(double: DiscordDouble, bot: DemoBot) -> None:
    await bot.tree.sync()
    handle = await double.autocomplete("topic", {"name": "c"}, focused="name")
    body = await handle.response()
    assert body == {
        "type": 8,
        "data": {
            "choices": [
                {"name": "chips", "value": "chips"},
                {"name": "climate", "value": "climate"},
            ]
        },
    }


async def test_button_press_updates_the_message(double: DiscordDouble, bot: DemoBot) -> None:
    handle = await double.slash("topic", {"name": "ai"})
    shown = await handle.message()
    assert shown["content"] == "Topic: ai"
    assert shown["components"][0]["components"][0]["custom_id"] == "topic:more"

    press = await double.component("topic:more")
    body = await press.response()
    assert body["type"] == 7
    assert body["data"]["content"] == "more stories"
    assert double.messages[int(shown["id"])]["components"] == []


async def test_deferred_component_update_edits_the_message(
    double: DiscordDouble, bot: DemoBot
) -> None:
    shown = await (await double.slash("topic", {"name": "ai"})).message()
    press = await double.component("topic:page")
    assert (await press.response())["type"] == 6
    edited = await press.message()
    assert (edited["id"], edited["content"]) == (shown["id"], "page 2")


async def test_select_values_reach_the_view(double: DiscordDouble, bot: DemoBot) -> None:
    await (await double.slash("topic", {"name": "ai"})).message()
    press = await double.component("topic:pick", values=["space"])
    shown = await press.message()
    assert shown["content"] == "picked space"
    assert shown["flags"] & 64


async def test_typed_options_arrive_resolved(double: DiscordDouble, bot: DemoBot) -> None:
    await bot.tree.sync()  # option types come from the synced schema
    options = {"member": "mod", "channel": "news", "role": "Moderator", "count": 3}
    handle = await double.slash("echo", options)
    assert (await handle.message())["content"] == "mod news Moderator 3"
    guild = double.world.guild
    inferred = {
        "member": guild.member("alice"),
        "channel": guild.channel("general"),
        "role": guild.role("Moderator"),
        "count": 7,
    }
    handle = await double.slash("echo", inferred)  # types inferred from the values
    assert (await handle.message())["content"] == "alice general Moderator 7"


async def test_subcommands(double: DiscordDouble, bot: DemoBot) -> None:
    handle = await double.slash("digest", {"count": 2}, subcommand="preview")
    assert (await handle.message())["content"] == "preview 2"


async def test_callback_errors_match_discord() -> None:
    async with (
        DiscordDouble(interaction_deadline_s=0.0) as late,
        running_client(late, discord.Client(intents=discord.Intents.default())),
        aiohttp.ClientSession() as session,
    ):
        handle = await late.slash("ping")  # nobody answers: a plain Client has no command tree
        callback = f"{late.api_base}/interactions/{handle.id}/{handle.token}/callback"
        async with session.post(callback, json={"type": 5}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (404, 10062)  # too late
        late.interaction_deadline_s = None
        async with session.post(callback, json={"type": 5}) as resp:
            assert resp.status == 200
        async with session.post(callback, json={"type": 5}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (400, 40060)  # acknowledged


async def test_permission_check_uses_member_permissions(
    double: DiscordDouble, bot: DemoBot
) -> None:
    denied = await double.slash("admin", user="alice")
    assert (await denied.message())["content"] == "not allowed"
    assert isinstance(await result(bot, "error"), app_commands.MissingPermissions)
    allowed = await double.slash("admin", user="mod")
    shown = await allowed.message()
    assert shown["content"] == "admin ok"
    assert shown["flags"] & 64  # ephemeral


# -- channel posts, errors and rate limits -------------------------------------------------------


async def test_channel_send_is_recorded_per_channel(double: DiscordDouble, bot: DemoBot) -> None:
    general = bot.get_channel(double.world.guild.channel("general").id)
    news = bot.get_channel(double.world.guild.channel("news").id)
    sent = await general.send("hello")
    await news.send(embed=discord.Embed(title="Digest"))
    await general.send("again")
    assert [m["content"] for m in double.channel_messages(general.id)] == ["hello", "again"]
    assert double.channel_messages(news.id)[0]["embeds"][0]["title"] == "Digest"
    assert sent.id == int(double.channel_messages(general.id)[0]["id"])
    assert sent.author == bot.user
    assert [m.content async for m in general.history(limit=10)] == ["again", "hello"]
    await sent.edit(content="hello, edited")
    assert double.channel_messages(general.id)[0]["content"] == "hello, edited"
    await sent.delete()
    assert [m["content"] for m in double.channel_messages(general.id)] == ["again"]


async def test_channel_permissions_are_enforced(double: DiscordDouble, bot: DemoBot) -> None:
    channels = {c.name: bot.get_channel(c.id) for c in double.world.guild.channels}
    with pytest.raises(discord.Forbidden) as missing_permissions:
        await channels["read-only"].send("nope")
    assert missing_permissions.value.code == 50013
    with pytest.raises(discord.Forbidden) as missing_access:
        await channels["secret"].send("nope")
    assert missing_access.value.code == 50001
    with pytest.raises(discord.Forbidden):
        await channels["no-embeds"].send(embed=discord.Embed(title="only an embed"))
    sent = await channels["no-embeds"].send("text", embed=discord.Embed(title="dropped"))
    assert sent.embeds == []


async def test_discord_limits_are_enforced(double: DiscordDouble, bot: DemoBot) -> None:
    general = bot.get_channel(double.world.guild.channel("general").id)
    with pytest.raises(discord.HTTPException) as too_long:
        await general.send("x" * 2001)
    assert too_long.value.code == 50035
    with pytest.raises(discord.HTTPException) as too_big:
        await general.send(embed=discord.Embed(description="y" * 4097))
    assert too_big.value.code == 50035


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (403, payloads.MISSING_PERMISSIONS, discord.Forbidden, 50013),
        (403, payloads.MISSING_ACCESS, discord.Forbidden, 50001),
        (404, payloads.UNKNOWN_CHANNEL, discord.NotFound, 10003),
        (503, None, discord.DiscordServerError, 0),  # 500/502/504 are retried for ~25 s first
    ],
)
async def test_injected_errors_surface_as_discord_exceptions(
    double: DiscordDouble, bot: DemoBot, status: int, body: Any, error: type, code: int
) -> None:
    general = bot.get_channel(double.world.guild.channel("general").id)
    fault = double.fail("POST", r"/channels/\d+/messages$", status, body)
    with pytest.raises(error) as raised:
        await general.send("hello")
    assert raised.value.code == code
    assert fault.hits == 1
    await general.send("works again")  # times=1 by default


async def test_500_is_retried_by_discord_py(double: DiscordDouble, bot: DemoBot) -> None:
    general = bot.get_channel(double.world.guild.channel("general").id)
    double.fail("POST", r"/channels/\d+/messages$", 500)
    await general.send("after one retry")  # discord.py retries (its 1 s sleep patched out)
    statuses = [r.status for r in await double.wait_for("POST", r"/messages$", count=2)]
    assert statuses == [500, 200]


async def test_injected_429_is_retried(double: DiscordDouble, bot: DemoBot) -> None:
    general = bot.get_channel(double.world.guild.channel("general").id)
    double.fail("POST", r"/channels/\d+/messages$", 429, payloads.rate_limit_body(0.05))
    sent = await general.send("eventually")
    assert sent.content == "eventually"
    statuses = [r.status for r in await double.wait_for("POST", r"/messages$", count=2)]
    assert statuses == [429, 200]
    assert double.stats.rate_limited == 1


async def test_bucket_headers_make_discord_py_wait() -> None:
    async with (
        DiscordDouble(channel_message_limit=(2, 0.3)) as limited,
        running_client(limited, DemoBot()) as bot,
    ):
        general = bot.get_channel(limited.world.guild.channel("general").id)
        await asyncio.gather(*(general.send(f"message {i}") for i in range(5)))
        assert len(limited.channel_messages(general.id)) == 5
        # discord.py waited on the headers: 2 + 2 + 1 messages over three windows, and no 429
        # (the double answers 429 to any message beyond a window's 2; no wall clock needed)
        assert limited.stats.rate_limited == 0

        async with aiohttp.ClientSession() as session:
            url = f"{limited.api_base}/channels/{general.id}/messages"
            async with session.post(url, json={"content": "raw"}) as resp:
                assert resp.headers["X-RateLimit-Limit"] == "2"
                assert resp.headers["X-RateLimit-Bucket"] == "double-channel-messages"
                assert {"X-RateLimit-Remaining", "X-RateLimit-Reset-After"} <= set(resp.headers)


async def test_global_limit_answers_429_and_discord_py_retries() -> None:
    world = default_world()
    channels = [world.guild.add_channel(f"digest-{i}") for i in range(15)]
    async with (
        DiscordDouble(world, global_limit_per_s=10) as limited,
        running_client(limited, DemoBot()) as bot,
    ):
        targets = [bot.get_channel(c.id) for c in channels]
        await asyncio.gather(*(channel.send("digest") for channel in targets))
        assert all(len(limited.channel_messages(c.id)) == 1 for c in channels)
        assert limited.stats.global_rate_limited > 0
        throttled = next(r for r in limited.requests if r.status == 429)
        assert throttled.response["global"] is True
        assert throttled.response["retry_after"] <= 1.0


# -- gateway lifecycle ---------------------------------------------------------------------------


async def test_reconnect_resumes_the_session(double: DiscordDouble, bot: DemoBot) -> None:
    assert await double.reconnect_clients() == 1
    await double.wait_for_gateway(6)  # RESUME
    handle = await double.slash("ping")
    assert (await handle.response())["type"] == 4
    assert len([p for p in double.gateway.received if p["op"] == 2]) == 1  # no new IDENTIFY


class QuickReidentifyBot(DemoBot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; skip that in tests."""


async def test_invalid_session_makes_the_client_identify_again(double: DiscordDouble) -> None:
    async with running_client(double, QuickReidentifyBot()):
        await double.invalidate_sessions()
        await double.wait_for_gateway(2, count=2)
        await double.wait_ready()
        handle = await double.slash("ping")
        assert (await handle.response())["type"] == 4


async def test_dispatch_reaches_the_client(double: DiscordDouble, bot: DemoBot) -> None:
    guild = double.world.guild
    updated = asyncio.create_task(bot.wait_for("guild_channel_update", timeout=2))
    data = payloads.channel_payload(guild.channel("news"), guild.id)
    data["topic"] = "Renamed topic"
    await double.dispatch("CHANNEL_UPDATE", data)
    before, after = await updated
    assert (before.topic, after.topic) == ("Daily digest", "Renamed topic")


async def test_unhandled_routes_are_visible(double: DiscordDouble, bot: DemoBot) -> None:
    route = Route("GET", "/guilds/{guild_id}/bans", guild_id=double.world.guild.id)
    with pytest.raises(discord.NotFound) as raised:
        await bot.http.request(route)
    assert raised.value.code == 10000
    assert [r.path for r in double.unhandled] == [f"/guilds/{double.world.guild.id}/bans"]


async def test_client_closes_cleanly(double: DiscordDouble) -> None:
    client = DemoBot()
    async with running_client(double, client):
        pass
    assert client.is_closed()
    await double.wait_until(lambda: True if not double.gateway.connections else None)
    # discord.py's reader task answers aiohttp's "closing" wake-up with close(4000) before
    # Client.close() gets to send 1000, so Discord sees a resumable close.
    assert double.gateway.close_codes in ([1000], [4000])


def test_point_discord_at_restores_the_addresses() -> None:
    base, gateway = Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = DiscordDouble()
    fake._port = 4321  # not started: only the addresses are needed
    with point_discord_at(fake):
        assert Route.BASE == "http://127.0.0.1:4321/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert (base, gateway) == (Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


def test_perm_bits_match_discord_py() -> None:
    for perm in Perm:
        assert discord.Permissions(perm.value) == discord.Permissions(**{perm.name.lower(): True})


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
