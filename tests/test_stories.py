"""Story grouping (domain): tokenizer, term weights, the engine on seeds and hand-made cases."""

from __future__ import annotations

from datetime import timedelta

import pytest

import bot.domain.text as text_module
from bot.domain.stories import (
    Centroid,
    LeadCandidate,
    StoryEngine,
    StorySettings,
    choose_lead,
    cosine,
    idf,
    item_terms,
    item_tokens,
    item_vector,
    span_ok,
    terms_of,
)
from bot.domain.story_memory import Doc, InMemoryStore, group
from bot.domain.text import index_text, token_set, tokenize
from tests.support.stories import T0, background, seed_docs


def at(hours: float = 0.0):
    return T0 + timedelta(hours=hours)


def docs_at(titles: list[str], hours: float = 1.0) -> list[Doc]:
    return [Doc(t, None, at(hours + i / 60)) for i, t in enumerate(titles)]


def grouped(docs: list[Doc], **kw) -> dict[int, int]:
    """index -> group number."""
    out = {}
    for k, members in enumerate(group(docs, **kw)):
        for i in members:
            out[i] = k
    return out


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (["soldiers", "soldier"], True),
        (["identify", "identifies", "identified", "identifying"], True),
        (["families", "family"], True),
        (["use", "uses", "used", "using"], True),
        (["Ukraine's", "Ukraine’s", "Ukraine"], True),
        (["classes", "class"], True),
        (["stopped", "stop"], True),
        (["access", "accesses"], True),
        (["killer", "killed"], False),
        (["news", "new"], True),  # both stopwords: no token
        (["status", "state"], False),
        # no synonym list any more: different words stay different
        (["troops", "soldiers"], False),
        (["Ukrainian", "Ukraine"], False),
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
        # numbers of two or more digits are kept: they often name the event
        ("Diablo 4 in 2023: v2.0 and 20B images", ["diablo", "2023", "v2", "20b", "imag"]),
        ("5G, M365 and COVID-19 on flight MH370", ["5g", "m365", "covid", "19", "flight", "mh370"]),
        ("Don’t stop O'Brien", ["stop", "obrien"]),
        ("Pokémon Café 🔥🎮 — naïve", ["pokemon", "caf", "naiv"]),
        ("日本語 Ελληνικά", ["日本語", "ελληνικα"]),
        ("a b c 1 22", ["22"]),
    ],
)
def test_tokenize_table(text: str | None, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_token_set_and_index_text() -> None:
    tokens = token_set("Russian troops", "Soldiers were identified")
    assert tokens == frozenset({"russian", "troop", "soldier", "identify"})
    assert index_text("Russian troops", None) == "russian troop"


def test_no_fitted_word_lists_remain() -> None:
    # the generic-word and synonym lists encoded the corpus and the seeds; weights are learned now
    assert not hasattr(text_module, "GENERIC")
    assert not hasattr(text_module, "SYNONYMS")


# --- term weights ---------------------------------------------------------------------------


def test_title_words_weigh_more_than_excerpt_words() -> None:
    terms = item_terms("Quasar engine fires", "The engine test in Nevada")
    assert terms["quasar"] == terms["engin"] == 1.0
    assert terms["nevada"] == StorySettings().excerpt_weight < 1.0


def test_terms_from_tokens_are_item_terms_in_the_same_order() -> None:
    for title, excerpt in [
        ("Vikings Season 3, Episode 9 recap", "Ragnar returns; episode 10 next week"),
        ("Search for MH370 widens", None),
        ("", ""),
    ]:
        tokens = item_tokens(title, excerpt)
        assert list(terms_of(tokens).items()) == list(item_terms(title, excerpt).items())
    assert item_tokens("Season 1, Episode 8", None)[2] == ("season1", "episod8")


def test_idf_is_positive_and_falls_with_story_frequency() -> None:
    assert idf(3, 5) > 0.0  # a window's sums may disagree at its edge: still positive
    assert idf(100, 0) > idf(100, 5) > idf(100, 100) > 0.0
    vec = item_vector({"rare": 1.0, "common": 1.0}, 100, {"common": 80})
    assert vec["rare"] > vec["common"] > 0.0
    assert sum(v * v for v in vec.values()) == pytest.approx(1.0)
    assert item_vector({}, 10, {}) == {}


def test_story_frequencies_are_updated_incrementally_and_by_merges() -> None:
    store = InMemoryStore()
    engine = StoryEngine(store)
    engine.add(1, "Zephyr scooter recall", None, at(0))
    engine.add(2, "Quasar rocket engine test", None, at(0))
    assert store.stories() == 2
    assert store.dfs(["zephyr", "scooter", "quasar", "unknown"]) == {
        "zephyr": 1,
        "scooter": 1,
        "quasar": 1,
    }
    engine.add(3, "Zephyr scooter recall widens", None, at(1))  # joins story 1: df unchanged
    assert store.story_of(3) == store.story_of(1)
    assert store.dfs(["zephyr", "widen"]) == {"zephyr": 1, "widen": 1}
    engine.add(4, "Zephyr scooter makers", None, at(100))  # outside the window: a new story
    assert store.stories() == 3 and store.dfs(["zephyr"]) == {"zephyr": 2}
    store.merge(store.story_of(1), store.story_of(4))  # type: ignore[arg-type]
    assert store.stories() == 2 and store.dfs(["zephyr"]) == {"zephyr": 1}


def test_weights_are_learned_from_the_data() -> None:
    # "azure" in every story of one deployment weighs little there and much in another
    def weight_of_azure(other_stories: list[str]) -> float:
        store = InMemoryStore()
        engine = StoryEngine(store)
        for i, title in enumerate(other_stories):
            store.add(store.new_story(), i, engine.vector(title, None), at(0))
        vec = engine.vector("Azure Quasar cluster", None)
        return vec[tokenize("Azure")[0]] / vec["quasar"]

    azure_feed = [f"Azure {w} now available" for w in ("Arc", "Bicep", "Purview", "Sentinel")]
    elsewhere = [f"{w} story of the day" for w in ("Falcon", "Meadow", "Harbor", "Cobalt")]
    assert weight_of_azure(azure_feed) < 0.5 < weight_of_azure(elsewhere) == pytest.approx(1.0)


# --- centroid grouping ----------------------------------------------------------------------

TITANFALL = [
    "Titanfall launches on Xbox One and PC",
    "Titanfall review: the mech shooter delivers",
    "Titanfall launch day brings server trouble",
    "Respawn's Titanfall finally launches",
    "Titanfall sales and launch reviews",
]
IOS = [
    "Apple releases iOS 7.1 update with CarPlay",
    "iOS 7.1 update: what's new for iPhone",
    "How to install the iOS 7.1 update",
    "Apple iOS 7.1 fixes bugs and speeds up iPhone 4",
    "iOS 7.1 update now available for download",
]


def test_a_hub_headline_does_not_glue_two_events() -> None:
    hub = "Titanfall launches, iOS 7.1 update arrives: the week in tech"
    docs = background() + docs_at(TITANFALL, 1) + docs_at([hub], 2) + docs_at(IOS, 3)
    g = grouped(docs)
    n = len(background())
    titan = {g[n + i] for i in range(len(TITANFALL))}
    ios = {g[n + len(TITANFALL) + 1 + i] for i in range(len(IOS))}
    assert len(titan) == 1 and len(ios) == 1 and titan != ios
    assert g[n + len(TITANFALL)] in titan | ios  # the hub joins one of them, not both


def test_a_drifting_chain_does_not_merge_its_ends() -> None:
    # each headline shares words with the next; single link would make one story of all
    chain = [
        "Zephyr scooter battery fires prompt recall",
        "Zephyr scooter recall widens to Europe",
        "Europe regulators widen probe of battery makers",
        "Battery makers shares fall as regulators probe",
        "Shares fall across Asia on weak exports",
        "Weak exports from China hit copper price",
    ]
    g = grouped(background() + docs_at(chain))
    n = len(background())
    assert g[n] != g[n + len(chain) - 1]
    assert g[n] != g[n + 4]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "Titanfall Launches And Xbox Live Comes Crashing Down",
            "Titanfall Xbox Live Connection Issues",
        ),
        (
            "Sbarro files for bankruptcy protection, again",
            "Mall pizza chain Sbarro's Chapter 11 bankruptcy",
        ),
        (
            "GM hires Lehman Brothers investigator to probe recall",
            "GM recall probe led by Lehman investigator",
        ),
    ],
)
def test_paraphrases_join(first: str, second: str) -> None:
    docs = background() + docs_at([first, second], 5)
    g = grouped(docs)
    n = len(background())
    assert g[n] == g[n + 1]


