"""parse_article: every normalisation and every rejection, on inputs built inline."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.domain.models import Image, Provider
from bot.ingest.parser import ArticleParseError, parse_article, parse_datetime, split_front_matter
from bot.ingest.yamlload import FAST_YAML, error_line, load_front_matter, needs_reference_parser
from tests.support import fastyaml

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_GUARDIAN = SEEDS / "000_a48850ed1a28f255.txt"
SEED_GIZMODO = SEEDS / "003_acf1efbf43e3826f.txt"

MINIMAL = 'title: "T"\nwebUrl: "https://example.com/a"\npublishedDateTime: 2022-03-24T21:38:00Z\n'
# Minimal front matter without the key under test, so that a test can add its own spelling.
WITHOUT = {
    "title": 'webUrl: "https://example.com/a"\npublishedDateTime: 2022-03-24T21:38:00Z\n',
    "url": 'title: "T"\npublishedDateTime: 2022-03-24T21:38:00Z\n',
    "date": 'title: "T"\nwebUrl: "https://example.com/a"\n',
}


def doc(front: str, body: str = "") -> bytes:
    return f"---\n{front}---\n{body}".encode()


def parse(front: str, body: str = ""):
    return parse_article(doc(front, body))


def article(extra: str = ""):
    return parse(MINIMAL + extra).article


# -- rejections ---------------------------------------------------------------------------------

LINE_OF_EXTRA = 5  # "---" and the three MINIMAL lines come first

REJECTIONS = [
    # (id, file bytes, reason regex, line)
    ("empty file", b"", r"empty file$", None),
    ("not utf-8", b"---\ntitle: \xff\n---\n", r"not valid UTF-8: byte 0xff at offset 11", 2),
    ("utf-16", "---\n".encode("utf-16"), r"not valid UTF-8: byte 0xff at offset 0", 1),
    ("no front matter", b"title: x\n", r"no front matter: the first line is not '---'", 1),
    ("indented fence", b"  ---\ntitle: x\n---\n", r"no front matter", 1),
    ("blank first line", b"\n---\ntitle: x\n---\n", r"no front matter", 1),
    ("only spaces", b"   ", r"no front matter", 1),
    ("unclosed", b"---\ntitle: x\n", r"front matter is not closed", 1),
    ("only the fence", b"---", r"front matter is not closed", 1),
    (
        "dashes inside a line are no fence",
        doc(MINIMAL)[:-4] + b'x: "https://example.com/a---b"\n--- no\n-----\n',
        r"front matter is not closed",
        1,
    ),
    ("empty front matter", b"---\n---\nbody\n", r"front matter is empty", 2),
    ("comment-only front matter", b"---\n# nothing\n---\n", r"front matter is empty", 2),
    (
        "list front matter",
        b"---\n- a\n- b\n---\n",
        r"front matter must be a mapping, got a list",
        2,
    ),
    (
        "scalar front matter",
        b"---\njust text\n---\n",
        r"front matter must be a mapping, got the string",
        2,
    ),
    # YAML errors, with the line counted in the file
    ("yaml: mapping value", doc(MINIMAL + "key: value: other\n"), r"invalid YAML: mapping", 5),
    ("yaml: tab", doc(MINIMAL + "quality: 1\n\tq: 2\n"), r"invalid YAML: .*tab", 6),
    ("yaml: bad indent", doc(MINIMAL + "a:\n    b: 1\n  c: 2\n"), r"invalid YAML: ", 7),
    ("yaml: unclosed quote", doc(MINIMAL + 'excerpt: "open\n'), r"invalid YAML: .*quoted", 6),
    ("yaml: flow", doc("title: T\nwebUrl: [\nx: 1\n"), r"invalid YAML: ", 5),
    ("yaml: control char", doc(MINIMAL + "x: \x01\n"), r"invalid YAML: unacceptable char", 5),
    ("yaml: bad date", doc(MINIMAL + "x: 1\nwhen: 2022-02-30\n"), r"invalid YAML value: day", 6),
    ("yaml: after document end", doc(MINIMAL + "...\nb: 1\n"), r"invalid YAML: ", 6),
    # title
    ("missing title", doc(WITHOUT["title"]), r"missing title$", None),
    ("empty title", doc(WITHOUT["title"] + 'title: "  "\n'), r"empty title$", 4),
    ("null title", doc(WITHOUT["title"] + "title:\n"), r"empty title$", 4),
    (
        "list title",
        doc(WITHOUT["title"] + "title: [a]\n"),
        r"title must be a string, got a list",
        4,
    ),
    # url
    ("missing url", doc(WITHOUT["url"]), r"missing url: neither webUrl nor originalUrl", None),
    ("empty urls", doc(WITHOUT["url"] + 'webUrl: ""\noriginalUrl: " "\n'), r"missing url", None),
    (
        "url not a string",
        doc(WITHOUT["url"] + "webUrl: 5\n"),
        r"webUrl must be a string, got the number 5",
        4,
    ),
    (
        "url scheme",
        doc(WITHOUT["url"] + 'webUrl: "ftp://example.com/a"\n'),
        r"invalid webUrl: unsupported scheme 'ftp'",
        4,
    ),
    (
        "url host",
        doc(WITHOUT["url"] + 'webUrl: "https:///a"\n'),
        r"invalid webUrl: missing host",
        4,
    ),
    (
        "originalUrl invalid",
        doc(WITHOUT["url"] + 'originalUrl: "youtube.com/watch?v=1"\n'),
        r"invalid originalUrl: unsupported scheme",
        4,
    ),
    # date
    ("missing date", doc(WITHOUT["date"]), r"missing publishedDateTime$", None),
    (
        "null date",
        doc(WITHOUT["date"] + "publishedDateTime: ~\n"),
        r"missing publishedDateTime$",
        4,
    ),
    (
        "unreadable date",
        doc(WITHOUT["date"] + 'publishedDateTime: "yesterday"\n'),
        r"invalid publishedDateTime: cannot read the string 'yesterday'",
        4,
    ),
    (
        "number date",
        doc(WITHOUT["date"] + "publishedDateTime: 1648157880\n"),
        r"invalid publishedDateTime: cannot read the number",
        4,
    ),
    (
        "bool date",
        doc(WITHOUT["date"] + "publishedDateTime: true\n"),
        r"invalid publishedDateTime: cannot read the boolean true",
        4,
    ),
    (
        "half date",
        doc(WITHOUT["date"] + 'publishedDateTime: "2022-03"\n'),
        r"invalid publishedDateTime",
        4,
    ),
    # wrong types, key named
    (
        "quality word",
        doc(MINIMAL + 'quality: "high"\n'),
        r"quality must be an integer, got the string 'high'",
        5,
    ),
    (
        "quality bool",
        doc(MINIMAL + "quality: true\n"),
        r"quality must be an integer, got the boolean true",
        5,
    ),
    (
        "quality yes",
        doc(MINIMAL + "quality: yes\n"),
        r"quality must be an integer, got the boolean true",
        5,
    ),
    (
        "quality float",
        doc(MINIMAL + "quality: 67.5\n"),
        r"quality must be an integer, got the number 67.5",
        5,
    ),
    ("quality list", doc(MINIMAL + "quality: [1]\n"), r"quality must be an integer, got a list", 5),
    (
        "quality negative",
        doc(MINIMAL + "quality: -3\n"),
        r"quality must not be negative, got -3",
        5,
    ),
    ("quality 6.7e1", doc(MINIMAL + 'quality: "6.7e1"\n'), r"quality must be an integer", 5),
    (
        "heat word",
        doc(MINIMAL + "x: 1\nheat: hot\n"),
        r"heat must be an integer, got the string 'hot'",
        6,
    ),
    (
        "heat float",
        doc(MINIMAL + "heat: -1.5\n"),
        r"heat must be an integer, got the number -1.5",
        5,
    ),
    (
        "topics mapping",
        doc(MINIMAL + "topics: {a: 1}\n"),
        r"topics must be a list of strings, got a mapping",
        5,
    ),
    (
        "topics number",
        doc(MINIMAL + "topics: 5\n"),
        r"topics must be a list of strings, got the number 5",
        5,
    ),
    (
        "provider string",
        doc(MINIMAL + "provider: The Guardian\n"),
        r"provider must be a mapping, got the string",
        5,
    ),
    (
        "provider list",
        doc(MINIMAL + "provider: [a]\n"),
        r"provider must be a mapping, got a list",
        5,
    ),
    (
        "provider name",
        doc(MINIMAL + "provider:\n  name: [x]\n"),
        r"provider.name must be a string, got a list",
        5,
    ),
    (
        "related mapping",
        doc(MINIMAL + "related: {a: 1}\n"),
        r"related must be a list, got a mapping",
        5,
    ),
    (
        "related string",
        doc(MINIMAL + "related: none\n"),
        r"related must be a list, got the string 'none'",
        5,
    ),
    (
        "images string",
        doc(MINIMAL + "images: x.jpg\n"),
        r"images must be a list, got the string",
        5,
    ),
    (
        "category list",
        doc(MINIMAL + "category: [news]\n"),
        r"category must be a string, got a list",
        5,
    ),
    ("type mapping", doc(MINIMAL + "type: {a: 1}\n"), r"type must be a string, got a mapping", 5),
    (
        "excerpt date",
        doc(MINIMAL + "excerpt: 2022-03-24\n"),
        r"excerpt must be a string, got the date",
        5,
    ),
    (
        "removed string",
        doc(MINIMAL + 'removed: "yes"\n'),
        r"removed must be true or false, got the string 'yes'",
        5,
    ),
    (
        "removed number",
        doc(MINIMAL + "removed: 1\n"),
        r"removed must be true or false, got the number 1",
        5,
    ),
]


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejections(data: bytes, reason: str, line: int | None) -> None:
    with pytest.raises(ArticleParseError) as caught:
        parse_article(data)
    err = caught.value
    assert re.match(reason, err.reason), err.reason
    assert err.line == line
    assert str(err) == (err.reason if line is None else f"{err.reason} (line {line})")


@pytest.mark.parametrize(
    ("size", "limit", "ok"),
    [(100, 100, True), (101, 100, False), (5_000_001, 5_000_000, False)],
)
def test_size_limit(size: int, limit: int, ok: bool) -> None:
    data = doc(MINIMAL)
    data = data + b"x" * (size - len(data))
    if ok:
        assert parse_article(data, max_bytes=limit).article.title == "T"
    else:
        with pytest.raises(ArticleParseError) as caught:
            parse_article(data, max_bytes=limit)
        assert caught.value.reason == f"file is {size} bytes, larger than the {limit}-byte limit"


def test_default_size_limit_is_five_million() -> None:
    with pytest.raises(ArticleParseError, match="larger than the 5000000-byte limit"):
        parse_article(doc(MINIMAL) + b" " * 5_000_000)


def test_yaml_error_line_is_the_same_for_crlf() -> None:
    data = doc(MINIMAL + "key: value: other\n")
    for variant in (data, data.replace(b"\n", b"\r\n"), b"\xef\xbb\xbf" + data):
        with pytest.raises(ArticleParseError) as caught:
            parse_article(variant)
        assert caught.value.line == 5


def test_parse_error_str_and_pickle() -> None:
    err = ArticleParseError("invalid YAML: x", 7)
    assert str(err) == "invalid YAML: x (line 7)"
    assert str(ArticleParseError("empty file")) == "empty file"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.line, str(copy)) == (err.reason, err.line, str(err))


# -- fences and body ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "front", "body"),
    [
        ("---\na: 1\n---\n", "a: 1\n", ""),
        ("---\na: 1\n---", "a: 1\n", ""),
        ("---\na: 1\n---\nbody\n", "a: 1\n", "body\n"),
        ("---\na: 1\n---\n\nbody", "a: 1\n", "\nbody"),
        ("--- \t\na: 1\n---  \nbody", "a: 1\n", "body"),
        ("---\n---\n", "", ""),
        ("---\nu: https://x.com/a---b\n---x\n---\nbody", "u: https://x.com/a---b\n---x\n", "body"),
        ("---\na: 1\n---\nb\n---\nc\n", "a: 1\n", "b\n---\nc\n"),
    ],
)
def test_split_front_matter(text: str, front: str, body: str) -> None:
    assert split_front_matter(text) == (front, body)


def test_body_is_kept() -> None:
    assert parse(MINIMAL, "Hello\n\nworld\n").article.body == "Hello\n\nworld\n"


def test_url_with_dashes_is_not_a_fence() -> None:
    front = 'title: "T"\nwebUrl: "https://example.com/a---b---"\npublishedDateTime: 2022-03-24\n'
    assert parse(front).article.url == "https://example.com/a---b---"


# -- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("2022-03-24T21:38:00Z", datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ("2022-03-24T23:38:00+02:00", datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ("2022-03-24 21:38:00", datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ("2022-03-24T21:38:00.250Z", datetime(2022, 3, 24, 21, 38, 0, 250000, tzinfo=UTC)),
        ("2022-03-24", datetime(2022, 3, 24, tzinfo=UTC)),
        ('"2022-03-24T21:38:00Z"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-24T21:38Z"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-24 21:38"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-24T21:38:00.123456Z"', datetime(2022, 3, 24, 21, 38, 0, 123456, tzinfo=UTC)),
        ('"2022-03-24T16:38:00-05:00"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-25T00:08:00+02:30"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-24t21:38:00z"', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"  2022-03-24T21:38:00Z  "', datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
        ('"2022-03-24"', datetime(2022, 3, 24, tzinfo=UTC)),
        ("'2022-03-24T21:38:00'", datetime(2022, 3, 24, 21, 38, tzinfo=UTC)),
    ],
)
def test_published_at(yaml_value: str, expected: datetime) -> None:
    published = parse(WITHOUT["date"] + f"publishedDateTime: {yaml_value}\n").article.published_at
    assert published == expected
    assert published.tzinfo is UTC


@pytest.mark.parametrize(
    "value", ["", "soon", "2022-13-01", "24/03/2022", None, 5, 1.5, True, [], {}]
)
def test_parse_datetime_unusable(value: object) -> None:
    assert parse_datetime(value) is None


@pytest.mark.parametrize(
    ("extra", "quality", "heat"),
    [
        ("", None, None),
        ("quality: 67\nheat: -1\n", 67, -1),
        ('quality: "67"\nheat: "-1"\n', 67, -1),
        ('quality: " 67 "\nheat: " 84 "\n', 67, 84),
        ("quality: 67.0\nheat: 3694.0\n", 67, 3694),
        ('quality: "+7"\nheat: 0\n', 7, 0),
        ("quality: 0\nheat: -0\n", 0, 0),
        ("quality:\nheat: ~\n", None, None),
        ('quality: ""\nheat: " "\n', None, None),
        ("quality: 189\nheat: 3694\n", 189, 3694),
    ],
)
def test_quality_and_heat(extra: str, quality: int | None, heat: int | None) -> None:
    parsed = article(extra)
    assert (parsed.quality, parsed.heat) == (quality, heat)
    assert parsed.quality is None or type(parsed.quality) is int
    assert parsed.heat is None or type(parsed.heat) is int


@pytest.mark.parametrize(
    ("extra", "topics"),
    [
        ("", ()),
        ("topics:\n", ()),
        ("topics: []\n", ()),
        ("topics:\n  - AI\n  - Computer Vision\n", ("AI", "Computer Vision")),
        ("topics: AI\n", ("AI",)),
        ("topics:\n  -  AI \n  - ai\n  - Ai\n  - Robots\n  - AI\n", ("AI", "Robots")),
        ("topics:\n  - Power Apps\n  - null\n  - ~\n  -\n  - Azure\n", ("Power Apps", "Azure")),
        ('topics:\n  - ""\n  - "  "\n  - X\n', ("X",)),
        ("topics:\n  - 2020\n  - Straße\n  - STRASSE\n", ("2020", "Straße")),
    ],
)
def test_topics(extra: str, topics: tuple[str, ...]) -> None:
    assert article(extra).topics == topics


def test_topic_of_wrong_type_is_dropped_with_a_warning() -> None:
    parsed = parse(MINIMAL + "topics:\n  - AI\n  - [nested]\n  - {a: 1}\n")
    assert parsed.article.topics == ("AI",)
    assert parsed.warnings == (
        "topics[1] must be a string, got a list; dropped",
        "topics[2] must be a string, got a mapping; dropped",
    )


@pytest.mark.parametrize(
    ("extra", "provider"),
    [
        ("", None),
        ("provider:\n", None),
        ("provider: {}\n", None),
        (
            "provider:\n  name: The Guardian\n  domain: theguardian.com\n",
            Provider("The Guardian", "theguardian.com"),
        ),
        ("provider:\n  name: ' Reuters '\n", Provider("Reuters", None)),
        ("provider:\n  domain: YouTube.com\n", Provider("youtube.com", "youtube.com")),
        (
            'provider:\n  name: ""\n  domain: codastory.com\n',
            Provider("codastory.com", "codastory.com"),
        ),
        ("provider:\n  name: 9to5Mac\n  domain: 9to5mac.com\n", Provider("9to5Mac", "9to5mac.com")),
    ],
)
def test_provider(extra: str, provider: Provider | None) -> None:
    assert article(extra).provider == provider


@pytest.mark.parametrize(
    ("extra", "field", "value"),
    [
        ('title: "  Spaced   out  "\n', "title", "Spaced   out"),
        ("title: 1984\n", "title", "1984"),
        ('excerpt: ""\n', "excerpt", None),
        ('excerpt: "  "\n', "excerpt", None),
        ('excerpt: " An excerpt. "\n', "excerpt", "An excerpt."),
        ("category: news\n", "category", "news"),
        ('category: ""\n', "category", None),
        ("type: video\n", "type", "video"),
        ("type:\n", "type", None),
        ("removed: true\n", "removed", True),
        ("removed: false\n", "removed", False),
        ("removed:\n", "removed", False),
        ("", "removed", False),
    ],
)
def test_strings_and_flags(extra: str, field: str, value: object) -> None:
    base = MINIMAL.replace('title: "T"\n', "") if field == "title" else MINIMAL
    assert getattr(parse(base + extra).article, field) == value


def test_removed_article() -> None:
    assert article("removed: true\n").removed is True


def test_video_entry_with_original_url_only() -> None:
    front = (
        'title: "Diablo 4 Parody"\n'
        "publishedDateTime: 2016-10-06T02:47:31Z\n"
        'originalUrl: "https://youtube.com/watch?v=9FGveeLt1qk"\n'
        "type: video\n"
        "provider:\n  name: Wolfcryer\n  domain: youtube.com\n"
    )
    parsed = parse(front).article
    assert parsed.url == "https://youtube.com/watch?v=9FGveeLt1qk"
    assert parsed.type == "video"
    assert parsed.provider == Provider("Wolfcryer", "youtube.com")


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        ('webUrl: "https://a.com/x"\noriginalUrl: "https://b.com/y"\n', "https://a.com/x"),
        ('webUrl: ""\noriginalUrl: "https://b.com/y"\n', "https://b.com/y"),
        ('webUrl:\noriginalUrl: "https://b.com/y"\n', "https://b.com/y"),
        ('webUrl: "  "\noriginalUrl: "https://b.com/y"\n', "https://b.com/y"),
        ('webUrl: " HTTPS://A.com/x/?utm_source=rss#c "\n', "https://a.com/x"),
        (
            'webUrl: "https://example.com/a b\u2028c\u202fd"\n',
            "https://example.com/a%20b%E2%80%A8c%E2%80%AFd",
        ),
    ],
)
def test_article_url(urls: str, expected: str) -> None:
    assert parse(WITHOUT["url"] + urls).article.url == expected


# -- images ---------------------------------------------------------------------------------------


def test_images_keep_http_urls_and_warn_about_the_rest() -> None:
    parsed = parse(
        MINIMAL
        + "images:\n"
        + '  - url: "https://img.example.com/a.jpg?"\n    width: 620\n    height: "372"\n'
        + '  - url: "data:image/png;base64,AAAA"\n'
        + "  - width: 5\n"
        + '  - "http://img.example.com/b.png"\n'
        + "  - 42\n"
        + '  - url: "https://img.example.com/c.jpg"\n    width: wide\n'
    )
    assert parsed.article.images == (
        Image("https://img.example.com/a.jpg", 620, 372),
        Image("http://img.example.com/b.png"),
        Image("https://img.example.com/c.jpg"),
    )
    assert parsed.article.image_url == "https://img.example.com/a.jpg"
    assert parsed.warnings == (
        "images[1]: dropped: invalid url: unsupported scheme 'data' (only http and https)",
        "images[2]: dropped: missing url",
        "images[4]: dropped: not a mapping (the number 42)",
        "images[5].width must be an integer, got the string 'wide'; ignored",
    )


# -- related --------------------------------------------------------------------------------------


def related_item(url: str = "https://other.com/story", **fields: str) -> str:
    lines = [f'  - title: "{fields.pop("title", "Other story")}"']
    if url:
        lines.append(f'    webUrl: "{url}"')
    lines.extend(f"    {key}: {value}" for key, value in fields.items())
    return "\n".join(lines) + "\n"


def related_of(*items: str, front: str = MINIMAL):
    return parse(front + "related:\n" + "".join(items))


def test_related_item_fields() -> None:
    parsed = related_of(
        related_item(
            "https://Other.com/story/?utm_medium=x",
            excerpt='" An excerpt "',
            publishedDateTime="2022-03-24T15:36:00Z",
            type="article",
            quality="89",
            provider="\n      name: Business Insider\n      domain: businessinsider.com",
            images='\n      - url: "ftp://x.com/a.jpg"\n      - url: "https://i.insider.com/623c?width=1200"',
        )
    )
    assert parsed.warnings == ()
    (item,) = parsed.article.related
    assert item.url == "https://other.com/story"
    assert item.title == "Other story"
    assert item.excerpt == "An excerpt"
    assert item.published_at == datetime(2022, 3, 24, 15, 36, tzinfo=UTC)
    assert item.provider == Provider("Business Insider", "businessinsider.com")
    assert item.quality == 89
    assert item.image_url == "https://i.insider.com/623c?width=1200"
    assert item.type == "article"


def test_related_optional_fields_absent() -> None:
    (item,) = related_of(related_item(excerpt='""')).article.related
    assert (
        item.excerpt,
        item.published_at,
        item.provider,
        item.quality,
        item.image_url,
        item.type,
    ) == (
        None,
        None,
        None,
        None,
        None,
        None,
    )


def test_related_item_pointing_at_the_article_is_dropped_quietly() -> None:
    parsed = related_of(
        related_item("https://example.com/a/?utm_source=feed"),
        related_item("https://other.com/story"),
    )
    assert [item.url for item in parsed.article.related] == ["https://other.com/story"]
    assert parsed.warnings == ()


def test_related_item_pointing_at_the_original_url_is_dropped_quietly() -> None:
    front = MINIMAL + 'originalUrl: "https://origin.example.com/a"\n'
    parsed = related_of(related_item("https://origin.example.com/a"), front=front)
    assert parsed.article.related == ()
    assert parsed.warnings == ()


def test_related_duplicates_keep_the_first() -> None:
    parsed = related_of(
        related_item("https://other.com/story", title="First"),
        related_item("https://third.com/x", title="Third"),
        related_item("https://OTHER.com/story/#again", title="Second"),
        related_item("https://other.com/story?fbclid=1", title="Fourth"),
    )
    assert [(item.url, item.title) for item in parsed.article.related] == [
        ("https://other.com/story", "First"),
        ("https://third.com/x", "Third"),
    ]
    assert parsed.warnings == ()


def test_related_dropped_items_are_reported() -> None:
    parsed = related_of(
        related_item("https://ok.com/1"),
        related_item("", title="No url"),
        related_item("mailto:someone@example.com"),
        "  - just a string\n",
        related_item("https://no-title.com/x", title=""),
        '  - title: "Empty web url"\n    webUrl: ""\n',
        '  - title: "Video"\n    webUrl: ""\n    originalUrl: "https://youtube.com/watch?v=1"\n',
        '  - title: [a, list]\n    webUrl: "https://ok.com/2"\n',
        related_item("https:///nohost"),
        '  - title: "Bad url type"\n    webUrl: 42\n',
    )
    assert [item.url for item in parsed.article.related] == [
        "https://ok.com/1",
        "https://youtube.com/watch?v=1",
    ]
    assert parsed.warnings == (
        "related[1]: dropped: missing url",
        "related[2]: dropped: invalid webUrl: unsupported scheme 'mailto' (only http and https)",
        "related[3]: dropped: not a mapping (the string 'just a string')",
        "related[4]: dropped: missing title",
        "related[5]: dropped: missing url",
        "related[7]: dropped: related[7].title must be a string, got a list",
        "related[8]: dropped: invalid webUrl: missing host",
        "related[9]: dropped: webUrl is the number 42",
    )


def test_related_bad_optional_fields_become_none_with_warnings() -> None:
    parsed = related_of(
        related_item(
            publishedDateTime='"last week"', quality="high", provider="Somebody", excerpt="[x]"
        ),
        related_item("https://two.com/x", quality="-5", publishedDateTime="12"),
    )
    assert parsed.warnings == (
        "related[0]: dropped: related[0].excerpt must be a string, got a list",
        "related[1].publishedDateTime: ignored: cannot read the number 12",
        "related[1].quality must not be negative, got -5; ignored",
    )
    parsed = related_of(
        related_item(publishedDateTime='"last week"', quality="high", provider="Somebody")
    )
    (item,) = parsed.article.related
    assert (item.published_at, item.quality, item.provider) == (None, None, None)
    assert parsed.warnings == (
        "related[0].publishedDateTime: ignored: cannot read the string 'last week'",
        "related[0].provider must be a mapping, got the string 'Somebody'; ignored",
        "related[0].quality must be an integer, got the string 'high'; ignored",
    )


def test_empty_related_list() -> None:
    assert article("related:\n").related == ()
    assert article("related: []\n").related == ()


# -- encodings and line ends ----------------------------------------------------------------------


def test_crlf_parses_like_lf() -> None:
    data = SEED_GUARDIAN.read_bytes()
    assert b"\r\n" not in data
    assert parse_article(data.replace(b"\n", b"\r\n")) == parse_article(data)


def test_cr_only_parses_like_lf() -> None:
    data = doc(MINIMAL + "topics:\n  - AI\n", "body\n")
    assert parse_article(data.replace(b"\n", b"\r")) == parse_article(data)


def test_bom_is_tolerated() -> None:
    data = SEED_GIZMODO.read_bytes()
    assert parse_article(b"\xef\xbb\xbf" + data) == parse_article(data)
    assert parse_article(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")) == parse_article(data)


def test_non_ascii_text() -> None:
    parsed = parse('title: "Clearview AI’s Dystopian Face Rec — ünïcødé 😀"\n' + WITHOUT["title"])
    assert parsed.article.title == "Clearview AI’s Dystopian Face Rec — ünïcødé 😀"


# -- seeds -----------------------------------------------------------------------------------------


def test_seed_guardian() -> None:
    parsed = parse_article(SEED_GUARDIAN.read_bytes())
    art = parsed.article
    assert parsed.warnings == ()
    assert (
        art.title
        == "Ukraine uses facial recognition software to identify Russian soldiers killed in combat"
    )
    assert art.url == (
        "https://www.theguardian.com/technology/2022/mar/24/"
        "ukraine-facial-recognition-identify-russian-soldiers"
    )
    assert art.published_at == datetime(2022, 3, 24, 21, 38, tzinfo=UTC)
    assert art.excerpt is not None and art.excerpt.startswith("The defense ministry began using")
    assert (art.quality, art.heat) == (66, -1)
    assert art.provider == Provider("The Guardian", "theguardian.com")
    assert (art.category, art.type, art.removed) == ("news", "article", False)
    assert art.topics == ("Computer Vision", "AI")
    assert art.images == (
        Image(
            "https://i.guim.co.uk/img/media/b1236187f5fc799d81709ad426146bccb186b4d6/0_187_5760_3456/"
            "master/5760.jpg?width=620&quality=85&auto=format&fit=max&s=dee9433c17da6c8c14788c605f7c32a3",
            620,
            372,
        ),
    )
    assert len(art.related) == 11
    first = art.related[0]
    assert first.url == (
        "https://www.businessinsider.com/ukraine-using-facial-recognition-tech-to-id-dead-russian-soldiers-2022-3"
    )
    assert first.provider == Provider("Business Insider", "businessinsider.com")
    assert (first.quality, first.published_at) == (89, datetime(2022, 3, 24, 15, 36, tzinfo=UTC))
    assert (
        first.image_url == "https://i.insider.com/623c81dda2e45b00195027e0?width=1200&format=jpeg"
    )
    # the inshorts image url ends with an empty query
    assert art.related[3].image_url == (
        "https://static.inshorts.com/inshorts/images/v1/variants/jpg/m/2022/03_mar/24_thu/"
        "img_1648094486555_42.jpg"
    )
    assert art.related[-1].image_url is None
    assert art.body == "\n"


def test_seed_gizmodo() -> None:
    parsed = parse_article(SEED_GIZMODO.read_bytes())
    art = parsed.article
    assert parsed.warnings == ()
    assert (
        art.title
        == "Clearview AI’s Dystopian Face Rec Tech Now Being Used to Identify Dead Russian Troops"
    )
    assert (
        art.url
        == "https://gizmodo.com/clearview-ai-s-dystopian-face-rec-tech-now-being-used-t-1848697923"
    )
    assert art.published_at == datetime(2022, 3, 24, 20, 25, tzinfo=UTC)
    assert (art.quality, art.heat) == (80, -1)
    assert art.provider == Provider("Gizmodo", "gizmodo.com")
    assert art.topics == ("AI",)
    assert art.image_url == (
        "https://i.kinja-img.com/gawker-media/image/upload/c_scale,f_auto,fl_progressive,pg_1,q_80,w_800/"
        "663e607278f51154150a1b97d9faab6f.jpg"
    )
    assert len(art.related) == 10
    # the no-break space inside the first related url is percent-encoded
    assert art.related[0].url == (
        "https://www.businesswire.com/news/home/20220325005073/en/%C2%A0Clearview-AI-Releases-2.0-Version-of-"
        "Industry-Leading-Facial-Recognition-Platform-for-Law-Enforcement"
    )
    assert art.related[0].provider == Provider("01Net", "01net.it")
    assert art.related[0].quality == 119


# -- YAML loading: the yaml_rs fast path must give exactly what PyYAML gives -----------------------

# Texts on which yaml_rs (YAML 1.2) and PyYAML (YAML 1.1) were found to disagree, or where PyYAML
# raises and yaml_rs does not. The pre-scan must route every one of them to PyYAML.
DISAGREEING = [
    "a: yes", "a: No", "a: on", "a: OFF", "yes: 1", "a: 2022-03-24T21:38:00\n  z",
    "a: 0777", "a: 0o17", "a: 0x1F", "a: 0B11", "a: 0b1", "a: 3e5", "a: 1T", "a: 09",
    "a: 1:20", "a: -1:20", "a: 190:20:30",
    "a: 1_000", "a: _1", "a: 1e3", "a: 1.0e3", "a: 1e400", "a: .Nan", "a: 1:2:3.5",
    "a: 2022-3-4T1:38:00Z", "a: 2022-03-24T21:38Z", "a: 2022-02-30", "a: 0000-01-01",
    "a: 2022-01-01T23:59:60Z", "a: 2022-01-01T10:00:00+24:00", "a: 2022-01-01T10:00:00.Z",
    "a: 2022-03-24T21:38:00  Z", "a: 2022-03-24  21:38:00",
    'a: "2022-03-24"', "a: '2022-03-24T21:38:00Z'", 'a: "12:30:00"', '"2022-03-24": x',
    'a: "\\x32022-03-24"', 'a: "\\\n  2022-03-24"', "- '2022-03-24 21:38:00'",
    "a: !!binary aGVsbG8=", "a: !!omap [x: 1]", "a: !foo x", "a: !!timestamp 2022-01-01",
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2", "c:\n  <<: {x: 1}\n  x: 2", "a: &x 1\nb: *x",
    "a: 1\n---\nb: 2", "a: b\n--- \n", "%YAML 1.1\n---\na: 1",
    "a: =", "a: <<", "[1]: x", "? a\n: 1",
    "a: |1\n  x", "a: >\n  x", "- \u202f: 12:30:00", "a:\u00a0b: 0777", "\u3000: yes",
    "\ta: 1", "a:\t1", "a: x\u2028y", 'a: "x\x85y"', "\ufeffa: 1", "a: x\ry", "a: \x01", "a: \x7f",
]  # fmt: skip


def reference(text: str) -> tuple[str, object]:
    try:
        return "ok", yaml.load(
            text, Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
        )
    except (yaml.YAMLError, ValueError, TypeError) as err:  # what PyYAML raises is the outcome
        return "error", (type(err), str(err))


_FAST: list = []  # the fast-path process of this module (see the fixture below)


@pytest.fixture(scope="module", autouse=True)
def _fast_process():
    with fastyaml.fast_process() as pool:
        _FAST.append(pool)
        yield
        _FAST.clear()


def loaded(text: str, *, fast: bool = True) -> tuple[str, object]:
    """yaml_rs runs only in a spawned process that enabled it, never in this one."""
    if fast:
        return _FAST[0].submit(fastyaml.outcome, text, True).result()
    return fastyaml.outcome(text, False)


def test_the_fast_path_runs_in_its_process_only() -> None:
    assert _FAST[0].submit(fastyaml.enabled).result() is FAST_YAML
    assert not fastyaml.enabled()


def same(a: object, b: object) -> bool:
    """Equal with the same types all the way down (True != 1 here), keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list | tuple):
        items_a = list(a.items()) if isinstance(a, dict) else list(a)
        items_b = list(b.items()) if isinstance(b, dict) else list(b)  # type: ignore[attr-defined]
        return len(items_a) == len(items_b) and all(map(same, items_a, items_b))
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()  # type: ignore[attr-defined]
    return a == b


