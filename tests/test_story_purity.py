"""Stories never mix events: numbered slots, common-term overlap, links between grown stories.

The cases are small synthetic versions of the mixes found on the shared corpus (issue 10): a
week of distinct Azure announcements that shared only the deployment's common words, cloud
earnings glued to other cloud news by related-list links, and templated titles ("Season 1,
Episode 8 recap") that differ only in a number.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain.stories import DEFAULT_SETTINGS, item_terms
from bot.domain.story_memory import Doc, group
from bot.domain.story_slots import main_slots, slot_conflict, slot_of, slot_terms
from tests.support.stories import T0, background


def at(hours: float) -> object:
    return T0 + timedelta(hours=hours)


def docs_at(titles: list[str], hours: float) -> list[Doc]:
    return [Doc(t, None, T0 + timedelta(hours=hours, minutes=i)) for i, t in enumerate(titles)]


def labels(docs: list[Doc], **kw: object) -> dict[int, int]:
    out = {}
    for k, members in enumerate(group(docs, **kw)):  # type: ignore[arg-type]
        for i in members:
            out[i] = k
    return out


# --- numbered slots -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Vikings Season 1, Episode 8 recap", ["season1", "episod8"]),
        ("Kubernetes 1.19 support in preview", ["kubernet119"]),
        ("COVID-19 and Windows 10", ["covid19", "window10"]),
        ("Sector Update #12: Consumer", ["updat12"]),
        ("Diablo 3 players react to Diablo 4", ["diablo3", "diablo4"]),
        # amounts, percentages, ordinals, thousands, stopwords and hyphen modifiers are no slots
        ("Microsoft posts $35B in revenue, up 15%", []),
        ("Acme cuts 1,000 jobs in the 2nd round", []),
        ("UPDATE 2-GM recall widens, in 2020", []),
        ("", []),
    ],
)
def test_slot_terms(title: str, expected: list[str]) -> None:
    assert slot_terms(title) == expected


def test_slot_terms_are_title_terms_of_the_item() -> None:
    terms = item_terms("Girls Season 3, Episode 4 recap", "episode 5 next week")
    assert terms["episod4"] == DEFAULT_SETTINGS.slot_weight
    assert "episod5" not in terms  # slots are read from the title only
    assert slot_of("episod4") == ("episod", "4") and slot_of("episod") is None
    # a slot that is already a title token ("MH370", "amber0") keeps the token's weight
    assert item_terms("Search for MH370 widens", None)["mh370"] == 1.0


def test_slot_conflict() -> None:
    story = {"season1": 3.0, "episod8": 2.6, "episod7": 0.4, "recap": 3.0}
    assert slot_conflict(["season1", "episod9"], story)  # the story is mostly episode 8
    assert not slot_conflict(["season1", "episod8"], story)
    assert not slot_conflict(["vikings"], story)  # no number given: no evidence against
    assert not slot_conflict(["episod9"], {"recap": 1.0})  # the story never numbers episodes
    spread = {"updat1": 1.0, "updat2": 1.0, "updat3": 1.0}
    assert not slot_conflict(["updat4"], spread)  # no main number, no conflict
    assert not slot_conflict(["ios71"], {"ios7": 2.0})  # a version and its minor version
    assert not slot_conflict(["diablo3", "diablo4"], {"diablo4": 5.0})  # one number fits
    assert main_slots(story) == ["episod8", "season1"]


# --- templated titles -----------------------------------------------------------------------

RECAPS = [
    "Vikings Season 3, Episode {n} recap: Floki's revenge",
    "'Vikings' season 3 episode {n} recap",
    "Vikings recap: Season 3, Episode {n}",
]


def test_template_titles_with_different_episode_numbers_stay_apart() -> None:
    eight = [t.format(n=8) for t in RECAPS]
    nine = [t.format(n=9) for t in RECAPS]
    docs = background() + docs_at(eight, 1) + docs_at(nine, 30)
    g = labels(docs)
    n = len(background())
    assert len({g[n + i] for i in range(3)}) == 1  # one episode's recaps join
    assert len({g[n + 3 + i] for i in range(3)}) == 1
    assert g[n] != g[n + 3]  # episode 9 is another event
    # the rule is what keeps them apart: a settings change that drops the evidence against
    # (every slot counted as compatible) lets the templates merge
    lenient = replace(DEFAULT_SETTINGS, slot_share=2.0)
    g = labels(docs, settings=lenient)
    assert g[n] == g[n + 3]


def test_numbered_paraphrases_still_join() -> None:
    docs = background() + docs_at(
        [
            "Apple releases iOS 7.1 with CarPlay and bug fixes",
            "iOS 7 update brings CarPlay, fixes bugs",  # iOS 7 / 7.1: compatible numbers
            "Vikings season 3 premiere recap",  # no episode number: may join a numbered story
            "Vikings Season 3, Episode 1 recap: the premiere",
        ],
        1,
    )
    g = labels(docs)
    n = len(background())
    assert g[n] == g[n + 1]
    assert g[n + 2] == g[n + 3]


# --- common terms and links -----------------------------------------------------------------

# a deployment that follows a cloud vendor: its name and "cloud" are in many unrelated items
VENDOR = [
    "Microsoft opens cloud region in Qatar",
    "Azure Functions adds Python support",
    "Microsoft Teams passes 75 million daily users",
    "Azure outage hits European customers for hours",
    "Microsoft cloud wins Pentagon JEDI contract",
    "Azure Sentinel brings security analytics to the cloud",
    "Microsoft buys Affirmed Networks for telecom cloud",
    "Azure Quantum opens to developers",
    "Microsoft and Oracle link their cloud data centres",
    "Azure Maps adds weather data",
    "Microsoft Surface sales slip in holiday quarter",
    "Azure Arc extends cloud management to other clouds",
    "Microsoft Edge browser reaches Linux",
    "Azure Sphere guardian module ships",
    "Microsoft Flight Simulator cloud streaming detailed",
    "Azure Digital Twins previews live execution",
]
EARNINGS = [
    "Microsoft earnings beat estimates as cloud revenue jumps",
    "Microsoft quarterly revenue rises on cloud boost",
    "Microsoft reports strong earnings, Azure revenue up 59%",
    "Microsoft profit tops estimates on cloud demand",
    "Microsoft beats quarterly revenue estimates on cloud strength",
]
DEAL = [
    "Zoom picks Oracle to host its video calls",
    "Oracle wins Zoom cloud deal as video calls surge",
    "Zoom taps Oracle as partner for video growth",
    "Oracle lands Zoom as marquee cloud customer",
    "Zoom chooses Oracle cloud to handle surging video calls",
]


def test_a_link_does_not_merge_two_grown_stories() -> None:
    # a related list that links the earnings story to the cloud-deal story (both grown) is
    # evidence about two items, not about two events: the stories stay apart
    docs = [*background(), *docs_at(VENDOR, 0), *docs_at(EARNINGS, 1), *docs_at(DEAL, 2)]
    n = len(background()) + len(VENDOR)
    last = n + len(EARNINGS) + len(DEAL) - 1
    g = labels(docs, links=[(n, last)])
    assert len({g[n + i] for i in range(len(EARNINGS))}) == 1
    assert len({g[n + len(EARNINGS) + i] for i in range(len(DEAL))}) == 1
    assert g[n] != g[last]
