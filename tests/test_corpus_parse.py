"""The whole real corpus (../shared/corpus): every file parses, and the yaml_rs fast path gives
exactly PyYAML's objects for every file. Skipped when the corpus is absent."""

from __future__ import annotations

import math
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.models import ParsedArticle
from bot.ingest.parser import ArticleParseError, parse_article, split_front_matter
from bot.ingest.urls import canonical_url
from bot.ingest.yamlload import (
    FAST_YAML,
    enable_fast_path,
    fast_path_enabled,
    load_front_matter,
    needs_reference_parser,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent"),
]


def corpus_paths() -> list[Path]:
    return sorted(Path(root) / name for root, _, names in os.walk(CORPUS) for name in names)


def front_matter(data: bytes) -> str:
    text = data.decode("utf-8").removeprefix("\ufeff")
    return split_front_matter(text.replace("\r\n", "\n"))[0]


def same(a: object, b: object) -> bool:
    """Equal, of the same types all the way down, dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(
            same(k1, k2) and same(a[k1], b[k2]) for k1, k2 in zip(a, b, strict=True)
        )
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    if isinstance(a, datetime):
        assert isinstance(b, datetime)
        return a == b and a.utcoffset() == b.utcoffset()
    return a == b


def compare_files(paths: list[str]) -> tuple[list[str], int]:
    """(files where the fast path differs from PyYAML, files routed to PyYAML). Pool worker."""
    differ: list[str] = []
    routed = 0
    for path in paths:
        text = front_matter(Path(path).read_bytes())
        routed += needs_reference_parser(text)
        if not same(load_front_matter(text), load_front_matter(text, fast=False)):
            differ.append(path)
    return differ, routed


# What test_self_references_and_repeats_were_dropped reads of a file's raw YAML: its own
# canonical url, the canonical urls its ``related`` entries give, whether its topics hold a null.
RawFacts = tuple[str, list[str], bool]


def parse_files(
    paths: list[str],
) -> tuple[dict[str, ParsedArticle], dict[str, RawFacts], list[str]]:
    """Pool worker: parse each file as the bot's parser processes do (fast path enabled, which
    ``test_fast_path_equals_pyyaml_on_every_file`` holds equal to PyYAML on every file), and read
    the facts of its raw YAML; (parsed, raw facts, errors)."""
    results: dict[str, ParsedArticle] = {}
    facts: dict[str, RawFacts] = {}
    errors: list[str] = []
    for path in map(Path, paths):
        name = str(path.relative_to(CORPUS))
        data = path.read_bytes()
        try:
            results[name] = parse_article(data)
        except ArticleParseError as err:
            errors.append(f"{path}: {err}")
            continue
        raw = load_front_matter(front_matter(data))
        urls = [
            canonical_url(url)
            for item in raw.get("related") or []
            if (url := item.get("webUrl") or item.get("originalUrl"))
        ]
        own = canonical_url(raw.get("webUrl") or raw["originalUrl"])
        facts[name] = (own, urls, None in (raw.get("topics") or []))
    return results, facts, errors


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, ParsedArticle], dict[str, RawFacts]]:
    paths = [str(path) for path in corpus_paths()]
    with ProcessPoolExecutor(max_workers=2, initializer=enable_fast_path) as pool:
        outcomes = list(pool.map(parse_files, [paths[i::2] for i in range(2)]))
    results = {name: p for found, _, _ in outcomes for name, p in found.items()}
    facts = {name: f for _, found, _ in outcomes for name, f in found.items()}
    assert [e for _, _, errors in outcomes for e in errors] == []
    return dict(sorted(results.items())), facts


@pytest.fixture(scope="module")
def parsed(
    corpus: tuple[dict[str, ParsedArticle], dict[str, RawFacts]],
) -> dict[str, ParsedArticle]:
    return corpus[0]


def test_every_file_parses(parsed: dict[str, ParsedArticle]) -> None:
    assert len(parsed) == 5516
    folders = Counter(name.split("/", 1)[0] for name in parsed)
    assert folders == {
        "azure": 3039,
        "diablo4": 1611,
        "powerapps": 674,
        "microsoft-power-apps": 192,
    }


def test_counts(parsed: dict[str, ParsedArticle]) -> None:
    articles = [p.article for p in parsed.values()]
    assert Counter(a.type for a in articles) == {"article": 5329, "video": 187}
    assert sum(a.removed for a in articles) == 1
    assert sum(a.quality is None for a in articles) == 111
    assert max(a.quality or 0 for a in articles) == 189
    assert max(a.heat or 0 for a in articles) == 2837
    assert all(a.published_at.tzinfo is UTC for a in articles)
    assert sum(len(a.related) for a in articles) == 99258
    assert max(len(a.related) for a in articles) <= 179
    # video entries carry only originalUrl, which became their url
    assert all(a.url.startswith("https://youtube.com/") for a in articles if a.type == "video")
    # the only warnings: related videos whose webUrl is empty and which have no originalUrl
    warnings = Counter(w.split(": ", 1)[1] for p in parsed.values() for w in p.warnings)
    assert warnings == {"dropped: missing url": 277}


def test_related_lists_are_clean(parsed: dict[str, ParsedArticle]) -> None:
    for name, result in parsed.items():
        article = result.article
        urls = [item.url for item in article.related]
        assert len(urls) == len(set(urls)), name
        assert article.url not in urls, name
        assert all(item.title for item in article.related), name


def test_self_references_and_repeats_were_dropped(
    corpus: tuple[dict[str, ParsedArticle], dict[str, RawFacts]],
) -> None:
    """Counted on the raw YAML: files listing themselves or repeating a url in ``related``."""
    parsed, facts = corpus
    self_listed = repeating = nulls_in_topics = 0
    for name, result in parsed.items():
        own, urls, null_topic = facts[name]
        self_listed += own in urls
        repeating += len(set(urls) - {own}) < len([u for u in urls if u != own])
        nulls_in_topics += null_topic
        kept = result.article.related
        assert len(kept) == len(set(urls) - {own}), name
    assert self_listed > 0 and repeating > 0 and nulls_in_topics > 0
    assert (self_listed, repeating, nulls_in_topics) == (15, 234, 7)


def test_unusual_urls_are_percent_encoded(parsed: dict[str, ParsedArticle]) -> None:
    for result in parsed.values():
        for url in [result.article.url, *(item.url for item in result.article.related)]:
            assert url.isascii() and " " not in url, url
            assert canonical_url(url) == url


@pytest.mark.skipif(not FAST_YAML, reason="yaml_rs is not installed")
def test_fast_path_equals_pyyaml_on_every_file() -> None:
    paths = [str(path) for path in corpus_paths()]
    chunks = [paths[i::2] for i in range(2)]
    # the fast path runs only in processes that enabled it (as the bot's parser processes do)
    with ProcessPoolExecutor(max_workers=2, initializer=enable_fast_path) as pool:
        assert pool.submit(fast_path_enabled).result()
        outcomes = list(pool.map(compare_files, chunks))
    differ = [path for found, _ in outcomes for path in found]
    routed = sum(count for _, count in outcomes)
    assert differ == []
    # the pre-scan sends only a handful of files to PyYAML (e.g. the provider "9to5Toys")
    assert routed <= len(paths) // 100


def test_corpus_dates_are_yaml_timestamps() -> None:
    """The corpus gives publishedDateTime as bare timestamps: YAML builds aware datetimes."""
    for path in corpus_paths()[::50]:
        raw = load_front_matter(front_matter(path.read_bytes()))
        value = raw["publishedDateTime"]
        assert isinstance(value, datetime)
        assert value.utcoffset() is not None