@pytest.mark.parametrize("text", DISAGREEING)
def test_disagreeing_yaml_goes_to_pyyaml(text: str) -> None:
    assert needs_reference_parser(text)
    assert same(loaded(text), reference(text))


# Texts like the corpus's: the fast path must take them, and give PyYAML's result.
AGREEING = [
    "a: 1\nb: -1\nc: 1.5\nd: true\ne: False\nf: null\ng: ~\nh:\ni: TRUE\n",
    "publishedDateTime: 2022-03-24T21:38:00Z\nd: 2022-03-24\ns: 2022-03-24 21:38:00\n",
    "t: 2022-03-24T23:38:00.123+02:00\nu: 2022-03-24t21:38:00z\nv: 2024-02-28\n",
    'title: "Diablo 4: 10 things about 2020"\nexcerpt: "Season 4: 12:30 start"\n',
    "t: 'it''s 2022-03-24'\nq: \"a \\\"quoted\\\" word \\u00e9\"\n",
    "topics:\n  - Azure\n  - Power Apps\n  - AI\n",
    "provider:\n  name: Y2K Corp\n  domain: y2k.com\nname: Nothing but text\n",
    "a: y\nb: n\nY: N\nname: 01Net\nt: 3D Printing\nc: 5G\n",
    "url: https://example.com/a?b=c&d=e\nn: No Man's Sky\nm: Yes Minister\n",
    'excerpt: "multi\n  line: 5\n\n  para"\nplain: multi\n  line text\n',
    'related:\n  - title: "A"\n    quality: 89\n    images:\n      - url: "https://x.com/a.jpg"\n'
    "        width: 1200\n        isCached: true\n",
    "k: v # comment\n# full line comment\nn: 5 # five\n",
    'crlf: 1\r\nnext: "x"\r\n',
    "",
]