def test_grouping_is_deterministic_and_incremental() -> None:
    docs = background() + docs_at(TITANFALL + IOS, 1)
    assert group(docs) == group(list(docs))
    # the same stream fed in two engines at once or one after another gives the same stories
    store = InMemoryStore()
    engine = StoryEngine(store)
    for i, d in enumerate(docs):
        engine.add(i, d.title, d.excerpt, d.published_at)
    assert store.groups() == group(docs)


def test_time_window_and_span_guard() -> None:
    title = "Contoso recalls Zephyr scooters after battery fires"
    base = [Doc(title, None, at(0)), Doc(title, None, at(70))]
    assert grouped(background() + base)[30] == grouped(background() + base)[31]
    far = [Doc(title, None, at(0)), Doc(title, None, at(80))]  # more than 3 days apart
    g = grouped(background() + far)
    assert g[30] != g[31]
    daily = [Doc(title, None, at(24 * d)) for d in range(12)]  # a daily chain of 12 days
    spans = {}
    for i, k in grouped(daily).items():
        spans.setdefault(k, []).append(daily[i].published_at)
    assert len(spans) > 1
    assert all(max(s) - min(s) <= timedelta(days=7) for s in spans.values())
    assert span_ok(None, None, at(0), at(1))
    assert not span_ok(at(0), at(1), at(200), at(200))
    assert span_ok(at(0), at(1), at(200), at(200), StorySettings(max_span=None))


