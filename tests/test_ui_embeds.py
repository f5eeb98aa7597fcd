"""Pure embed builders and text helpers: escaping, links, limits (no Discord, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import discord
import pytest
from discord import app_commands

from bot.domain.views import (
    CoverageItem,
    Page,
    RelatedCoverage,
    SearchHit,
    StoryDetail,
    StoryRow,
    StorySummary,
    TopicCount,
)
from bot.ui import embeds, limits
from bot.ui.text import ZWSP, link, md, no_mentions, safe_url


def assert_message_within_limits(embeds, content=None):
    assert not limits.violations(embeds, content), limits.violations(embeds, content)


WHEN = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HUGE = "Lorem *ipsum* _dolor_ @everyone <@&123> " * 3600  # > 140 KB


def item(i: int = 1, **kw) -> CoverageItem:
    values = {
        "id": i,
        "url": f"https://news.example/{i}",
        "title": f"Headline {i}",
        "excerpt": f"Excerpt {i}",
        "provider": f"Outlet {i}",
        "published_at": WHEN,
        "quality": 80,
        "heat": 5,
        "is_article": True,
        "image_url": f"https://img.example/{i}.jpg",
        "story_id": 7,
    }
    values.update(kw)
    return CoverageItem(**values)


def story_row(lead: CoverageItem, **kw) -> StoryRow:
    values = {
        "id": 7,
        "article_count": 2,
        "item_count": 4,
        "provider_count": 3,
        "best_quality": 80,
        "max_heat": 5,
        "first_published_at": WHEN,
        "last_published_at": WHEN,
        "first_seen_at": WHEN,
        "last_seen_at": WHEN,
        "rank_key": 1.0,
        "lead": lead,
        "topics": ("AI",),
    }
    values.update(kw)
    return StoryRow(**values)


# -- text helpers --
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain words", "plain words"),
        ("a *b* _c_ ~~d~~ `e` ||f||", r"a \*b\* \_c\_ \~\~d\~\~ \`e\` \|\|f\|\|"),
        ("[x](https://evil.example)", r"\[x\](https://evil.example)"),
        ("# heading", r"\# heading"),
        ("> quote", r"\> quote"),
        ("1. list", r"1\. list"),
        ("two\n\nlines", "two lines"),
        ("@everyone and @here", f"@{ZWSP}everyone and @{ZWSP}here"),
        ("<@&123> <@45> <#67>", f"<{ZWSP}@{ZWSP}&123> <{ZWSP}@{ZWSP}45> <{ZWSP}#67>"),
    ],
)
def test_md_escapes_markdown_and_neutralises_mentions(raw, expected):
    assert md(raw) == expected


def test_no_mentions_leaves_no_pingable_text():
    out = no_mentions("@everyone @here <@1> <@!2> <@&3>")
    for ping in ("@everyone", "@here", "<@1>", "<@!2>", "<@&3>"):
        assert ping not in out


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://a.example/x", True),
        ("http://a.example/x?y=1", True),
        ("HTTPS://A.EXAMPLE/", True),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("ftp://a.example/x", False),
        ("//a.example/x", False),
        ("/relative", False),
        ("https://", False),
        ("https://a.example/with space", False),
        ("https://a.example/\nx", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url_only_http_and_https(url, ok):
    assert (safe_url(url) is not None) is ok


def test_safe_url_cannot_close_a_markdown_link():
    assert safe_url("https://a.example/x_(y)") == "https://a.example/x_%28y%29"
    assert link("T", "https://a.example/(x)") == "[T](https://a.example/%28x%29)"
    assert link("T", "javascript:alert(1)") == "T"


# -- limits --
def test_join_lines_marks_what_did_not_fit():
    lines = [f"line {i:03d}" for i in range(100)]
    out = limits.join_lines(lines, 100)
    assert len(out) <= 100
    shown = out.count("line ")
    assert out.endswith(f"… and {100 - shown} more")
    assert limits.join_lines(["a", "b"], 100) == "a\nb"
    assert limits.join_lines(["a", "b"], 100, total=5) == "a\nb\n… and 3 more"
    assert len(limits.join_lines(["x" * 5000], 1000, total=3)) <= 1000


def test_fit_message_applies_every_limit():
    big = discord.Embed(title="t" * 300, description="d" * 5000)
    big.set_author(name="a" * 300)
    big.set_footer(text="f" * 3000)
    big.add_field(name="n" * 300, value="v" * 2000)
    for _ in range(29):
        big.add_field(name="name", value="v" * 2000)
    out = limits.fit_message([big] + [discord.Embed(description="x" * 4000) for _ in range(12)])
    assert_message_within_limits(out)
    assert len(out) == 10
    assert out[-1].description == "… and 4 more not shown"
    assert out[0].fields[-1].value == "… and 6 more"
    assert out[0].fields[0].name.endswith("…")
    assert out[0].title.endswith("…")


# -- builders --
def test_card_shows_link_provider_time_quality_breadth_and_thumbnail():
    lead = item(1)
    e = embeds.card(lead, story=story_row(lead))
    assert e.title == "Headline 1"
    assert e.url == "https://news.example/1"
    assert e.author.name == "Outlet 1"
    assert e.thumbnail.url == "https://img.example/1.jpg"
    assert f"<t:{int(WHEN.timestamp())}:R>" in e.description
    assert "quality 80" in e.description
    assert "3 outlets · " in e.description


def test_card_drops_non_http_links_and_images():
    lead = item(1, url="javascript:alert(1)", image_url="file:///etc/passwd")
    e = embeds.card(lead)
    assert e.url is None
    assert e.thumbnail.url is None


def test_hostile_title_is_escaped_and_cannot_ping():
    lead = item(1, title="**Big** news @everyone <@&123>", provider="@here Times")
    e = embeds.card(lead)
    assert "@everyone" not in e.title and "<@&123>" not in e.title
    assert e.title.startswith(r"\*\*Big\*\*")
    assert "@here" not in e.author.name


def huge_story(n_related: int = 180) -> StoryDetail:
    lead = item(0, title=HUGE, excerpt=HUGE, provider=HUGE[:5000])
    others = tuple(
        item(i, title=HUGE, excerpt=HUGE, provider=f"Outlet {i} " + HUGE[:300], is_article=False)
        for i in range(1, n_related + 1)
    )
    coverage = (lead, *others)
    row = story_row(
        lead,
        item_count=len(coverage),
        provider_count=n_related + 1,
        topics=tuple(f"Topic {i} {HUGE[:200]}" for i in range(40)),
    )
    return StoryDetail(row, 1.0, coverage, len(coverage))


def test_a_140kb_story_with_180_related_items_fits_one_message():
    detail = huge_story()
    assert len(HUGE) > 140_000
    shown = embeds.story_detail(detail, per_page=len(detail.coverage))
    assert_message_within_limits(shown.embeds)
    assert "… and " in shown.embeds[1].description  # not everything fits: the cut is marked
    shown = embeds.story_detail(detail, offset=170, per_page=10)
    assert_message_within_limits(shown.embeds)
    assert shown.embeds[1].footer.text == "Page 18 of 19"


def test_every_list_builder_stays_within_limits_with_huge_text():
    detail = huge_story(30)
    summaries = tuple(StorySummary(story_row(c), 1.0) for c in detail.coverage[:10])
    page = Page(summaries, 0, 10, True)
    hits = Page(tuple(SearchHit(c, 1.0) for c in detail.coverage), 0, 31, False)
    topics = Page(tuple(TopicCount(HUGE[:500], 10, 3) for _ in range(100)), 0, 100, True)
    related = RelatedCoverage(detail.coverage[0], 7, Page(detail.coverage[1:], 0, 30, True))
    for shown in (
        embeds.stories_page(page, topic=HUGE, min_quality=10, days=3),
        embeds.search_page(hits, HUGE),
        embeds.topics_page(topics),
        embeds.related_page(related),
    ):
        assert_message_within_limits(shown.embeds, shown.content)


def test_stories_page_heading_and_empty_states():
    lead = item(1)
    page = Page((StorySummary(story_row(lead), 2.5),), 5, 5, False)
    shown = embeds.stories_page(page, topic="AI", min_quality=50, days=7)
    assert shown.content == "**Top stories** · topic AI · quality ≥ 50 · last 7 days · page 2"
    assert shown.embeds[0].footer.text == "Story #7 · rank 6"
    empty = embeds.stories_page(Page((), 0, 5, False))
    assert empty.embeds[0].description == "No stories match."
    assert embeds.topics_page(Page((), 0, 20, False)).embeds[0].description.startswith("No topics")


def test_help_page_lists_each_command_and_its_options():
    shown = embeds.help_page(
        [
            embeds.CommandHelp(
                "news",
                "Top stories",
                (
                    embeds.OptionHelp("topic", "only this topic", False, "suggestions as you type"),
                    embeds.OptionHelp("days", "last N days", False, "1–365"),
                ),
            ),
            embeds.CommandHelp("search", "Search", (embeds.OptionHelp("query", "words", True),)),
        ]
    )
    names = [f.name for f in shown.embeds[0].fields]
    assert names == ["/news [topic] [days]", "/search <query>"]
    assert "`days`: optional, last N days (1–365)" in shown.embeds[0].fields[0].value


def test_help_lists_member_commands_first_and_the_admin_group_last_once():
    from bot.ui.embeds import CommandHelp, OptionHelp, help_page

    shown = help_page(
        [
            CommandHelp("digest subscribe", "Add a digest", (), admin=True),
            CommandHelp("news", "Top stories", (OptionHelp("days", "last N days (1-365)", False),)),
            CommandHelp("digest list", "List digests", (), admin=True),
            CommandHelp("help", "Help"),
        ]
    )
    member, managers = shown.embeds
    assert [f.name for f in member.fields] == ["/help", "/news [days]"]
    assert managers.title == "For server managers"
    assert [f.name for f in managers.fields] == ["/digest list", "/digest subscribe"]
    assert "(1-365)" in member.fields[1].value and "1–365" not in member.fields[1].value


def test_help_marks_the_manage_server_group_as_admin():
    from bot.ui.cogs.help import describe_commands

    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))

    @app_commands.command(name="news", description="Top stories")
    @app_commands.describe(days="last N days (1-365)")
    async def news(interaction: discord.Interaction, days: app_commands.Range[int, 1, 365]) -> None:
        raise AssertionError("not called")

    group = app_commands.Group(
        name="digest",
        description="Daily digests",
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @group.command(name="list", description="List digests")
    async def listing(interaction: discord.Interaction) -> None:
        raise AssertionError("not called")

    tree.add_command(news)
    tree.add_command(group)
    found = {c.name: c for c in describe_commands(tree)}
    assert found["digest list"].admin and not found["news"].admin
    (days,) = found["news"].options
    assert days.detail == ""  # the description already gives the range: not printed twice
