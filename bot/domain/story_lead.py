"""The lead item of a story: which member stands for it (the rule; SQL applies it in storage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["LeadCandidate", "choose_lead"]


@dataclass(frozen=True, slots=True)
class LeadCandidate:
    """What ``choose_lead`` needs to know about one member of a story."""

    file_backed: bool
    quality: int | None
    published_at: datetime | None


def choose_lead(candidates: Sequence[LeadCandidate]) -> int:
    """Index of a story's lead item.

    Preference: an article file over a related-only item (a file carries the full record:
    topics, images, heat); then higher ``quality`` (unknown counts lowest); then the earlier
    published (the first report; unknown dates last); then the lower index, so the choice is
    deterministic.
    """
    if not candidates:
        raise ValueError("choose_lead needs at least one candidate")

    def key(i: int) -> tuple[bool, int, bool, float, int]:
        c = candidates[i]
        quality = c.quality if c.quality is not None else -1
        ts = c.published_at.timestamp() if c.published_at is not None else 0.0
        return (not c.file_backed, -quality, c.published_at is None, ts, i)

    return min(range(len(candidates)), key=key)
