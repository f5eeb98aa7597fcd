"""Every slash command through the real discord.py client and the Discord API double."""

from __future__ import annotations

import logging
import re

import pytest
from discord import app_commands

from bot.ui.bot import NewsBot
from bot.ui.tree import APOLOGY
from tests.factories import related, write_article
from tests.support.ui_harness import (
    GUARDIAN,
    HOSTILE_TITLE,
    LONG_TITLE,
    NO_PARSE,
    is_ephemeral,
    iso,
    running_bot,
)

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("on_each_backend")]

EXPECTED = {"topics", "news", "story", "related", "search", "help"}


async def test_connects_and_syncs_the_commands(tmp_path):
    async with running_bot(tmp_path) as env:
        assert env.bot.is_ready() or env.bot.guilds
        assert env.bot.user.id == env.double.world.application_id
        synced = {c["name"]: c for c in env.double.commands()}
        assert set(synced) == EXPECTED
        for command in synced.values():
            assert command["type"] == 1
            assert command.get("default_member_permissions") is None
            assert command["description"]
        news = {o["name"]: o for o in synced["news"]["options"]}
        assert news["topic"]["type"] == 3
        assert news["topic"]["autocomplete"] is True
        assert not news["topic"].get("required")
        assert (news["min_quality"]["type"], news["min_quality"]["min_value"]) == (4, 0)
        assert news["min_quality"]["max_value"] == 190
        assert (news["days"]["min_value"], news["days"]["max_value"]) == (1, 365)
        for name in ("story", "related"):
            (article,) = synced[name]["options"]
            assert article["name"] == "article"
            assert article["required"] is True
            assert article["autocomplete"] is True
        (query,) = synced["search"]["options"]
        assert query["required"] is True
        assert not query.get("autocomplete")
        assert synced["topics"].get("options", []) == []


async def test_dev_guild_gets_the_commands_at_start(tmp_path):
    guild_id = 1_200_000_000_000_000_000  # the double's default guild
    async with running_bot(tmp_path, dev_guild_id=guild_id, sync=False) as env:
        names = {c["name"] for c in env.double.commands(guild_id)}
        assert names == EXPECTED
        assert env.double.commands() == []  # nothing global without sync-commands


async def test_topics_lists_counts(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("topics")
        response = await handle.response()
        assert response["type"] == 4
        data = response["data"]
        assert not is_ephemeral(data)
        assert data["allowed_mentions"] == NO_PARSE
        (embed,) = data["embeds"]
        assert embed["title"] == "Topics"
        assert "**AI** — 2 articles" in embed["description"]
        assert embed["footer"]["text"].startswith("Page 1")


async def test_news_shows_story_cards(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("news", {"topic": "AI", "min_quality": 80, "days": 30})
        data = (await handle.response())["data"]
        assert data["content"].startswith(
            "**Top stories** · topic AI · quality ≥ 80 · last 30 days"
        )
        (card,) = data["embeds"]  # the long-title article has quality 50
        assert card["url"] == GUARDIAN
        assert card["author"]["name"] == "The Guardian"
        assert card["thumbnail"]["url"] == "https://i.guim.co.uk/img/face.jpg"
        assert "<t:" in card["description"] and ":R>" in card["description"]
        assert "quality 90" in card["description"]
        assert "4 outlets · 4 articles" in card["description"]
        assert "components" not in data or not data["components"]  # one page: no buttons


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"topic": "No such topic"}, "No topic called"),
        ({"min_quality": 500}, "`min_quality` must be a whole number from 0 to 190"),
        ({"min_quality": -1}, "`min_quality` must be a whole number from 0 to 190"),
        ({"days": 0}, "`days` must be a whole number from 1 to 365"),
        ({"days": 9999}, "`days` must be a whole number from 1 to 365"),
    ],
)
async def test_news_bad_options_get_a_friendly_ephemeral_reply(tmp_path, options, expected):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("news", options)
        response = await handle.response()
        assert response["type"] == 4
        assert is_ephemeral(response["data"])
        assert expected in response["data"]["content"]


