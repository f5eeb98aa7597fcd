"""Full-text search and title autocomplete behave alike on SQLite (FTS5) and PostgreSQL
(tsvector): accents folded, title words outranking excerpt words, any user text safe."""

from __future__ import annotations

import pytest

from bot.storage import search as search_db
from bot.storage.db import open_database
from tests.factories import write_article
from tests.support.storage import ingest

HOSTILE = [
    "'",
    '"',
    "\\",
    "\\'",
    "a & b | !c",
    "(x) :* y",
    "x:*",
    "!!!",
    "''; SELECT 1; --",
    "🙂🙂",
    "rocket🚀launch",
    "",
    "   ",
    "%",
    "_",
    "?",
    "$1",
    "<->",
    "a" * 3000,
    "\x00rocket",
]


@pytest.fixture
async def db(tmp_path, db_target):
    src = tmp_path / "src"
    write_article(src, "a.md", "Café owners protest rent rises", "https://a.example/1",
                  excerpt="Small businesses in Zürich say rents doubled.")  # fmt: skip
    write_article(src, "b.md", "Markets close higher", "https://b.example/1",
                  excerpt="A rocket maker's shares led the rally.", quality=90)  # fmt: skip
    write_article(src, "c.md", "Rocket launch delayed by weather", "https://c.example/1",
                  excerpt="The launch moves to Friday.", quality=40)  # fmt: skip
    write_article(src, "d.md", "Rocketry club wins prize", "https://d.example/1",
                  excerpt="Students built it.")  # fmt: skip
    report = await ingest(db_target, src)
    assert report.rejected == []
    async with open_database(db_target) as opened:
        yield opened


def _urls(found):
    return [item.url for item, _ in found]


async def _search(db, text):
    return await db.read(
        lambda conn: search_db.search(conn, text, quality_weight=0.5, limit=5, offset=0)
    )


async def test_accents_fold_both_ways(db):
    for text in ("cafe", "CAFÉ", "zurich", "Zürich"):
        found = await _search(db, text)
        assert _urls(found) == ["https://a.example/1"], text


async def test_title_matches_outrank_excerpt_matches_and_all_words_must_match(db):
    found = await _search(db, "rocket")
    assert _urls(found) == ["https://c.example/1", "https://b.example/1"]  # not "Rocketry"
    assert found[0][1] > found[1][1] > 0
    both = await _search(db, "rocket friday")
    assert _urls(both) == ["https://c.example/1"]
    anyword = await _search(db, "rocket zzzz")
    assert set(_urls(anyword)) == {"https://b.example/1", "https://c.example/1"}


@pytest.mark.parametrize("text", HOSTILE)
async def test_any_text_is_safe(db, text):
    found = await _search(db, text)
    assert all(item.url.startswith("https://") for item, _ in found)
    titles = await db.read(search_db.title_matches, text, 25)
    assert all(isinstance(t, str) for _, t in titles)
    if "rocket" in text:
        assert "https://c.example/1" in _urls(found)


async def test_autocomplete_prefix_then_title_words(db):
    titles = [t for _, t in await db.read(search_db.title_matches, "ROCK", 25)]
    assert titles[:2] == ["Rocket launch delayed by weather", "Rocketry club wins prize"]
    words = [t for _, t in await db.read(search_db.title_matches, "laun", 25)]
    assert words == ["Rocket launch delayed by weather"]  # a title word, not the excerpt's
    assert [t for _, t in await db.read(search_db.title_matches, "caf", 25)] == [
        "Café owners protest rent rises"
    ]
    assert len(await db.read(search_db.title_matches, "", 25)) == 4
