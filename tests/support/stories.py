"""Helpers for the story grouping tests: the shipped seeds as grouping input, background news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.domain.story_memory import Doc

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
GUARDIAN = SEEDS / "000_a48850ed1a28f255.txt"
GIZMODO = SEEDS / "003_acf1efbf43e3826f.txt"

T0 = datetime(2014, 3, 10, 12, 0, tzinfo=UTC)

# Unrelated headlines of one news day (different events, ordinary vocabulary), so that the term
# weights of a test have something to be learned from, as in any real database.
BACKGROUND = [
    "Sbarro files for bankruptcy protection again",
    "Chiquita agrees to buy Irish rival Fyffes to create banana giant",
    "Copper slumps to nine-month low on weak Chinese exports",
    "GM hires investigator to probe ignition switch recall",
    "Malaysia Airlines jet search widens as families wait",
    "Elephants can tell human voices apart, study finds",
    "McDonald's February sales slip in the United States",
    "Carl Icahn and eBay trade punches over board nominees",
    "Metro-North worker struck and killed by train in Harlem",
    "ECB signals rates stay low as euro strengthens",
    "American Airlines and JetBlue end ticketing partnership",
    "Herbalife outspends Ackman in lobbying battle",
    "Honda makes Acura a stand-alone division",
    "Jacksonville Jaguars to install world's largest video displays",
    "Genghis Khan's conquests aided by wet and warm weather",
    "Orion's death stars blast planets before they form",
    "SEC asks municipal bond sellers to report violations",
    "Fed's Plosser says tapering pace could accelerate",
    "Cosmos reboot with Neil deGrasse Tyson draws big audience",
    "Americans ride public transit in record numbers",
    "Samsung Galaxy S5 gets speed-reading app Spritz",
    "Google announces Android SDK for wearables at SXSW",
    "Mt. Gox bitcoin exchange files for bankruptcy in the US",
    "Apple releases iOS 7.1 with CarPlay support",
    "Bull market turns five despite many obstacles",
    "Japan says bitcoin is not a currency but taxable",
    "Pershing Square issues statement on Herbalife",
    "Stocks slip on disappointing news from Asia",
    "Ukraine crisis rattles Europe's fragile recovery",
    "iPhone 6 concept shows larger display",
]


def background(start: int = 0, hours: float = 0.0) -> list[Doc]:
    return [Doc(t, None, T0 + timedelta(hours=hours, minutes=i)) for i, t in enumerate(BACKGROUND)][
        start:
    ]


def load_seed(path: Path) -> dict[str, Any]:
    lines = path.read_text(encoding="utf-8").splitlines()
    end = lines.index("---", 1)
    data = yaml.safe_load("\n".join(lines[1:end]))
    assert isinstance(data, dict)
    return data


def seed_doc(entry: dict[str, Any]) -> Doc:
    published = entry.get("publishedDateTime")
    if isinstance(published, str):
        published = datetime.fromisoformat(published.replace("Z", "+00:00"))
    if isinstance(published, datetime) and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return Doc(entry["title"], entry.get("excerpt"), published)


def seed_docs() -> tuple[list[Doc], list[tuple[int, int]], dict[str, int]]:
    """Both seeds with their related lists, as ingest groups them (article, then its list);
    the links; and the index of each seed article by name."""
    docs: list[Doc] = []
    links: list[tuple[int, int]] = []
    heads = {}
    for name, path in (("guardian", GUARDIAN), ("gizmodo", GIZMODO)):
        seed = load_seed(path)
        heads[name] = len(docs)
        docs.append(seed_doc(seed))
        for item in seed["related"]:
            links.append((heads[name], len(docs)))
            docs.append(seed_doc(item))
    return docs, links, heads