async def test_story_shows_every_outlets_coverage(tmp_path):
    async with running_bot(tmp_path) as env:
        article_id = await env.article_id(GUARDIAN)
        handle = await env.double.slash("story", {"article": f"article:{article_id}"})
        data = (await handle.response())["data"]
        lead, coverage = data["embeds"]
        assert lead["url"] == GUARDIAN
        assert coverage["title"] == "Coverage · 4 outlets · 4 articles"
        for outlet in ("Business Insider", "Reuters", "GizChina", "The Guardian"):
            assert f"**{outlet}**" in coverage["description"]
        assert (
            "[Ukraine is using facial recognition tech](https://www.businessinsider.com/x)"
            in (coverage["description"])
        )


async def test_story_accepts_a_url_or_a_title_too(tmp_path):
    async with running_bot(tmp_path) as env:
        for ref in (GUARDIAN, "Ukraine uses facial recognition software to identify soldiers"):
            handle = await env.double.slash("story", {"article": ref})
            data = (await handle.response())["data"]
            assert data["embeds"][0]["url"] == GUARDIAN


@pytest.mark.parametrize("command", ["story", "related"])
async def test_unknown_article_is_a_friendly_ephemeral_reply(tmp_path, command):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash(command, {"article": "https://nowhere.example/x"})
        data = (await handle.response())["data"]
        assert is_ephemeral(data)
        assert "could not find an article" in data["content"]
        handle = await env.double.slash(command, {"article": "article:987654"})
        data = (await handle.response())["data"]
        assert is_ephemeral(data) and data["content"] == "No article 987654."


async def test_hash_n_is_a_story_and_a_bare_number_is_refused_as_ambiguous(tmp_path):
    async with running_bot(tmp_path) as env:
        article_id = await env.article_id(GUARDIAN)
        handle = await env.double.slash("story", {"article": f"article:{article_id}"})
        footer = (await handle.response())["data"]["embeds"][0]["footer"]["text"]
        assert footer.startswith("Story #")  # the embed footer names the story as #N
        story_ref = footer.removeprefix("Story ").split()[0]
        handle = await env.double.slash("story", {"article": story_ref})
        data = (await handle.response())["data"]
        assert data["embeds"][0]["footer"]["text"] == footer
        handle = await env.double.slash("story", {"article": "12"})
        data = (await handle.response())["data"]
        assert is_ephemeral(data)
        assert "write #12 for story 12, or article:12 for article 12" in data["content"]
        assert "/news" in data["content"] and "newsbot" not in data["content"]


@pytest.mark.parametrize("text", ["²", "x\U0010ffff", "\U0010ffff", "\x00", "#²"])
async def test_odd_input_gets_a_friendly_reply_and_autocomplete_answers(tmp_path, text):
    async with running_bot(tmp_path) as env:
        for command in ("story", "related"):
            handle = await env.double.slash(command, {"article": text})
            data = (await handle.response())["data"]
            assert is_ephemeral(data)
            assert "something went wrong" not in data["content"]
            handle = await env.double.autocomplete(command, {"article": text}, focused="article")
            response = await handle.response()
            assert response["type"] == 8  # answered (U+10FFFF once raised in the title range)
            assert text == "\x00" or response["data"]["choices"] == []
        handle = await env.double.autocomplete("news", {"topic": text}, focused="topic")
        assert (await handle.response())["type"] == 8


async def test_related_lists_other_outlets(tmp_path):
    async with running_bot(tmp_path) as env:
        article_id = await env.article_id(GUARDIAN)
        handle = await env.double.slash("related", {"article": f"article:{article_id}"})
        data = (await handle.response())["data"]
        lead, body = data["embeds"]
        assert lead["url"] == GUARDIAN
        assert body["title"] == "Other coverage"
        for outlet in ("Business Insider", "Reuters", "GizChina"):
            assert f"**{outlet}**" in body["description"]
        assert "The Guardian" not in body["description"]


