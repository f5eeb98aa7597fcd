"""``/feed`` through the Discord double, and ``newsbot run``'s composition root (``open_bot``)
polling a feed on its own while connected."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli.run import open_bot
from bot.config import FeedsConfig
from tests.discord_double import DiscordDouble, running_client
from tests.support.feed_server import FeedServer
from tests.support.feeds import Item, rss
from tests.support.ui_harness import make_config

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("on_each_backend")]
EPHEMERAL = 1 << 6


async def _until(check, tries: int = 200) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


def _config(tmp_path: Path, **feeds):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    cfg = make_config(tmp_path, src)
    base = FeedsConfig(allow_private_addresses=True, discord_admins=True, check_seconds=0.1)
    return replace(cfg, feeds=replace(base, **feeds))


async def test_run_polls_a_feed_added_from_discord_and_picks_up_its_entry(tmp_path):
    config = _config(tmp_path)
    async with FeedServer() as server, DiscordDouble() as double:
        server.route(
            "/news.xml",
            body=rss([Item("Quokka census finds record numbers", "https://q.example.com/1")]),
            etag='"a"',
        )
        async with open_bot(config) as bot, running_client(double, bot, timeout=10):
            await bot.tree.sync()
            commands = {c["name"]: c for c in double.commands()}
            assert str(commands["feed"]["default_member_permissions"]) == str(1 << 5)
            reply = await (
                await double.slash(
                    "feed",
                    {"url": server.url("/news.xml"), "topics": "Animals"},
                    subcommand="add",
                    user="mod",
                )
            ).response()
            assert reply["data"]["flags"] & EPHEMERAL
            assert "Added feed #1" in reply["data"]["content"]
            db = bot.services.query.db

            async def stored() -> bool:
                row = await db.fetchone(
                    "SELECT count(*) FROM items WHERE url = 'https://q.example.com/1'"
                )
                return bool(row and row[0])

            await _until(stored)  # the scheduler's poll job fetched it, unprompted
            found = await bot.services.query.search("quokka")
            assert found.items
            reply = await (
                await double.slash("feed", {"feed": 1}, subcommand="status", user="mod")
            ).response()
            embed = reply["data"]["embeds"][0]
            fields = {f["name"]: f["value"] for f in embed["fields"]}
            assert fields["HTTP status"] == "200" and fields["Items"] == "1"
            assert fields["State"].endswith("active")
            reply = await (await double.slash("feed", subcommand="list", user="mod")).response()
            assert "#1" in reply["data"]["embeds"][0]["description"]
            reply = await (
                await double.slash("feed", {"feed": 1}, subcommand="remove", user="mod")
            ).response()
            assert "Removed feed #1" in reply["data"]["content"]
        for req in double.requests:
            if req.method == "POST" and isinstance(req.json, dict) and "data" in req.json:
                assert req.json["data"].get("allowed_mentions") == {"parse": []}, req


async def test_feed_commands_refuse_members_without_manage_server(tmp_path):
    config = _config(tmp_path, allow_private_addresses=False)
    async with (
        DiscordDouble() as double,
        open_bot(config) as bot,
        running_client(double, bot, timeout=10),
    ):
        await bot.tree.sync()
        for sub, options in [
            ("list", {}),
            ("status", {}),
            ("add", {"url": "https://example.com/feed"}),
        ]:
            reply = await (
                await double.slash("feed", options, subcommand=sub, user="alice")
            ).response()
            assert reply["data"]["flags"] & EPHEMERAL
            assert "Manage Server" in reply["data"]["content"], reply
        assert await bot.services.extra["feeds"].feeds() == []
        bad = await (
            await double.slash(
                "feed", {"url": "http://10.0.0.1/feed"}, subcommand="add", user="mod"
            )
        ).response()
        assert bad["data"]["flags"] & EPHEMERAL
        assert "private address" in bad["data"]["content"], bad


async def test_feed_group_is_absent_unless_the_host_enables_it(tmp_path):
    config = _config(tmp_path, discord_admins=False)
    async with (
        DiscordDouble() as double,
        open_bot(config) as bot,
        running_client(double, bot, timeout=10),
    ):
        await bot.tree.sync()
        assert "feed" not in {c["name"] for c in double.commands()}
