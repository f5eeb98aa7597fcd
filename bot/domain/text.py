"""Text normalisation for story grouping and full-text candidate search.

``tokenize`` turns a title or excerpt into comparable tokens:

1. Unicode NFKD with combining marks removed ("Pokémon" -> "pokemon"), lowercased; curly
   apostrophes become ASCII ones.
2. Word split on Unicode letters/digits (``[^\\W_]+``); a possessive or contraction tail is dropped
   ("Ukraine's" -> "ukraine", "we've" -> "we"), negations go entirely ("don't"), other apostrophes
   join ("O'Brien" -> "obrien"); emoji and punctuation vanish.
3. Stopwords (a compact English list plus news filler such as "said", "new", "via") are dropped
   before stemming, so that a stem can never turn back into a stopword.
4. Tokens of one character are dropped ("4", and "2.0", which splits into "2" and "0"); numbers
   of two or more digits stay ("2022", "737", "mh370" and "5g" alike): a number often names the
   event (a flight, a model, an episode), and the data's own term frequencies
   (``bot.domain.stories``) give a number common in one deployment a low weight.
5. Light suffix folding (not Porter): ``-ies/-ied`` -> ``-y``, plural ``-s``, ``-ing``, ``-ed``,
   an undoubled final consonant and a dropped final ``e``; so soldiers~soldier,
   identify~identifies~identified, families~family, use~uses~used~using.

There is no synonym list and no list of "generic" words: how much a word tells two events apart is
learned from the stored items (inverse story frequency, ``bot.domain.stories``), so that "azure" is
weak in a deployment that follows the Azure updates feed and strong elsewhere.

Tokens contain only letters and digits, so they are safe as database keys and FTS5 terms.

Folding is memoised per distinct word (``normalise_word``), so the cost is mostly the regex split.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "STOPWORDS",
    "index_text",
    "normalise_word",
    "token_set",
    "tokenize",
]

_WORD = re.compile(r"[^\W_]+")
_NEGATION = re.compile(r"[^\W_]+n't\b")  # don't, isn't, won't: dropped whole
_CLITIC = re.compile(r"'(?:s|re|ve|ll|d|m)\b")  # Ukraine's, we've, they'll: tail dropped
_MARKS = re.compile(r"[\u0300-\u036f]")  # combining diacritical marks, after NFKD
_VOWELS = frozenset("aeiouy")
_NO_UNDOUBLE = frozenset("lsz")

_STOPWORDS = """
    a about above after again against ago all almost along already also although always am among
    an and another any anyone anything are around as at away back be became because become been
    before being below between both but by came can cannot could did do does doing done down
    during each either else even ever every few for from further get gets getting got had has
    have having he her here hers herself him himself his how however if in inside into is it its
    itself just last least less let like made make makes making many may me might more most much
    must my near need needs neither never next no nor not now of off often on once one only onto
    or other others our ours out over own per perhaps put rather really same see seen she should
    since so some something soon still such than that the their theirs them then there these they
    this those though through thus till to too toward towards under until up upon us very via
    was way ways we well were what whatever when where whether which while who whom whose why will
    with within without would yet you your yours yourself
    said say says saying told according new news latest today tonight yesterday tomorrow week
    weeks weekly year years day days time times monday tuesday wednesday thursday friday saturday
    sunday report reports reportedly read thing things lot lots two three four five six seven
    eight nine ten
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORDS.split())
"""Dropped before stemming: English function words and news filler."""


def _strip_marks(text: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFKD", text))


def _has_vowel(stem: str) -> bool:
    return any(ch in _VOWELS for ch in stem)


def _undouble(stem: str) -> str:
    last = stem[-1]
    if len(stem) >= 3 and last == stem[-2] and last not in _NO_UNDOUBLE and last not in _VOWELS:
        return stem[:-1]
    return stem


def _stem(word: str) -> str:
    n = len(word)
    if n <= 2 or not word.isalpha():
        return word
    if n > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif n >= 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif n >= 5 and word.endswith("ing") and _has_vowel(word[:-3]):
        word = word[:-3]
    elif n >= 4 and word.endswith("ed") and not word.endswith("eed") and _has_vowel(word[:-2]):
        word = word[:-2]
    if len(word) >= 3 and word.endswith("e"):
        word = word[:-1]
    return _undouble(word)


@lru_cache(maxsize=200_000)
def normalise_word(word: str) -> str:
    """Fold one lowercase word (letters and digits only) into its token.

    Returns ``""`` for stopwords and one-character words.
    """
    if len(word) < 2 or word in STOPWORDS:
        return ""
    return _stem(word)


def tokenize(text: str | None) -> list[str]:
    """Tokens of ``text`` in order of appearance (duplicates kept)."""
    if not text:
        return []
    text = text.lower()
    if not text.isascii():
        text = _strip_marks(text.replace("\u2019", "'").replace("\u2018", "'"))
    if "'" in text:
        text = _CLITIC.sub("", _NEGATION.sub(" ", text)).replace("'", "")
    return list(filter(None, map(normalise_word, _WORD.findall(text))))


def token_set(title: str, excerpt: str | None) -> frozenset[str]:
    """Distinct tokens of a title and its excerpt together."""
    return frozenset(tokenize(title)).union(tokenize(excerpt))


def index_text(title: str, excerpt: str | None) -> str:
    """Space-separated distinct tokens, sorted: the text to store in the FTS5 search column."""
    return " ".join(sorted(token_set(title, excerpt)))
