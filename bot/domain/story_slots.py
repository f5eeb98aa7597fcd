"""Numbered slots of a title: "Episode 8", "Season 1", "Windows 10", "Kubernetes 1.19", "#12".

Templated headlines ("Vikings Season 1, Episode 8 recap", "Sector Update #12") share every word
with their siblings and differ only in a number, and a number of one digit is not even a token
(``bot.domain.text`` drops one-character tokens). Yet the number *is* the event: episode 8 and
episode 9 are two episodes, Windows 10 and Windows 11 two products. So the grouping reads, from
the title, each number together with the word right before it (the slot) and:

- adds the pair as one term ("episod8", "season1", "window10"; the word folded as tokens are):
  two reports of one episode share it, siblings do not, and as a term it gets the same learned
  weight as any other (a slot used by many events, "covid19", weighs little);
- treats a different number in the same slot as evidence *against* (``slot_conflict``): an item
  does not join, and two stories do not merge, when the story's members mostly give the slot
  another number than the item (or the other story) does.

A slot needs a word of two letters or more that is not a stopword ("in 2020", "the 10" are no
slots) and a number right after it, separated by spaces, ``#``, ``:`` or ``-`` only ("$35B",
"15%", "1st" are no slots: amounts and ordinals vary between reports of one event). This is a
general reading of how titles number things, not a list fitted to any data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from bot.domain.text import tokenize

__all__ = ["main_slots", "slot_conflict", "slot_of", "slot_terms"]

# a word, spaces / '#' / ':' / '-', a number (dots inside kept: 1.19); not followed by a letter or
# digit, '%', a digit group (1,000) or a hyphen and a word (3-day, the wire prefix "UPDATE 2-")
_SLOT = re.compile(
    r"\b([^\W\d_]{2,})[ \t]*[#:\-]?[ \t]*#?(\d+(?:\.\d+)*)(?![\w%]|[.,]\d|-[^\W\d_])"
)
_TERM = re.compile(r"([a-z]+)(\d+)")


@lru_cache(maxsize=8192)
def _slot_terms(title: str) -> tuple[str, ...]:
    out = []
    for word, number in _SLOT.findall(title):
        folded = tokenize(word)
        if len(folded) != 1 or not folded[0].isalpha():
            continue
        out.append(folded[0] + number.replace(".", ""))
    return tuple(dict.fromkeys(out))


def slot_terms(title: str | None) -> list[str]:
    """The slot terms of a title, in order ("Season 1, Episode 8" -> ["season1", "episod8"])."""
    if not title or not any(ch.isdigit() for ch in title):
        return []
    return list(_slot_terms(title))


def slot_of(term: str) -> tuple[str, str] | None:
    """(word, number) of a slot term, or None for any other term (a plain word or number)."""
    if not term[-1:].isdigit():
        return None
    m = _TERM.fullmatch(term)
    return (m.group(1), m.group(2)) if m else None


def _compatible(a: str, b: str) -> bool:
    """Numbers of one slot that may name the same thing: equal, or one a prefix of the other
    (iOS 7 / iOS 7.1: the dots are dropped from the terms)."""
    return a.startswith(b) or b.startswith(a)


def slot_conflict(slots: Iterable[str], weights: Mapping[str, float], share: float = 0.5) -> bool:
    """Whether a story (``weights``: its centroid) gives one of ``slots`` another number.

    For each slot word of ``slots``, the story's main number for that word is the one carrying
    at least ``share`` of the weight of all its numbers for it. It conflicts when it has one and
    none of the numbers of ``slots`` for the word is compatible with it (equal, or a version
    prefix: 7 and 7.1). A story that never numbers the word, or numbers it in many ways (no
    main number), does not conflict, nor does an item giving several numbers if one fits
    ("Diablo 3 players react to Diablo 4").
    """
    mine: dict[str, list[str]] = {}
    for term in slots:
        parsed = slot_of(term)
        if parsed is not None:
            mine.setdefault(parsed[0], []).append(parsed[1])
    if not mine:
        return False
    numbers: dict[str, dict[str, float]] = {}
    for term, weight in weights.items():
        parsed = slot_of(term)
        if parsed is not None and parsed[0] in mine:
            numbers.setdefault(parsed[0], {})[parsed[1]] = weight
    for word, held in numbers.items():
        total = sum(held.values())
        main = [n for n, w in held.items() if total > 0.0 and w >= share * total]
        if main and not any(_compatible(m, n) for m in main for n in mine[word]):
            return True
    return False


def main_slots(weights: Mapping[str, float]) -> list[str]:
    """A story's slot terms carrying at least half of their word's weight (its own numbers)."""
    totals: dict[str, float] = {}
    for term, weight in weights.items():
        parsed = slot_of(term)
        if parsed is not None:
            totals[parsed[0]] = totals.get(parsed[0], 0.0) + weight
    return sorted(
        t
        for t, w in weights.items()
        if (parsed := slot_of(t)) is not None and w >= 0.5 * totals[parsed[0]]
    )