def test_links_lower_the_bar_but_do_not_merge_on_their_own() -> None:
    article = Doc("Fabrikam buys Northwind Traders", "Fabrikam agreed to buy Northwind", at(1))
    weak = Doc("Northwind deal lifts logistics shares across the sector", None, at(2))
    unrelated = Doc("Contoso opens a bakery in Lisbon", None, at(2))
    n = len(background())
    docs = [*background(), article, weak, unrelated]
    unlinked = grouped(docs)
    linked = grouped(docs, links=[(n, n + 1), (n, n + 2)])
    assert unlinked[n] != unlinked[n + 1]
    assert linked[n] == linked[n + 1]  # the link lowers the bar
    assert linked[n] != linked[n + 2]  # but a link alone never joins


def test_cosine_and_empty_inputs() -> None:
    a = Centroid({"x": 1.0}, 1.0, 1)
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, Centroid()) == 0.0
    assert group([]) == []
    assert group([Doc("", None, None), Doc("🔥", None, None)]) == [[0], [1]]
    with pytest.raises(IndexError):
        group([Doc("a", None, None)], links=[(0, 3)])


# --- the seeds ------------------------------------------------------------------------------


def test_seed_story_holds() -> None:
    docs, links, heads = seed_docs()
    groups = group(docs, links)
    story = next(g for g in groups if heads["guardian"] in g)
    assert heads["gizmodo"] in story
    titles = [docs[i].title for i in story]
    assert any(t.startswith("Ukraine using Clearview AI") for t in titles)  # The Telegraph
    assert any(t.startswith("Clearview AI facial recognition being used") for t in titles)
    assert any(t.startswith("Face recognition tech joins Ukraine war") for t in titles)  # AFP
    for unwanted in ("SparkCognition", "Revnomix", "Clearview AI Releases 2.0", "Clearview AI unv"):
        assert not any(t.startswith(unwanted) for t in titles), unwanted


# --- lead -----------------------------------------------------------------------------------


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
