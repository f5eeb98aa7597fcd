"""Digest rendering produces only payloads Discord accepts (issue 8 items 11 and 12): control
characters stripped, Unicode hosts IDNA-encoded, unencodable links dropped, nonces within 25
characters, and a refused part re-rendered without the offending story."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.domain import digest_messages as m
from bot.domain.views import CoverageItem, StoryRow
from tests.discord_double.validation import message_errors

NOW = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)


def row(sid: int) -> StoryRow:
    lead = CoverageItem(
        sid * 10,
        f"https://example.com/{sid}",
        "A story",
        "An excerpt",
        "Example",
        NOW,
        70,
        None,
        True,
        None,
        sid,
    )
    return StoryRow(sid, 1, 1, 1, 70, None, NOW, NOW, NOW, NOW, 1.0, lead, ("AI",))


def embed_body(spec: m.EmbedSpec) -> dict:
    body: dict = {"title": spec.title, "description": spec.description, "url": spec.url}
    if spec.thumbnail_url:
        body["thumbnail"] = {"url": spec.thumbnail_url}
    return body


def test_control_and_invisible_characters_never_reach_a_digest() -> None:
    story = row(1)
    title = "Bad\x00 title\x07 with\u202e RTL\u200b and \x1b[31m escape"
    story = replace(story, lead=replace(story.lead, title=title, excerpt="ex\x00cerpt\x85"))
    spec = m.story_embed(story)
    for text in (spec.title, spec.description or "", spec.footer or ""):
        bad = [c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
        assert not bad, repr(text)
        assert "\u202e" not in text
    assert spec.title.startswith("Bad title with RTL and")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        (
            "https://例え.テスト/パス?q=ü",
            "https://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9?q=%C3%BC",
        ),
        ("https://example.com/a", "https://example.com/a"),
        ("https://" + "x" * 70 + "ü.com/", None),  # a label too long for IDNA: dropped
        ("javascript:alert(1)", None),
    ],
)
def test_links_are_idna_encoded_or_dropped(url: str, expected: str | None) -> None:
    assert m.link(url) == expected
    story = row(2)
    spec = m.story_embed(replace(story, lead=replace(story.lead, url=url)))
    assert spec.url == expected
    assert message_errors({"embeds": [embed_body(spec)]}) is None  # the double accepts it


def test_nonces_fit_discords_limit() -> None:
    assert m.part_nonce(2**63 - 1, 999) == "nb9223372036854775807.999"
    assert len(m.part_nonce(2**63 - 1, 999)) <= m.NONCE_LIMIT
    assert m.part_nonce(5, 0) != m.part_nonce(5, 1) != m.part_nonce(51, 0)


def _plan(n: int) -> tuple[m.MessagePlan, ...]:
    embeds = tuple(m.EmbedSpec(f"s{i}") for i in range(n))
    return m.plan_messages(m.header_text("D", date(2024, 6, 3), n), embeds, list(range(n)))


def test_a_refused_part_loses_only_the_named_story_and_the_header_recounts() -> None:
    plan = _plan(4)
    fixed = m.without_refused(plan, 0, "400 Bad Request In embeds.2.url: Not a well formed URL.")
    assert fixed is not None
    new, dropped = fixed
    assert dropped == (2,) and new[0].story_ids == (0, 1, 3)
    assert new[0].content.endswith("· 3 stories")


def test_an_unnamed_refusal_splits_then_drops_a_single_story() -> None:
    plan = _plan(4)
    split, dropped = m.without_refused(plan, 0, "400 Bad Request") or ((), ())
    assert dropped == () and [p.story_ids for p in split] == [(0, 1), (2, 3)]
    assert split[0].content and split[1].content is None
    single = (
        split[0],
        m.MessagePlan(None, split[1].embeds[:1], (2,)),
        m.MessagePlan(None, split[1].embeds[1:], (3,)),
    )
    again, gone = m.without_refused(single, 1, "400 Bad Request") or ((), ())
    assert gone == (2,) and [p.story_ids for p in again] == [(0, 1), (3,)]
    assert m.without_refused((m.MessagePlan("header only"),), 0, "400") is None
