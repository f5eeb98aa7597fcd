"""Value normalisers for the article parser: one YAML value in, a checked domain value out.

Pure. Each raises :class:`ArticleParseError` (with a reason naming the key) for a value that makes
the article unusable, and appends to ``warnings`` when only one list entry has to be dropped.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime

from bot.domain.models import Image, Provider
from bot.ingest.urls import canonical_url

# Related items and their images repeat across files (on the corpus 180k urls, 8.5k distinct):
# remembering canonical forms saves most of the url work. Errors are not cached.
canonical = functools.lru_cache(maxsize=32_768)(canonical_url)

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""The range of integers the database stores (SQLite INTEGER is a signed 64-bit value)."""

# C0 and C1 controls, zero-width characters, bidi embeddings/overrides/isolates and the BOM:
# never meaningful in a title, an excerpt or a name, and able to hide or reorder what users see.
# White-space controls (tab, line breaks) become a space; the others are dropped.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200d\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACE_CONTROLS = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85")


def _replace_unsafe(match: re.Match[str]) -> str:
    return " " if match.group() in _SPACE_CONTROLS else ""


def clean_text(text: str) -> str:
    """``text`` without control, zero-width and bidi-override characters, stripped.

    Pure; applied at parse time to every text value (titles, excerpts, provider names, topics).
    """
    if _UNSAFE_CHARS.search(text) is not None:
        text = _UNSAFE_CHARS.sub(_replace_unsafe, text)
    return text.strip()


class OutOfRange(Exception):
    """An integer outside what the database can store (see ``INT_MIN``/``INT_MAX``)."""


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else None
    if text is None:
        text = (
            f"{value}" if isinstance(value, int) and value.bit_length() < 4000 else "a huge number"
        )
    return text if len(text) <= 30 else text[:27] + "..."


MAX_WARNINGS_PER_KIND = 20
_KIND = re.compile(r"[A-Za-z_]+(?:\[\d+\])?(?:\.[A-Za-z_]+)*")
_INDEX = re.compile(r"\[\d+\]")
_MAX_KINDS = 50
_MAX_WARNING_CHARS = 300


class WarningList(list[str]):
    """A file's parser notes, bounded: at most ``MAX_WARNINGS_PER_KIND`` notes of each kind (the
    field, list indexes aside: ``related[]``, ``images[].width``) are kept, each at most 300
    characters; the rest are only counted and summarised by :meth:`finish`."""

    def __init__(self, per_kind: int = MAX_WARNINGS_PER_KIND) -> None:
        super().__init__()
        self.per_kind = per_kind
        self._kept: dict[str, int] = {}
        self._more: dict[str, int] = {}

    def append(self, note: str) -> None:
        found = _KIND.match(note)
        kind = _INDEX.sub("[]", found.group()) if found else "other"
        if kind not in self._kept and len(self._kept) >= _MAX_KINDS:
            kind = "other"
        kept = self._kept.get(kind, 0)
        if kept < self.per_kind:
            self._kept[kind] = kept + 1
            if len(note) > _MAX_WARNING_CHARS:
                note = note[: _MAX_WARNING_CHARS - 3] + "..."
            super().append(note)
        else:
            self._more[kind] = self._more.get(kind, 0) + 1

    def finish(self) -> tuple[str, ...]:
        summaries = [
            f"{kind}: and {count} more warnings of this kind" for kind, count in self._more.items()
        ]
        return (*self, *summaries)


