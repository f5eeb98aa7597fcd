"""Story grouping: tokenizer, similarity, same_story on the seeds and on hand-made cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.stories import (
    LeadCandidate,
    StoryDoc,
    StorySettings,
    choose_lead,
    group,
    query_tokens,
    same_story,
    similarity,
    span_ok,
)
from bot.domain.text import GENERIC, index_text, token_set, tokenize

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
GUARDIAN = SEEDS / "000_a48850ed1a28f255.txt"
GIZMODO = SEEDS / "003_acf1efbf43e3826f.txt"

T0 = datetime(2022, 3, 24, 12, 0, tzinfo=UTC)


def at(hours: float = 0.0) -> datetime:
    return T0 + timedelta(hours=hours)


def doc(title: str, excerpt: str | None = None, hours: float | None = 0.0) -> StoryDoc:
    return StoryDoc.of(title, excerpt, None if hours is None else at(hours))


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (["soldiers", "soldier"], True),
        (["identify", "identifies", "identified", "identifying"], True),
        (["families", "family"], True),
        (["use", "uses", "used", "using"], True),
        (["Ukraine's", "Ukraine’s", "Ukraine"], True),
        (["troops", "soldiers"], True),
        (["facial", "face"], True),
        (["killed", "dead", "died", "deaths"], True),
        (["tech", "technology", "technologies"], True),
        (["Ukrainian", "Ukraine"], True),
        (["acquires", "acquired", "acquisition"], True),
        (["classes", "class"], True),
        (["stopped", "stop"], True),
        (["access", "accesses"], True),
        (["killer", "killed"], False),
        (["news", "new"], True),  # both stopwords: no token
        (["status", "state"], False),
    ],
)
def test_tokenize_folds_inflections(words: list[str], same: bool) -> None:
    folded = {tuple(tokenize(w)) for w in words}
    assert (len(folded) == 1) is same


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        (None, []),
        ("The minister said it was via the new app", ["minister", "ap"]),
        ("Diablo 4 in 2023: v2.0 and 20B images", ["diablo", "v2", "20b", "imag"]),
        ("5G, M365 and COVID-19", ["5g", "m365", "covid"]),
        ("Don’t stop O'Brien", ["stop", "obrien"]),
        ("Pokémon Café 🔥🎮 — naïve", ["pokemon", "caf", "naiv"]),
        ("日本語 Ελληνικά", ["日本語", "ελληνικα"]),
        ("a b c 1 22", []),
    ],
)
def test_tokenize_table(text: str | None, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_token_set_and_index_text() -> None:
    tokens = token_set("Russian troops", "Soldiers were identified")
    assert tokens == frozenset({"russia", "soldier", "identify"})
    assert token_set("Russian troops", None) == frozenset({"russia", "soldier"})
    assert index_text("Russian troops", "Soldiers were identified") == "identify russia soldier"


def test_generic_words_are_folded_tokens() -> None:
    for word in ("Azure", "Microsoft", "announces", "update", "Diablo", "available"):
        (token,) = tokenize(word)
        assert token in GENERIC


# --- seeds ----------------------------------------------------------------------------------


def load_seed(path: Path) -> dict[str, Any]:
    lines = path.read_text(encoding="utf-8").splitlines()
    end = lines.index("---", 1)
    data = yaml.safe_load("\n".join(lines[1:end]))
    assert isinstance(data, dict)
    return data


def seed_doc(entry: dict[str, Any]) -> StoryDoc:
    published = entry.get("publishedDateTime")
    if isinstance(published, str):
        published = datetime.fromisoformat(published.replace("Z", "+00:00"))
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return StoryDoc.of(entry["title"], entry.get("excerpt"), published)


@pytest.fixture(scope="module")
def guardian() -> dict[str, Any]:
    return load_seed(GUARDIAN)


@pytest.fixture(scope="module")
def gizmodo() -> dict[str, Any]:
    return load_seed(GIZMODO)


def related(seed: dict[str, Any], title_start: str) -> list[StoryDoc]:
    found = [seed_doc(r) for r in seed["related"] if r["title"].startswith(title_start)]
    assert found, title_start
    return found


def test_seed_articles_are_the_same_story(
    guardian: dict[str, Any], gizmodo: dict[str, Any]
) -> None:
    g, z = seed_doc(guardian), seed_doc(gizmodo)
    assert same_story(g, z, linked=False)
    assert same_story(z, g, linked=False)
    assert similarity(g, z) == pytest.approx(0.59, abs=0.01)


@pytest.mark.parametrize(
    ("title_start", "joins"),
    [
        ("Ukraine using Clearview AI facial recognition", True),  # The Telegraph
        ("Clearview AI facial recognition being used to deliver news", True),  # Biometric Update
        ("SparkCognition", False),
        ("Revnomix Solutions launches", False),
        ("Clearview AI Releases 2.0 Version", False),  # a product launch, another event
        ("Clearview AI unveils version 2.0", False),
        ("‘Don’t stop at one search’", False),
        ("Clearview facial recognition app up to 20B images", False),
    ],
)
def test_gizmodo_related(gizmodo: dict[str, Any], title_start: str, joins: bool) -> None:
    z = seed_doc(gizmodo)
    for item in related(gizmodo, title_start):
        assert same_story(z, item, linked=True) is joins


@pytest.mark.parametrize(
    "title_start",
    [
        "Ukraine is using facial recognition tech",  # Business Insider
        "Ukraine uses facial recognition to identify dead Russian soldiers, minister",  # Reuters
        "Ukraine army starts using facial recognition",  # GizChina
        "Ukraine uses facial recognition to identify dead Russian soldiers & inform",  # Inshorts
        "Russia-Ukraine War: Kyiv Uses Facial Recognition",  # RepublicWorld
        "Ukraine uses facial recognition to identify dead Russian soldiers",  # techstory
        "Complex Questions As Face Recognition Tech Joins Ukraine War",  # IBTimes (AFP)
        "Face recognition tech joins Ukraine war",  # Bangkok Post (AFP)
        "The Download: Ukraine claims",  # MIT Technology Review
    ],
)
def test_guardian_related_reports_join(guardian: dict[str, Any], title_start: str) -> None:
    g = seed_doc(guardian)
    for item in related(guardian, title_start):
        assert same_story(g, item, linked=True)


def test_seed_batch_grouping(guardian: dict[str, Any], gizmodo: dict[str, Any]) -> None:
    docs: list[StoryDoc] = []
    links: list[tuple[int, int]] = []
    for seed in (guardian, gizmodo):
        head = len(docs)
        docs.append(seed_doc(seed))
        for item in seed["related"]:
            links.append((head, len(docs)))
            docs.append(seed_doc(item))
    groups = group(docs, links)
    story = next(g for g in groups if 0 in g)
    titles = {docs[i].title for i in story}
    gizmodo_index = 1 + len(guardian["related"])
    assert gizmodo_index in story
    assert any(t.startswith("Ukraine using Clearview AI") for t in titles)
    assert any(t.startswith("Clearview AI facial recognition being used") for t in titles)
    for unwanted in ("SparkCognition", "Revnomix", "Clearview AI Releases 2.0", "Clearview AI unv"):
        assert not any(t.startswith(unwanted) for t in titles), unwanted


# --- hand-made cases ------------------------------------------------------------------------


def test_chain_groups_transitively() -> None:
    a = doc("Contoso unveils Quasar rocket engine", "Quasar engine test fire in Nevada desert")
    b = doc("Quasar rocket engine test fire succeeds", "Contoso engineers fired the Quasar engine")
    c = doc("Engineers celebrate successful engine test fire", "Nevada desert test fire succeeds")
    assert same_story(a, b, linked=False)
    assert same_story(b, c, linked=False)
    assert not same_story(a, c, linked=False)
    assert group([a, b, c], []) == [[0, 1, 2]]


def test_bridging_doc_merges_two_stories() -> None:
    left = [
        doc("Fabrikam recalls Zephyr scooters", "Battery fires prompt Zephyr scooter recall"),
        doc("Zephyr scooter recall after battery fires", "Fabrikam recalls Zephyr scooters"),
    ]
    right = [
        doc("Regulator opens probe into Fabrikam batteries", "Safety regulator probe opens"),
        doc("Safety regulator probe into Fabrikam batteries", "Regulator opens battery probe"),
    ]
    bridge = doc(
        "Fabrikam Zephyr recall: safety regulator opens battery probe",
        "Regulator probe follows Zephyr scooter recall after battery fires",
    )
    assert group([*left, *right], []) == [[0, 1], [2, 3]]
    assert group([*left, *right, bridge], []) == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Azure SQL Database is now generally available", "Azure Kubernetes Service now available"),
        ("Microsoft announces Azure update for Windows", "Microsoft Windows update for Azure"),
        ("Diablo 4 beta: best class guide", "Diablo 4 beta trailer and gameplay"),
        # Possibly the same event, but nothing distinctive: generic words alone never join.
        ("Blizzard reveals Diablo IV release date", "Diablo 4 release date revealed by Blizzard"),
    ],
)
def test_unrelated_items_sharing_generic_words(a: str, b: str) -> None:
    assert not same_story(doc(a), doc(b), linked=False)
    assert not same_story(doc(a), doc(b), linked=True)


def test_unlinked_pair_needs_two_distinctive_tokens() -> None:
    a = doc("Azure Databricks now available in Switzerland North")
    b = doc("Azure Automation now available in Switzerland North region")
    assert not same_story(a, b, linked=False)  # only "switzerland" is distinctive


def test_no_mega_story_from_generic_words() -> None:
    products = [
        "Sentinel",
        "Arc",
        "Purview",
        "Bicep",
        "Orbital",
        "Percept",
        "Stack HCI",
        "Lighthouse",
    ]
    docs = [
        doc(f"Microsoft announces Azure {p} update", f"Microsoft Azure {p} update now available", i)
        for i, p in enumerate(products)
    ]
    links = [(0, i) for i in range(1, len(docs))]
    assert group(docs, links) == [[i] for i in range(len(docs))]


def test_generic_only_items_never_join() -> None:
    a = doc("Microsoft Azure update", "Microsoft announces Azure update")
    assert not same_story(a, a, linked=True)
    assert query_tokens(a) == []


def test_time_window() -> None:
    title, excerpt = "Contoso recalls Zephyr scooters", "Battery fires prompt the recall"
    base = doc(title, excerpt, hours=0)
    assert same_story(base, doc(title, excerpt, hours=72), linked=False)
    assert not same_story(base, doc(title, excerpt, hours=73), linked=False)
    assert not same_story(base, doc(title, excerpt, hours=-73), linked=True)
    assert same_story(base, doc(title, excerpt, hours=None), linked=False)
    wide = StorySettings(window=timedelta(days=5))
    assert same_story(base, doc(title, excerpt, hours=100), linked=False, settings=wide)


FABRIKAM = doc(
    "Fabrikam buys Northwind Traders for $2bn", "Fabrikam agreed to buy Northwind Traders"
)
FABRIKAM_SHARES = doc(
    "Northwind deal: Fabrikam shares rise",
    "Investors cheered the Northwind acquisition by Fabrikam; logistics shares rose",
)


def test_linked_bar_is_lower_than_unlinked() -> None:
    a, b = FABRIKAM, FABRIKAM_SHARES
    sim = similarity(a, b)
    settings = StorySettings()
    assert settings.linked_threshold <= sim < settings.unlinked_threshold
    assert same_story(a, b, linked=True)
    assert not same_story(a, b, linked=False)


def test_empty_excerpts_and_titles() -> None:
    a = doc("Contoso recalls Zephyr scooters", None)
    b = doc("Zephyr scooters recalled by Contoso", "")
    assert a.tokens == a.title_tokens
    assert same_story(a, b, linked=False)
    empty = doc("", None)
    assert similarity(empty, a) == 0.0
    assert not same_story(empty, empty, linked=True)


def test_unicode_and_emoji_titles() -> None:
    a = doc("🔥 Pokémon Légendes Arceus dévoile son extension", "Pokémon Légendes: l’extension")
    b = doc("Pokemon Legendes Arceus extension devoilee 🎮", "Nouvelle extension Pokemon Legendes")
    assert same_story(a, b, linked=False)
    assert not same_story(a, doc("😀😀😀", None), linked=True)


def test_similarity_properties() -> None:
    a = doc("Contoso recalls Zephyr scooters", "Battery fires prompt the recall")
    b = doc("Zephyr scooter recall widens", "More Contoso models are recalled")
    assert similarity(a, b) == similarity(b, a)
    assert 0.0 <= similarity(a, b) <= 1.0
    assert similarity(a, a) == pytest.approx(1.0)


def test_weight_function_replaces_generic_rule() -> None:
    a = doc("Microsoft Azure Quantum preview")
    b = doc("Azure Quantum opens for preview")
    assert similarity(a, b, weight=lambda t: 1.0) == pytest.approx(0.75)
    assert similarity(a, b) < 0.75  # generic words count a quarter by default
    only_quantum = similarity(a, b, weight=lambda t: 1.0 if t == "quantum" else 0.0)
    assert only_quantum == pytest.approx(1 / 3)  # one shared unit over the floor of 3


def test_span_guard_stops_daily_chains() -> None:
    days = [
        doc("Contoso Zephyr recall widens", "Zephyr scooter recall widens to Europe", 0),
        doc("Contoso Zephyr recall widens again", "Zephyr scooter recall widens to Asia", 60),
        doc(
            "Contoso Zephyr recall widens once more", "Zephyr scooter recall widens to Africa", 120
        ),
        doc("Contoso Zephyr recall widens further", "Zephyr scooter recall widens to America", 180),
    ]
    assert group(days, []) == [[0, 1, 2], [3]]
    assert group(days, [], StorySettings(max_span=None)) == [[0, 1, 2, 3]]
    assert span_ok(at(0), at(24), at(100), at(168))
    assert not span_ok(at(0), at(24), at(100), at(169))
    assert span_ok(None, None, at(0), at(24))
    assert not span_ok(at(0), None, None, at(200))
    assert span_ok(at(0), at(1000), at(0), at(1000), StorySettings(max_span=None))


def test_group_links_and_errors() -> None:
    a, b = FABRIKAM, FABRIKAM_SHARES
    c = doc("Unrelated weather news", "Rain expected tomorrow in Lisbon")
    assert group([a, b, c], []) == [[0], [1], [2]]
    assert group([a, b, c], [(1, 0), (0, 0)]) == [[0, 1], [2]]
    assert group([], []) == []
    with pytest.raises(IndexError):
        group([a], [(0, 1)])


def test_query_tokens() -> None:
    d = doc(
        "Microsoft acquires Metaswitch Networks",
        "The telecommunications software company joins Azure",
    )
    tokens = query_tokens(d, k=8)
    assert tokens[:2] == ["metaswitch", "acquir"]
    assert "telecommunication" in tokens
    assert not set(tokens) & GENERIC
    assert query_tokens(d, k=1) == ["metaswitch"]
    assert query_tokens(d, k=0) == []
    by_weight = query_tokens(d, k=2, weight=lambda t: {"telecommunication": 5.0}.get(t, 1.0))
    assert by_weight == ["acquir", "metaswitch"]


@pytest.mark.parametrize(
    ("title", "paraphrase"),
    [
        ("Ukraine identified Russian soldiers", "Ukrainian army identifies soldiers"),
        ("Families of the soldiers were told", "A soldier's family"),
        ("Microsoft acquires Metaswitch", "Microsoft acquired Metaswitch Networks"),
    ],
)
def test_query_terms_are_prefixes_of_raw_words(title: str, paraphrase: str) -> None:
    # Storage queries FTS5 over the raw title with "term"* prefixes: every term must be a
    # prefix of a raw word of the doc itself and find the paraphrase's spelling too.
    words = {w.lower() for w in re.findall(r"\w+", title)}
    other = {w.lower() for w in re.findall(r"\w+", paraphrase)}
    terms = query_tokens(doc(title))
    assert terms
    for term in terms:
        assert any(w.startswith(term) for w in words), term
    assert any(w.startswith(term) for term in terms for w in other)
    index_words = index_text(title, None).split()
    assert all(any(w.startswith(term) for w in index_words) for term in terms)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([(False, 150, 0), (True, 10, 5)], 1),  # a file beats a better related-only item
        ([(True, 50, 0), (True, 80, 5)], 1),  # then higher quality
        ([(True, None, 0), (True, 0, 5)], 1),  # unknown quality counts lowest
        ([(True, 80, 5), (True, 80, 1)], 1),  # then the earlier published
        ([(True, 80, None), (True, 80, 9)], 1),  # unknown dates last
        ([(False, 60, 2), (False, 60, 2)], 0),  # then the lower index
        ([(False, None, None)], 0),
    ],
)
def test_choose_lead(candidates: list[tuple[bool, int | None, int | None]], expected: int) -> None:
    leads = [
        LeadCandidate(file_backed=f, quality=q, published_at=None if h is None else at(h))
        for f, q, h in candidates
    ]
    assert choose_lead(leads) == expected


def test_choose_lead_needs_candidates() -> None:
    with pytest.raises(ValueError, match="at least one"):
        choose_lead([])
