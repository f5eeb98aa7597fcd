"""The query service on real temporary databases: every query, hostile search, pagination."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from bot.services.errors import BadInput, NotFound, UserError
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage.db import open_database
from tests.factories import SEEDS, related, write_article

GUARDIAN = "https://www.theguardian.com/technology/2022/mar/24/ukraine-facial-recognition-identify-russian-soldiers"
GIZMODO = "https://gizmodo.com/clearview-ai-s-dystopian-face-rec-tech-now-being-used-t-1848697923"
TELEGRAPH = "https://www.telegraph.co.uk/world-news/2022/03/24/ukraine-using-clearview-ai-facial-recognition-identify-dead"
BIOMETRIC = "https://www.biometricupdate.com/202203/clearview-ai-facial-recognition-being-used-to-deliver-news-of-russian-war-dead-to-families"
SPARK = "https://analyticsindiamag.com/sparkcognition-acquires-of-visual-ai-platform-integration-wizards"
REVSEED = "https://www.indiablooms.com/finance-details/15693/revnomix-solutions-launches-revseed-a-version-2-0-of-artificial-machine-learning-platform-for-hotels-and-resorts.html"
AS_OF = datetime(2022, 3, 25, 20, 0, tzinfo=UTC)  # after the seed story's newest coverage (18:48)


@pytest.fixture
async def seeds_service(db_target):
    async with open_database(db_target) as db:
        await IngestService(db, workers=1).ingest([str(SEEDS)])
        yield QueryService(db, clock=lambda: AS_OF)


WORDS = [
    "apple",
    "banana",
    "cherry",
    "dragon",
    "eagle",
    "falcon",
    "garden",
    "harbor",
    "island",
    "jungle",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchid",
    "pepper",
    "quartz",
    "river",
    "saddle",
    "tunnel",
    "umbrella",
    "violin",
    "walnut",
    "xylophone",
    "yogurt",
    "zephyr",
    "anchor",
    "basket",
    "candle",
    "dolphin",
    "engine",
    "feather",
    "glacier",
    "hammer",
    "igloo",
    "jacket",
    "kayak",
    "lemon",
    "magnet",
    "needle",
    "oyster",
    "parrot",
    "quiver",
    "rocket",
    "salmon",
    "tiger",
    "unicorn",
    "vessel",
    "wizard",
    "yacht",
    "zebra",
    "acorn",
    "bridge",
    "castle",
    "desert",
    "ember",
    "forest",
    "goblet",
    "helmet",
    "ivory",
    "jasmine",
    "koala",
    "ladder",
    "mango",
    "nickel",
    "olive",
    "pillow",
    "quilt",
    "radish",
    "spider",
    "tulip",
    "urchin",
    "velvet",
    "willow",
    "bamboo",
    "cobalt",
    "dagger",
    "emerald",
    "fossil",
    "granite",
    "hornet",
    "indigo",
    "juniper",
    "kiwi",
    "lobster",
    "marble",
    "nutmeg",
    "opal",
    "pebble",
    "quokka",
    "raven",
    "sapphire",
    "thistle",
]


@pytest.fixture
async def many_service(tmp_path, db_target):
    """30 unrelated articles over 30 days, two topics, plus one withdrawn article."""
    src = tmp_path / "src"
    for i in range(30):
        day = datetime(2024, 5, 1, 10, tzinfo=UTC) + timedelta(days=i)
        write_article(
            src,
            f"{i:02d}.md",
            f"Headline {WORDS[i]} {WORDS[i + 30]} subject{i}",
            f"https://n.example/{i}",
            published=day.isoformat().replace("+00:00", "Z"),
            quality=40 + i,
            topics=["Even" if i % 2 == 0 else "Odd", "All"],
            excerpt=f"unique{i} {WORDS[i + 60]}",
            image="https://img.example/x.jpg",
            related_items=[
                related(
                    f"Coverage {i} elsewhere",
                    f"https://cov.example/{i}",
                    day.isoformat().replace("+00:00", "Z"),
                    quality=5,
                )
            ],
        )
    write_article(
        src,
        "gone.md",
        "Withdrawn headline about subject99",
        "https://n.example/gone",
        published="2024-05-30T10:00:00Z",
        removed=True,
        topics=["All"],
        quality=190,
    )
    async with open_database(db_target) as db:
        await IngestService(db, workers=1).ingest([str(src)])
        yield QueryService(db, clock=lambda: datetime(2024, 6, 1, tzinfo=UTC))


# -- stories on the seeds ---------------------------------------------------------------------
async def test_the_two_seeds_are_one_story_with_the_right_coverage(seeds_service):
    page = await seeds_service.stories()
    assert len(page.items) == 1
    story = page.items[0].story
    assert story.article_count == 2
    detail = await seeds_service.story(story.id)
    urls = {c.url for c in detail.coverage}
    assert {GUARDIAN, GIZMODO, TELEGRAPH, BIOMETRIC} <= urls
    assert SPARK not in urls and REVSEED not in urls
    assert detail.coverage[0].id == story.lead.id and story.lead.is_article
    assert story.provider_count >= 4
    assert set(story.topics) == {"AI", "Computer Vision"}


async def test_story_for_article_by_id_url_and_title(seeds_service):
    by_url = await seeds_service.story_for_article(GIZMODO)
    by_title = await seeds_service.story_for_article(
        "ukraine uses facial recognition software to identify russian soldiers killed in combat"
    )
    by_id = await seeds_service.story_for_article(f"article:{by_url.story.lead.id}")
    by_story = await seeds_service.story_for_article(f"#{by_url.story.id}")
    assert by_url.story.id == by_title.story.id == by_id.story.id == by_story.story.id


async def test_a_bare_number_is_ambiguous_and_odd_references_are_user_errors(seeds_service):
    with pytest.raises(BadInput, match="write #13 for story 13, or article:13"):
        await seeds_service.story_for_article("13")
    for ref in ("²", "#²", "x\U0010ffff", "\ud800", "#99999999999999999999"):
        with pytest.raises(UserError):
            await seeds_service.story_for_article(ref)
    # text ending in U+10FFFF (which has no successor for the title range) still answers
    assert [t for _, t in await seeds_service.title_choices("Ukraine\U0010ffff")] == [
        "Ukraine uses facial recognition software to identify Russian soldiers killed in combat"
    ]
    assert await seeds_service.story_choices("\U0010ffff") == []
    with pytest.raises(NotFound, match="No article 987654"):
        await seeds_service.article("article:987654")


async def test_story_choices_rank_big_recent_stories_first(seeds_service):
    (choice,) = await seeds_service.story_choices("Ukraine")
    assert choice.story.provider_count == 14


async def test_related_coverage(seeds_service):
    result = await seeds_service.related(GIZMODO, limit=100)
    urls = [c.url for c in result.related.items]
    assert SPARK in urls and TELEGRAPH in urls  # related lists are shown whole, noisy or not
    qualities = [c.quality for c in result.related.items if c.quality is not None]
    assert qualities == sorted(qualities, reverse=True)
    with pytest.raises(NotFound):
        await seeds_service.related("https://nowhere.example/x")
    with pytest.raises(BadInput):
        await seeds_service.related("   ")


async def test_preview_uses_the_requested_window_or_says_it_fell_back(seeds_service):
    preview = await seeds_service.digest_preview(as_of=AS_OF)
    assert not preview.fell_back and len(preview.stories) == 1
    later = await seeds_service.digest_preview(as_of=AS_OF + timedelta(days=40))
    assert later.fell_back
    assert later.window_end <= AS_OF + timedelta(days=40)
    assert [s.story.id for s in later.stories] == [s.story.id for s in preview.stories]
    with pytest.raises(NotFound):
        await seeds_service.digest_preview(topics=["No Such Topic"], as_of=AS_OF)


# -- topics, stories, pagination ----------------------------------------------------------------
async def test_topics_with_counts_and_window(many_service):
    page = await many_service.topics()
    counts = {t.name: (t.articles, t.stories) for t in page.items}
    assert counts == {"All": (30, 30), "Even": (15, 15), "Odd": (15, 15)}
    windowed = await many_service.topics(since=datetime(2024, 5, 26, tzinfo=UTC))
    assert {t.name: t.articles for t in windowed.items} == {"All": 5, "Even": 2, "Odd": 3}


async def test_stories_filters_ranking_and_paging(many_service):
    first = await many_service.stories(limit=10)
    assert len(first.items) == 10 and first.has_more
    scores = [s.score for s in first.items]
    assert scores == sorted(scores, reverse=True)
    ids = [s.story.id for s in first.items]
    rest = await many_service.stories(limit=10, offset=10)
    last = await many_service.stories(limit=10, offset=20)
    assert not last.has_more and len(last.items) == 10
    assert len(set(ids) | {s.story.id for s in rest.items} | {s.story.id for s in last.items}) == 30
    beyond = await many_service.stories(limit=10, offset=30)
    assert beyond.items == () and not beyond.has_more
    odd = await many_service.stories(topic="odd", limit=100)
    assert len(odd.items) == 15 and all("Odd" in s.story.topics for s in odd.items)
    good = await many_service.stories(min_quality=60, limit=100)
    assert len(good.items) == 10
    recent = await many_service.stories(since=datetime(2024, 5, 28, tzinfo=UTC), limit=100)
    assert len(recent.items) == 3
    with pytest.raises(NotFound):
        await many_service.stories(topic="nope")
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"min_quality": -5}):
        with pytest.raises(BadInput):
            await many_service.stories(**bad)


async def test_removed_article_is_hidden_everywhere(many_service):
    hits = await many_service.search("withdrawn")
    assert hits.items == ()
    with pytest.raises(NotFound):
        await many_service.article("https://n.example/gone")
    assert all(
        s.story.lead.url != "https://n.example/gone"
        for s in (await many_service.stories(limit=100)).items
    )
    assert "gone" not in str(await many_service.title_choices("Withdrawn"))


# -- search and autocomplete ---------------------------------------------------------------------
HOSTILE = [
    '"',
    '""',
    '"unbalanced',
    "OR",
    "AND",
    "NOT",
    "NEAR(",
    "NEAR(a b",
    "*",
    "-",
    "- -",
    "a*",
    "(",
    ")",
    "((subject1",
    "subject1)",
    "title:subject1",
    "^subject1",
    "🙂",
    "🙂 subject2",
    "subject3 OR",
    "'; DROP TABLE items; --",
    "\x00",
    "a" * 5000,
    "headline NEAR/2 subject",
    "{x}",
    "[",
    "+",
    "col : x",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_search_never_raises_on_hostile_input(many_service, text):
    # "nothing to search for" is the one acceptable answer
    with contextlib.suppress(BadInput):
        await many_service.search(text)


async def test_search_finds_and_ranks(many_service):
    page = await many_service.search("subject7")
    assert page.items[0].item.url == "https://n.example/7"
    both = await many_service.search("headline subject12")
    assert both.items[0].item.url == "https://n.example/12"
    anyword = await many_service.search("subject3 zzznothing")
    assert anyword.items and anyword.items[0].item.url == "https://n.example/3"
    with pytest.raises(BadInput):
        await many_service.search("  !!! ")


async def test_title_autocomplete_prefix_then_words_at_most_25(many_service):
    prefix = await many_service.title_choices("headline b")
    starts = [t.lower().startswith("headline b") for _, t in prefix]
    assert starts[:2] == [True, True] and starts == sorted(starts, reverse=True)
    words = await many_service.title_choices("subject1")
    assert any(t.endswith("subject1") for _, t in words)
    assert len(await many_service.title_choices("")) == 25
    assert len(await many_service.title_choices("headline")) == 25
    assert await many_service.title_choices("zzzz") == []
