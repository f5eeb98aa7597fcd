"""Pure digest rules: validation, DST-correct fire times, selection, message planning."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import digest as d
from bot.domain import digest_messages as m
from bot.domain.views import CoverageItem, StoryRow

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("08:30", time(8, 30)), ("7:05", time(7, 5)), ("23:59", time(23, 59)), ("00:00", time(0))],
)
def test_parse_time(text: str, expected: time) -> None:
    assert d.parse_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "8", "08:60", "8am", "", "08:3"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(d.DigestInputError, match="HH:MM"):
        d.parse_time(text)


def test_parse_timezone_is_case_insensitive_and_canonical() -> None:
    assert d.parse_timezone("europe/london") == "Europe/London"
    with pytest.raises(d.DigestInputError, match="time zone"):
        d.parse_timezone("Mars/Olympus")
    with pytest.raises(d.DigestInputError):
        d.parse_timezone("/etc/passwd")


def test_timezone_choices_prefix_first_and_at_most_25() -> None:
    found = d.timezone_choices("lon")
    assert found.index("Europe/London") < found.index("America/Blanc-Sablon")  # city first
    assert d.timezone_choices("europe/lo")[0] == "Europe/London"
    assert len(d.timezone_choices("")) == 25
    assert len(d.timezone_choices("a")) <= 25


def test_keywords_are_split_deduplicated_and_casefolded() -> None:
    assert d.parse_keywords(" GPU, gpu ,  open   source,, ") == ("gpu", "open source")
    with pytest.raises(d.DigestInputError, match="At most"):
        d.parse_keywords(",".join(f"k{i}" for i in range(11)))


# -- schedule across DST -------------------------------------------------------------------------
# (zone, local time, local date, expected UTC instant)
DST_CASES = [
    # London spring forward 2024-03-31 01:00 GMT -> 02:00 BST: 01:30 does not exist
    (LONDON, time(1, 30), date(2024, 3, 31), utc(2024, 3, 31, 1, 0)),
    (LONDON, time(0, 59), date(2024, 3, 31), utc(2024, 3, 31, 0, 59)),
    (LONDON, time(2, 0), date(2024, 3, 31), utc(2024, 3, 31, 1, 0)),
    (LONDON, time(8, 0), date(2024, 3, 31), utc(2024, 3, 31, 7, 0)),
    # London fall back 2024-10-27 02:00 BST -> 01:00 GMT: 01:30 happens twice, run the first
    (LONDON, time(1, 30), date(2024, 10, 27), utc(2024, 10, 27, 0, 30)),
    (LONDON, time(8, 0), date(2024, 10, 27), utc(2024, 10, 27, 8, 0)),
    # New York spring forward 2024-03-10 02:00 EST -> 03:00 EDT: 02:30 does not exist
    (NEW_YORK, time(2, 30), date(2024, 3, 10), utc(2024, 3, 10, 7, 0)),
    (NEW_YORK, time(8, 0), date(2024, 3, 10), utc(2024, 3, 10, 12, 0)),
    # New York fall back 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 twice
    (NEW_YORK, time(1, 30), date(2024, 11, 3), utc(2024, 11, 3, 5, 30)),
    (NEW_YORK, time(8, 0), date(2024, 11, 3), utc(2024, 11, 3, 13, 0)),
]


@pytest.mark.parametrize(("zone", "at", "day", "expected"), DST_CASES)
def test_fire_time_across_dst(zone: ZoneInfo, at: time, day: date, expected: datetime) -> None:
    assert d.fire_time(day, at, zone) == expected
    assert d.local_date_for(expected, zone) == day


@pytest.mark.parametrize(
    ("zone", "at", "start"),
    [
        (LONDON, time(1, 30), utc(2024, 3, 28)),
        (LONDON, time(1, 30), utc(2024, 10, 24)),
        (NEW_YORK, time(2, 30), utc(2024, 3, 7)),
        (NEW_YORK, time(1, 30), utc(2024, 10, 31)),
    ],
)
def test_one_run_per_local_day_across_dst(zone: ZoneInfo, at: time, start: datetime) -> None:
    runs, now = [], start
    for _ in range(7):
        run = d.next_fire(at, zone, now)
        runs.append(run)
        now = run + timedelta(seconds=1)
    days = [d.local_date_for(r, zone) for r in runs]
    assert days == [days[0] + timedelta(days=i) for i in range(7)]
    gaps = {runs[i + 1] - runs[i] for i in range(6)}
    assert gaps <= {
        timedelta(hours=23),
        timedelta(hours=24),
        timedelta(hours=25),
        timedelta(hours=23, minutes=30),
        timedelta(hours=24, minutes=30),
    }


def test_previous_fire_is_the_latest_at_or_before_now() -> None:
    now = utc(2024, 6, 3, 7, 29)  # 08:29 BST
    assert d.previous_fire(time(8, 30), LONDON, now) == utc(2024, 6, 2, 7, 30)
    assert d.previous_fire(time(8, 30), LONDON, utc(2024, 6, 3, 7, 30)) == utc(2024, 6, 3, 7, 30)


# -- selection -----------------------------------------------------------------------------------
NOW = utc(2024, 6, 3, 8, 0)


def story(
    sid: int,
    *,
    seen: datetime = NOW - timedelta(hours=2),
    published: datetime = NOW - timedelta(hours=3),
    quality: int = 70,
    topics: tuple[str, ...] = ("AI",),
    title: str = "A story",
) -> StoryRow:
    lead = CoverageItem(
        sid * 10,
        f"https://example.com/{sid}",
        title,
        "An excerpt",
        "Example",
        published,
        quality,
        None,
        True,
        None,
        sid,
    )
    return StoryRow(
        sid, 1, 1, 1, quality, None, published, published, seen, seen, 1.0, lead, topics
    )


def cand(row: StoryRow, score: float = 1.0, texts: tuple[str, ...] = ()) -> d.Candidate:
    return d.Candidate(row, score, "\n".join(texts or (row.lead.title, row.lead.excerpt or "")))


def sub(**kw) -> d.Subscription:
    base = d.Subscription(1, 10, 20, "Morning", time(9), "Europe/London")
    return replace(base, **kw)


def test_first_window_is_the_last_24_hours() -> None:
    w = d.digest_window(None, NOW)
    assert (w.since, w.until) == (NOW - timedelta(hours=24), NOW)
    assert w.published_since == NOW - timedelta(hours=48)
    # never more than 7 days back
    assert d.digest_window(NOW - timedelta(days=30), NOW).since == NOW - timedelta(days=7)


def test_new_means_first_seen_since_previous_digest_and_recently_published() -> None:
    w = d.digest_window(NOW - timedelta(hours=24), NOW)
    assert d.is_new(story(1), w)
    assert not d.is_new(story(2, seen=NOW - timedelta(hours=25)), w)  # seen before the last one
    backlog = story(3, published=utc(2021, 1, 1))  # ingested just now, published years ago
    assert not d.is_new(backlog, w)
    late = story(4, published=NOW - timedelta(hours=40))  # published before, ingested since
    assert d.is_new(late, w)


def test_select_filters_ranks_and_cuts() -> None:
    w = d.digest_window(None, NOW)
    pool = [
        cand(story(1, quality=50), score=5),
        cand(story(2, quality=90), score=3),
        cand(story(3, quality=90, topics=("Space",)), score=9),
        cand(story(4, quality=95), score=4),
        cand(story(5, quality=95), score=8),
    ]
    chosen = d.select_stories(pool, sub(min_quality=60, topics=("ai",), max_stories=2), w, {5})
    assert [c.story.id for c in chosen] == [4, 2]


@pytest.mark.parametrize(
    ("include", "exclude", "text", "kept"),
    [
        ((), ("crypto",), "New crypto exchange", False),
        ((), ("crypto",), "Cryptography advances", True),  # whole words only
        (("gpu",), (), "Nvidia GPUs sell out", True),  # plural
        (("gpu",), (), "gpuless designs", False),
        (("gpu",), (), "A new GPU from AMD", True),
        (("open source",), (), "An OPEN\nSOURCE model", True),
        (("c++",), (), "Rewriting it in C++ today", True),
        (("ai",), ("ads",), "AI and ads", False),
    ],
)
def test_keyword_filters(include, exclude, text, kept) -> None:
    c = cand(story(1), texts=("Title", text))
    assert d.keywords_pass(c.text, include, exclude) is kept


def test_exclude_checks_every_coverage_item() -> None:
    c = cand(story(1), texts=("Chip news", "fine", "Related: a crypto angle"))
    assert not d.wanted(c, sub(exclude=("crypto",)))
    assert d.wanted(c, sub(include=("angle",)))


# -- message planning ----------------------------------------------------------------------------
def spec(size: int) -> m.EmbedSpec:
    return m.EmbedSpec(title="t", description="x" * (size - 1))


@pytest.mark.parametrize(
    ("sizes", "groups"),
    [
        ([100] * 10, [10]),
        ([100] * 11, [10, 1]),
        ([100] * 25, [10, 10, 5]),
        ([2000, 2000, 2000], [3]),
        ([2000, 2000, 2001], [2, 1]),
        ([4000, 4000, 100, 100], [1, 3]),
        ([], []),
    ],
)
def test_plan_messages_respects_10_embeds_and_6000_chars(sizes, groups) -> None:
    plans = m.plan_messages("header", [spec(s) for s in sizes], list(range(len(sizes))))
    if not sizes:
        assert [p.content for p in plans] == ["header"]
        return
    assert [len(p.embeds) for p in plans] == groups
    assert plans[0].content == "header" and all(p.content is None for p in plans[1:])
    assert [i for p in plans for i in p.story_ids] == list(range(len(sizes)))
    assert all(p.size() <= 6000 and len(p.embeds) <= 10 for p in plans)


def test_story_embed_stays_within_limits_and_escapes_text() -> None:
    row = story(1, title="**Big** @everyone " + "w" * 400)
    row = replace(
        row, lead=replace(row.lead, excerpt="<@123> " + "e" * 5000, url="javascript:alert(1)")
    )
    e = m.story_embed(row, tuple(f"P{i}" for i in range(40)))
    assert len(e.title) <= 256 and len(e.description or "") <= 4096
    assert "@everyone" not in e.title and "\\*\\*Big" in e.title
    assert "<@123>" not in (e.description or "")
    assert e.url is None
    assert "P0, P1, P2 and 37 more (1 outlet · 1 article)" in (e.description or "")
    assert e.size() <= 6000


def test_plan_round_trips_through_json() -> None:
    row = story(7)
    plan = d.build_plan(
        sub(), date(2024, 6, 3), d.digest_window(None, NOW), [cand(row)], post_when_empty=False
    )
    assert m.plan_from_json(m.plan_to_json(plan.messages)) == plan.messages
    assert "1 story" in (plan.messages[0].content or "")


def test_empty_digest_posts_nothing_or_a_note() -> None:
    w = d.digest_window(None, NOW)
    assert d.build_plan(sub(), date(2024, 6, 3), w, [], post_when_empty=False).messages == ()
    note = d.build_plan(sub(), date(2024, 6, 3), w, [], post_when_empty=True).messages
    assert len(note) == 1 and "nothing new today" in (note[0].content or "")