async def test_search_finds_articles(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("search", {"query": "facial recognition"})
        data = (await handle.response())["data"]
        (embed,) = data["embeds"]
        assert embed["title"] == "Search: facial recognition"
        assert GUARDIAN in embed["description"]


@pytest.mark.parametrize("query", ["   ", "!!! ??? ***", '"'])
async def test_empty_or_garbage_search_is_a_friendly_ephemeral_reply(tmp_path, query):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("search", {"query": query})
        data = (await handle.response())["data"]
        assert is_ephemeral(data)
        assert data["content"] == "Give me at least one word to search for."


async def test_search_with_no_match_says_so(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("search", {"query": "zyxwvutsrq"})
        data = (await handle.response())["data"]
        assert data["embeds"][0]["description"] == "Nothing matches."


async def test_help_is_generated_from_the_tree(tmp_path):
    async def extra(bot: NewsBot) -> None:
        @app_commands.command(name="extra", description="An extension's command")
        @app_commands.describe(level="how much")
        async def extra_cmd(interaction, level: app_commands.Range[int, 1, 5]) -> None:
            raise AssertionError("not called")

        bot.tree.add_command(extra_cmd)

    async with running_bot(tmp_path, extensions=[extra]) as env:
        handle = await env.double.slash("help")
        data = (await handle.response())["data"]
        assert is_ephemeral(data)
        (embed,) = data["embeds"]
        names = [f["name"] for f in embed["fields"]]
        assert "/news [topic] [min_quality] [days]" in names
        assert "/story <article>" in names
        assert "/search <query>" in names
        assert "/extra <level>" in names
        values = {f["name"].split()[0]: f["value"] for f in embed["fields"]}
        assert "`min_quality`: optional," in values["/news"] and "0-190" in values["/news"]
        assert "0–190" not in values["/news"]  # the range is printed once, not twice
        assert "suggestions as you type" in values["/story"]
        assert "1–5" in values["/extra"]


async def test_mentions_in_articles_never_ping(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("news", {"topic": "Security"})
        data = (await handle.response())["data"]
        assert data["allowed_mentions"] == NO_PARSE
        (card,) = data["embeds"]
        assert "@everyone" not in card["title"] and "<@&123>" not in card["title"]
        assert "@\u200beveryone" in card["title"]
        assert card["title"].startswith(r"Breaking \*\*news\*\*")
        assert "@here" not in card["author"]["name"]
        assert HOSTILE_TITLE.split()[0] in card["title"]
    # running_bot has also checked allowed_mentions on every message the bot sent


# -- autocomplete --
async def test_article_autocomplete_gives_at_most_25_short_choices(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.autocomplete(
            "related", {"article": "Distinct"}, focused="article"
        )
        response = await handle.response()
        assert response["type"] == 8
        choices = response["data"]["choices"]
        assert len(choices) == 25
        for choice in choices:
            assert choice["name"].startswith("Distinct headline")
            assert choice["value"].startswith("article:")
            assert choice["value"].removeprefix("article:").isdigit()


async def test_story_autocomplete_shows_outlets_and_date_biggest_recent_first(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.autocomplete("story", {"article": ""}, focused="article")
        choices = (await handle.response())["data"]["choices"]
        assert 1 <= len(choices) <= 25
        for choice in choices:
            assert choice["value"].startswith("#") and choice["value"][1:].isdigit()
            assert re.search(r" · \d+ outlets? · \d{4}-\d{2}-\d{2}$", choice["name"])
        # the Guardian's story (4 outlets, recent) ranks above the one-outlet fillers
        assert " · 4 outlets · " in choices[0]["name"]
        handle = await env.double.slash("story", {"article": choices[0]["value"]})
        assert (await handle.response())["data"]["embeds"][0]["url"] == GUARDIAN


async def test_autocomplete_cuts_long_titles_to_100(tmp_path):
    async with running_bot(tmp_path) as env:
        for command in ("story", "related"):
            handle = await env.double.autocomplete(
                command, {"article": "extremely long"}, focused="article"
            )
            (choice,) = (await handle.response())["data"]["choices"]
            assert 90 < len(choice["name"]) <= 100
            title = choice["name"].split(" · ")[0]
            assert title.endswith("…")
            assert LONG_TITLE.startswith(title[:-1])
            # the chosen value works as the command's argument
            handle = await env.double.slash(command, {"article": choice["value"]})
            data = (await handle.response())["data"]
            assert data["embeds"][0]["url"] == "https://long.example/a"


async def test_topic_autocomplete(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.autocomplete("news", {"topic": "Comp"}, focused="topic")
        response = await handle.response()
        assert response["type"] == 8
        assert response["data"]["choices"] == [
            {"name": "Computer Vision", "value": "Computer Vision"}
        ]
        handle = await env.double.autocomplete("news", {"topic": ""}, focused="topic")
        assert len((await handle.response())["data"]["choices"]) == 25


# -- unexpected errors --
async def test_unexpected_errors_are_logged_and_apologised_for(tmp_path, caplog):
    async def broken(bot: NewsBot) -> None:
        @app_commands.command(name="boom", description="fails")
        async def boom(interaction) -> None:
            raise RuntimeError("kaboom")

        @app_commands.command(name="boom-later", description="defers, then fails")
        async def boom_later(interaction) -> None:
            await interaction.response.defer(thinking=True)
            raise RuntimeError("kaboom later")

        bot.tree.add_command(boom)
        bot.tree.add_command(boom_later)

    caplog.set_level(logging.ERROR, logger="bot.ui")
    async with running_bot(tmp_path, extensions=[broken]) as env:
        handle = await env.double.slash("boom")
        data = (await handle.response())["data"]
        assert is_ephemeral(data)
        assert data["content"] == APOLOGY

        handle = await env.double.slash("boom-later")
        assert (await handle.response())["type"] == 5
        (followup,) = await handle.followups()
        assert followup["content"] == APOLOGY
        assert is_ephemeral(followup)
        # the public "thinking…" message was removed, so nobody else sees a dangling loader
        await env.double.wait_for("DELETE", r"/messages/@original")

        # the bot is still fine
        handle = await env.double.slash("topics")
        assert (await handle.response())["type"] == 4

    records = [r for r in caplog.records if r.name == "bot.ui.tree"]
    assert len(records) == 2
    guild = env.double.world.guild
    alice = guild.member("alice")
    assert records[0].getMessage() == f"command boom (guild {guild.id}, user {alice.id}) failed"
    assert records[0].exc_info[1].args == ("kaboom",)
    assert "boom-later" in records[1].getMessage()


async def test_a_huge_article_with_180_related_items_stays_within_limits(tmp_path):
    huge = "Giant *text* with _markdown_ and @everyone " * 3300  # ~140 KB
    items = [
        related(
            f"Giant article coverage number {i} " + "long title words " * 40,
            f"https://outlet{i}.example/giant",
            iso(1),
            provider=f"Outlet {i}",
            excerpt="e" * 2000,
        )
        for i in range(180)
    ]
    async with running_bot(tmp_path) as env:
        write_article(
            env.src,
            "giant.md",
            "Giant article " + huge[:3000],
            "https://giant.example/a",
            published=iso(1),
            excerpt=huge,
            related_items=items,
            image="https://img.example/giant.jpg",
        )
        report = await env.services.ingest.ingest([str(env.src)])
        assert not report.rejected, report.rejected
        for command in ("story", "related"):
            handle = await env.double.slash(command, {"article": "https://giant.example/a"})
            data = (await handle.response())["data"]
            assert not is_ephemeral(data), data
            assert data["embeds"][0]["url"] == "https://giant.example/a"
        handle = await env.double.slash("related", {"article": "https://giant.example/a"})
        body = (await handle.response())["data"]["embeds"][1]
        assert body["footer"]["text"] == "Page 1 · items 1–10 · more on the next page"
        handle = await env.double.slash("search", {"query": "giant"})
        assert (await handle.response())["data"]["embeds"]
    # running_bot checked every recorded message against Discord's limits