class ArticleParseError(Exception):
    """An article file that cannot be used; ``reason`` says why, ``line`` where (1-based)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason, line)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return self.reason if self.line is None else f"{self.reason} (line {self.line})"


def describe(value: object) -> str:
    """How a YAML value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def parse_datetime(value: object) -> datetime | None:
    """A YAML ``publishedDateTime`` value as an aware UTC datetime, or None if unusable.

    Accepts a datetime (naive means UTC), a date (midnight UTC) or an ISO 8601 string (``T`` or
    space separator, optional seconds and fraction, ``Z`` or an offset).
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    tzinfo = moment.tzinfo
    if tzinfo is UTC:
        return moment
    if tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def is_blank(value: object) -> bool:
    return value is None or (type(value) is str and not value.strip())


def text_value(value: object, key: str) -> str | None:
    """A stripped string, None when absent or blank; numbers are read as text."""
    if value is None:
        return None
    if type(value) is str:
        return clean_text(value) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # an int too long to convert (Python's 4300-digit limit)
            raise ArticleParseError(f"{key} must be a string, got a huge number") from None
    raise ArticleParseError(f"{key} must be a string, got {describe(value)}")


def int_value(value: object, key: str, *, negative_ok: bool = False) -> int | None:
    """An int from an int, an integral float or a digit string; None when absent or blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArticleParseError(f"{key} must be an integer, got {describe(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        digits = text[1:] if text[0] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            raise ArticleParseError(f"{key} must be an integer, got {describe(value)}")
        if len(digits.lstrip("0")) > 19:
            raise OutOfRange(f"{key}: dropped: {_shown(text)} is out of range")
        number = int(text)
    else:
        raise ArticleParseError(f"{key} must be an integer, got {describe(value)}")
    if not INT_MIN <= number <= INT_MAX:
        raise OutOfRange(f"{key}: dropped: {_shown(value)} is out of range")
    if number < 0 and not negative_ok:
        raise ArticleParseError(f"{key} must not be negative, got {number}")
    return number


def optional_int(
    value: object, key: str, warnings: list[str], *, negative_ok: bool = False
) -> int | None:
    """``int_value`` for a non-essential field: an out-of-range value is dropped with a note."""
    try:
        return int_value(value, key, negative_ok=negative_ok)
    except OutOfRange as err:
        warnings.append(str(err))
        return None


def provider_value(value: object, key: str) -> Provider | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise ArticleParseError(f"{key} must be a mapping, got {describe(value)}")
    name = text_value(value.get("name"), f"{key}.name")
    domain = text_value(value.get("domain"), f"{key}.domain")
    if domain is not None:
        domain = domain.lower()
    if name is None:
        if domain is None:
            return None
        name = domain
    return Provider(name, domain)


def topics_value(value: object, warnings: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is str:
        value = [value]
    elif type(value) is not list:
        raise ArticleParseError(f"topics must be a list of strings, got {describe(value)}")
    topics: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item is None:
            continue
        try:
            topic = text_value(item, f"topics[{index}]")
        except ArticleParseError as err:
            warnings.append(f"{err.reason}; dropped")
            continue
        if topic is None:
            continue
        folded = topic.casefold()
        if folded not in seen:
            seen.add(folded)
            topics.append(topic)
    return tuple(topics)


def images_value(value: object, warnings: list[str]) -> tuple[Image, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise ArticleParseError(f"images must be a list, got {describe(value)}")
    images: list[Image] = []
    for index, item in enumerate(value):
        where = f"images[{index}]"
        if type(item) is dict:
            raw_url = item.get("url")
            size: list[int | None] = []
            for dimension in ("width", "height"):
                try:
                    size.append(int_value(item.get(dimension), f"{where}.{dimension}"))
                except OutOfRange as err:
                    warnings.append(str(err))
                    size.append(None)
                except ArticleParseError as err:
                    warnings.append(f"{err.reason}; ignored")
                    size.append(None)
            width, height = size
        elif type(item) is str:
            raw_url, width, height = item, None, None
        else:
            warnings.append(f"{where}: dropped: not a mapping ({describe(item)})")
            continue
        if type(raw_url) is not str or not raw_url.strip():
            warnings.append(f"{where}: dropped: missing url")
            continue
        try:
            url = canonical(raw_url)
        except ValueError as err:
            warnings.append(f"{where}: dropped: invalid url: {err}")
            continue
        images.append(Image(url, width, height))
    return tuple(images)


def first_image_url(value: object) -> str | None:
    if type(value) is not list:
        return None
    for item in value:
        raw_url = item.get("url") if type(item) is dict else item
        if type(raw_url) is str:
            try:
                return canonical(raw_url)
            except ValueError:
                continue
    return None
