"""Feed parsing and normalisation, table-driven over the fixture feeds in tests/data/feeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ingest.feeds.html import html_to_text
from bot.ingest.feeds.opml import OpmlError, OpmlOutline, read_opml, write_opml
from bot.ingest.feeds.parse import MAX_ENTRIES, TITLE_CHARS, parse_feed

DATA = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 6, 4, tzinfo=UTC)


def parse(name: str, url: str = "https://feeds.example.com/feed", topics=("Mine",), **kw):
    return parse_feed((DATA / name).read_bytes(), url, kw.pop("ctype", None), topics, NOW, **kw)


def by_url(result):
    return {e.article.url: e for e in result.entries}


# (fixture, feed title, [(url, title, published iso, topics)])
CASES = [
    (
        "rss20.xml",
        "Example & Co News",
        [
            (
                "https://www.example.com/news/chips",
                "Chip makers rally after export deal",
                "2024-06-03T06:15:00+00:00",
                ("Mine", "Business", "Chips"),
            ),
            (
                "https://feeds.example.com/news/relative",
                "Relative link story",
                "2024-06-03T09:00:00+00:00",
                ("Mine",),
            ),
        ],
    ),
    (
        "rss091.xml",
        "Old School",
        [("http://old.example.org/cafe.html", "Café opens", NOW.isoformat(), ("Mine",))],
    ),
    (
        "rss10.rdf",
        "RDF Site",
        [
            (
                "https://rdf.example.net/a",
                "RDF item",
                "2024-06-02T00:00:00+00:00",
                ("Mine", "Science"),
            )
        ],
    ),
    (
        "atom03.xml",
        "Atom Zero Three",
        [("http://a03.example.com/e1", "Old atom entry", "2024-06-02T10:00:00+00:00", ("Mine",))],
    ),
    (
        "atom10.xml",
        "Atom Blog",
        [
            (
                "https://atom.example.com/blog/posts/1",
                "Atom entry",
                "2024-06-03T10:00:00+00:00",
                ("Mine", "Tech"),
            ),
            (
                "https://atom.example.com/blog/posts/2",
                "Only updated date",
                "2024-06-01T10:00:00+00:00",
                ("Mine",),
            ),
        ],
    ),
    (
        "jsonfeed11.json",
        "JSON Things",
        [
            (
                "https://json.example.com/one",
                "First <json> item & more",
                "2024-06-03T12:00:00+00:00",
                ("Mine", "Web", "JSON"),
            ),
            (
                "https://feeds.example.com/two",
                "No title, text only",
                "2024-06-02T08:00:00+00:00",
                ("Mine",),
            ),
        ],
    ),
    (
        "wrong-encoding.xml",
        "Wrong encoding",
        [("https://enc.example.com/cafe", "Café crème", NOW.isoformat(), ("Mine",))],
    ),
    (
        "future-and-missing.xml",
        "Dates",
        [
            ("https://dates.example.com/future", "From the future", NOW.isoformat(), ("Mine",)),
            ("https://dates.example.com/none", "No date", NOW.isoformat(), ("Mine",)),
            ("https://dates.example.com/bad", "Bad date", NOW.isoformat(), ("Mine",)),
        ],
    ),
]


@pytest.mark.parametrize(("name", "title", "expected"), CASES, ids=[c[0] for c in CASES])
def test_feed_variants_normalise(name, title, expected):
    result = parse(name)
    assert not result.failed, result.problems
    assert result.title == title
    got = [
        (e.article.url, e.article.title, e.article.published_at.isoformat(), e.article.topics)
        for e in result.entries
    ]
    assert got == expected
    for entry in result.entries:
        article = entry.article
        assert article.provider is not None and article.provider.name == title
        assert "<" not in (article.excerpt or "").replace("<json>", "")


def test_rss_entry_details_html_stripped_tracking_dropped_guid_kept():
    result = parse("rss20.xml")
    chips = by_url(result)["https://www.example.com/news/chips"]
    assert chips.guid == "urn:example:1"
    assert chips.article.excerpt == "Shares rose & fell."  # no script, no style, entities decoded
    assert [i.url for i in chips.article.images] == [
        "https://img.example.com/chips.jpg",
        "https://img.example.com/big.png",
    ]
    assert chips.article.provider.domain == "example.com"
    # the entry without a link and the javascript: one are skipped AND counted
    assert ("entry_without_link", "2 entries skipped: no usable http(s) link") in result.problems
    assert result.total == 4


def test_atom_content_html_becomes_plain_text():
    entry = by_url(parse("atom10.xml"))["https://atom.example.com/blog/posts/1"]
    assert entry.article.excerpt == "Body & more"
    assert entry.guid == "tag:atom.example.com,2024:1"


def test_json_feed_skips_items_without_url_and_non_objects():
    result = parse("jsonfeed11.json", ctype="application/feed+json")
    assert [k for k, _ in result.problems] == ["entry_without_link"]
    assert result.entries[0].article.images[0].url == "https://json.example.com/one.jpg"
    assert result.site_url == "https://json.example.com/"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"version": "1", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "must be a list"),
        (b"[1, 2]", "must be an object"),
    ],
)
def test_json_feed_shape_is_validated(body, reason):
    result = parse_feed(body, "https://j.example.com/f", "application/json", (), NOW)
    assert result.failed and result.problems[0][0] == "not_a_feed"
    assert reason in result.problems[0][1]


def test_json_nesting_bomb_is_a_problem_not_a_crash():
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 200_000
    result = parse_feed(body, "https://j.example.com/f", "application/json", (), NOW)
    assert result.failed and result.problems[0][0] == "not_a_feed"


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_entity_declarations_are_refused(name):
    result = parse(name)
    assert result.failed and result.entries == []
    assert result.problems[0][0] == "entity_declarations"
    assert "root:" not in json.dumps(result.problems)  # nothing of /etc/passwd


def test_not_a_feed_names_the_reason():
    result = parse("not-a-feed.html", ctype="text/html")
    assert result.failed and result.problems[0][0] == "not_a_feed"
    assert parse_feed(b"  ", "https://x.example.com/", None, (), NOW).problems[0][1] == (
        "the response body is empty"
    )


def _rss(items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://big.example.com/</link>{items}</channel></rss>"
    ).encode()


def test_thirty_thousand_entries_keep_the_newest():
    items = "".join(
        f"<item><title>Entry {i}</title><link>https://big.example.com/{i}</link>"
        f"<pubDate>{datetime.fromtimestamp(1_700_000_000 + i * 60, UTC):%a, %d %b %Y %H:%M:%S} GMT"
        "</pubDate></item>"
        for i in range(30_000)
    )
    result = parse_feed(_rss(items), "https://big.example.com/f", None, (), NOW)
    assert len(result.entries) == MAX_ENTRIES
    assert result.entries[0].article.title == "Entry 29999"
    assert "too_many_entries" in {k for k, _ in result.problems}
    [message] = [m for k, m in result.problems if k == "too_many_entries"]
    assert "30000" in message and f"dropped {30_000 - MAX_ENTRIES}" in message


def test_megabyte_title_is_cut_and_noted():
    title = "word " * 200_000  # 1 MB
    result = parse_feed(
        _rss(f"<item><title>{title}</title><link>https://big.example.com/t</link></item>"),
        "https://big.example.com/f",
        None,
        (),
        NOW,
    )
    [entry] = result.entries
    assert len(entry.article.title) <= TITLE_CHARS
    assert "title_cut" in {k for k, _ in result.problems}


def test_the_same_guid_twice_in_one_document_is_kept_once():
    item = "<item><title>T</title><link>https://d.example.com/{n}</link><guid>same</guid></item>"
    result = parse_feed(
        _rss(item.format(n=1) + item.format(n=2)), "https://d.example.com/f", None, (), NOW
    )
    assert [e.article.url for e in result.entries] == ["https://d.example.com/1"]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a b"),
        ("AT&amp;T &lt;3", "AT&T <3"),
        ("<script>x()</script>kept", "kept"),
        ("<![CDATA[x]]>plain", "plain"),
        ("no markup & fine", "no markup & fine"),
        ("<img src=x onerror=alert(1)>", ""),
        (None, ""),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_opml_reads_folders_as_topics_and_round_trips():
    outlines = read_opml((DATA / "subscriptions.opml").read_bytes())
    assert outlines[0] == OpmlOutline("https://www.example.com/feed.xml", "Example News", ("Tech",))
    assert outlines[1].topics == ("Tech", "Web", "JSON")
    assert [o.url for o in outlines][2:] == [
        "ftp://files.example.com/feed",
        "https://top.example.org/rss",
    ]
    again = read_opml(write_opml(outlines, NOW).encode())
    assert again == outlines


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<notopml/>", "not an OPML document"),
        (b"<opml", "not valid XML"),
        ((DATA / "billion-laughs.xml").read_bytes().replace(b"<rss", b"<opml"), "declares"),
    ],
)
def test_bad_opml_is_refused_with_a_reason(data, reason):
    with pytest.raises(OpmlError, match=reason):
        read_opml(data)