@pytest.mark.parametrize("text", AGREEING)
def test_plain_yaml_takes_the_fast_path(text: str) -> None:
    assert not needs_reference_parser(text)
    assert same(loaded(text), reference(text))
    assert same(loaded(text, fast=False), reference(text))


@pytest.mark.parametrize("seed", [SEED_GUARDIAN, SEED_GIZMODO])
def test_seeds_take_the_fast_path(seed: Path) -> None:
    text = split_front_matter(seed.read_text(encoding="utf-8"))[0]
    assert not needs_reference_parser(text)
    assert same(loaded(text), reference(text))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2",  # duplicate keys: PyYAML keeps the last, yaml_rs refuses
        'a: "x"#c',  # PyYAML accepts, yaml_rs refuses
        "a: [", "a: b: c", "a:\n  - b\n c: d", "a: 'x", "a: @x", "- a\nb: 1",
    ],
)  # fmt: skip
def test_yaml_rs_refusals_and_errors_are_pyyaml_s(text: str) -> None:
    assert same(loaded(text), reference(text))


def test_fast_flag() -> None:
    assert isinstance(FAST_YAML, bool)
    assert same(loaded("a: yes", fast=False), ("ok", {"a": True}))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [\n", 3),
        ("a: 1\nb: c: d\n", 2),
        ("a: 1\nb:\n  - 2022-02-30\n", 3),
        ("a: 1\n\nb: \x01\n", 3),
        ("é: 1\nü: 2\nb: \x01\n", 3),
    ],
)
def test_error_line(text: str, line: int) -> None:
    with pytest.raises((yaml.YAMLError, ValueError)) as caught:
        load_front_matter(text)
    assert error_line(caught.value, text) == line


