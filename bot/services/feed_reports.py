"""What the feed service returns: poll and import reports, and small value helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bot.domain.feeds import Feed
from bot.services.errors import BadInput


@dataclass(slots=True)
class PollReport:
    feeds: int = 0
    fetched: int = 0  # answered 200 with a usable document
    not_modified: int = 0
    failed: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class ImportReport:
    added: list[Feed] = field(default_factory=list)
    existing: list[Feed] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": [feed_dict(f) for f in self.added],
            "existing": [feed_dict(f) for f in self.existing],
            "problems": self.problems,
        }


def feed_dict(feed: Feed) -> dict:
    return asdict(feed)


def parse_topics(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: dict[str, str] = {}
    for raw in items:
        name = " ".join(str(raw).split())
        if not name:
            continue
        if len(name) > 60:
            raise BadInput(f"topic {name[:20]!r}... is longer than 60 characters")
        out.setdefault(name.casefold(), name)
    return tuple(out.values())