@pytest.mark.parametrize("levels", [1_200, 14_000])
def test_deep_nesting_is_refused_cleanly(levels: int) -> None:
    """Block nesting deep enough to crash yaml_rs (a segfault past ~10,000 levels) never reaches it:
    newsbot refuses the file with a reason and the process lives. Run in a subprocess so that a
    native crash would show as a return code instead of killing the test run."""
    assert needs_reference_parser("a: 1\n" + "- " * 1_000 + "x\n")
    assert not needs_reference_parser("a: 1\n" + "- " * 10 + "x\n")
    code = (
        "from bot.ingest.parser import ArticleParseError, parse_article\n"
        f"front = {MINIMAL!r} + 'x:\\n' + '- ' * {levels} + 'y\\n'\n"
        "try:\n"
        "    parse_article(('---\\n' + front + '---\\n').encode())\n"
        "    print('parsed')\n"
        "except ArticleParseError as err:\n"
        "    print('refused:', err)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: "), done.stdout
    assert "nest" in done.stdout


@pytest.mark.parametrize(
    "extra",
    [
        "x: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "x: '" + "{" * 10_000 + "'\n",
        "x:\n" + "- " * 5_000 + "y\n",
    ],
    ids=["brackets", "quoted-braces", "dashes"],
)
def test_too_deep_front_matter_is_refused(extra: str) -> None:
    with pytest.raises(ArticleParseError, match="front matter may nest too deeply: 10000 or more"):
        parse(MINIMAL + extra)
