"""The article parser: the bytes of one article file -> a validated, normalised ParsedArticle.

Pure: no file I/O, no clock. An article file is UTF-8 text (a BOM is tolerated; CRLF and CR line
ends are read as LF) made of YAML front matter between two lines that are exactly ``---``
(trailing whitespace allowed), then an optional body.

Fatal problems raise :class:`ArticleParseError` with a precise reason and, when known, the line
in the file. Problems confined to one list entry (an image, a related item, a topic) drop that
entry and add a note to ``ParsedArticle.warnings``; a related item pointing at the article itself,
or repeating an earlier related url, is dropped without a note (both are common in real files).
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, date, datetime
from typing import Any

import yaml

from bot.domain.models import Article, Image, ParsedArticle, Provider, RelatedItem
from bot.ingest.urls import canonical_url
from bot.ingest.yamlload import error_line, has_deep_lines, load_front_matter

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_NESTING",
    "ArticleParseError",
    "parse_article",
    "parse_datetime",
    "split_front_matter",
]

DEFAULT_MAX_BYTES = 5_000_000
MAX_NESTING = 10_000
"""Front matter that may nest this deep is refused: PyYAML's C parser overflows its stack (and
kills the process) somewhere past 20,000 levels."""
_BOM = "\ufeff"

# Related items and their images repeat across files (on the corpus 180k urls, 8.5k distinct):
# remembering canonical forms saves most of the url work. Errors are not cached.
_canonical = functools.lru_cache(maxsize=32_768)(canonical_url)


class ArticleParseError(Exception):
    """An article file that cannot be used; ``reason`` says why, ``line`` where (1-based)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason, line)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return self.reason if self.line is None else f"{self.reason} (line {self.line})"


def _kind(value: object) -> str:
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


def split_front_matter(text: str) -> tuple[str, str]:
    """Split LF-normalised article text into (front matter YAML, body).

    The YAML text starts at line 2 of the file. Urls may contain ``---``, so only a whole line
    that is ``---`` (plus trailing spaces or tabs) is a fence.
    """
    first_end = text.find("\n")
    first = text if first_end < 0 else text[:first_end]
    if first.rstrip(" \t") != "---":
        raise ArticleParseError("no front matter: the first line is not '---'", 1)
    pos = first_end
    while pos >= 0:
        pos = text.find("\n---", pos)
        if pos < 0:
            break
        line_end = text.find("\n", pos + 4)
        rest = text[pos + 4 :] if line_end < 0 else text[pos + 4 : line_end]
        if not rest.strip(" \t"):
            body = "" if line_end < 0 else text[line_end + 1 :]
            return text[first_end + 1 : pos + 1], body
        pos += 4
    raise ArticleParseError("front matter is not closed: no '---' line after the opening one", 1)


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


def _blank(value: object) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _text(value: object, key: str) -> str | None:
    """A stripped string, None when absent or blank; numbers are read as text."""
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ArticleParseError(f"{key} must be a string, got {_kind(value)}")


def _int(value: object, key: str, *, negative_ok: bool = False) -> int | None:
    """An int from an int, an integral float or a digit string; None when absent or blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArticleParseError(f"{key} must be an integer, got {_kind(value)}")
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
            raise ArticleParseError(f"{key} must be an integer, got {_kind(value)}")
        number = int(text)
    else:
        raise ArticleParseError(f"{key} must be an integer, got {_kind(value)}")
    if number < 0 and not negative_ok:
        raise ArticleParseError(f"{key} must not be negative, got {number}")
    return number


def _provider(value: object, key: str) -> Provider | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise ArticleParseError(f"{key} must be a mapping, got {_kind(value)}")
    name = _text(value.get("name"), f"{key}.name")
    domain = _text(value.get("domain"), f"{key}.domain")
    if domain is not None:
        domain = domain.lower()
    if name is None:
        if domain is None:
            return None
        name = domain
    return Provider(name, domain)


def _topics(value: object, warnings: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is str:
        value = [value]
    elif type(value) is not list:
        raise ArticleParseError(f"topics must be a list of strings, got {_kind(value)}")
    topics: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item is None:
            continue
        try:
            topic = _text(item, f"topics[{index}]")
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


def _images(value: object, warnings: list[str]) -> tuple[Image, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise ArticleParseError(f"images must be a list, got {_kind(value)}")
    images: list[Image] = []
    for index, item in enumerate(value):
        where = f"images[{index}]"
        if type(item) is dict:
            raw_url = item.get("url")
            size: list[int | None] = []
            for dimension in ("width", "height"):
                try:
                    size.append(_int(item.get(dimension), f"{where}.{dimension}"))
                except ArticleParseError as err:
                    warnings.append(f"{err.reason}; ignored")
                    size.append(None)
            width, height = size
        elif type(item) is str:
            raw_url, width, height = item, None, None
        else:
            warnings.append(f"{where}: dropped: not a mapping ({_kind(item)})")
            continue
        if type(raw_url) is not str or not raw_url.strip():
            warnings.append(f"{where}: dropped: missing url")
            continue
        try:
            url = _canonical(raw_url)
        except ValueError as err:
            warnings.append(f"{where}: dropped: invalid url: {err}")
            continue
        images.append(Image(url, width, height))
    return tuple(images)


def _first_image_url(value: object) -> str | None:
    if type(value) is not list:
        return None
    for item in value:
        raw_url = item.get("url") if type(item) is dict else item
        if type(raw_url) is str:
            try:
                return _canonical(raw_url)
            except ValueError:
                continue
    return None


def _related(value: object, own_urls: set[str], warnings: list[str]) -> tuple[RelatedItem, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise ArticleParseError(f"related must be a list, got {_kind(value)}")
    items: list[RelatedItem] = []
    seen = set(own_urls)  # the article itself and urls already taken are skipped quietly
    for index, item in enumerate(value):
        where = f"related[{index}]"
        if type(item) is not dict:
            warnings.append(f"{where}: dropped: not a mapping ({_kind(item)})")
            continue
        url_key = "webUrl"
        raw_url = item.get("webUrl")
        if _blank(raw_url):
            url_key = "originalUrl"
            raw_url = item.get("originalUrl")
        if type(raw_url) is not str or not raw_url.strip():
            problem = "missing url" if raw_url is None else f"{url_key} is {_kind(raw_url)}"
            warnings.append(f"{where}: dropped: {problem}")
            continue
        try:
            url = _canonical(raw_url)
        except ValueError as err:
            warnings.append(f"{where}: dropped: invalid {url_key}: {err}")
            continue
        if url in seen:
            continue
        try:
            title = _text(item.get("title"), f"{where}.title")
            excerpt = _text(item.get("excerpt"), f"{where}.excerpt")
            kind = _text(item.get("type"), f"{where}.type")
        except ArticleParseError as err:
            warnings.append(f"{where}: dropped: {err.reason}")
            continue
        if title is None:
            warnings.append(f"{where}: dropped: missing title")
            continue
        published_at = None
        raw_date = item.get("publishedDateTime")
        if raw_date is not None:
            published_at = parse_datetime(raw_date)
            if published_at is None:
                problem = f"cannot read {_kind(raw_date)}"
                warnings.append(f"{where}.publishedDateTime: ignored: {problem}")
        try:
            provider = _provider(item.get("provider"), f"{where}.provider")
        except ArticleParseError as err:
            warnings.append(f"{err.reason}; ignored")
            provider = None
        try:
            quality = _int(item.get("quality"), f"{where}.quality")
        except ArticleParseError as err:
            warnings.append(f"{err.reason}; ignored")
            quality = None
        seen.add(url)
        items.append(
            RelatedItem(
                url=url,
                title=title,
                excerpt=excerpt,
                published_at=published_at,
                provider=provider,
                quality=quality,
                image_url=_first_image_url(item.get("images")),
                type=kind,
            )
        )
    return tuple(items)


def _key_line(yaml_text: str, key: str) -> int | None:
    """The file line of a top-level ``key:`` (the YAML text starts at file line 2)."""
    if not key:
        return None
    prefix = f"{key}:"
    if yaml_text.startswith(prefix):
        return 2
    pos = yaml_text.find("\n" + prefix)
    return None if pos < 0 else yaml_text.count("\n", 0, pos + 1) + 2


def _decode(data: bytes, max_bytes: int) -> str:
    if not data:
        raise ArticleParseError("empty file")
    if len(data) > max_bytes:
        raise ArticleParseError(
            f"file is {len(data)} bytes, larger than the {max_bytes}-byte limit"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ArticleParseError(
            f"not valid UTF-8: byte 0x{data[err.start]:02x} at offset {err.start} ({err.reason})",
            data.count(b"\n", 0, err.start) + 1,
        ) from None
    if text.startswith(_BOM):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _load_yaml(yaml_text: str) -> dict[str, Any]:
    if yaml_text.count("[") + yaml_text.count("{") >= MAX_NESTING or has_deep_lines(
        yaml_text, MAX_NESTING
    ):
        raise ArticleParseError(
            f"front matter may nest too deeply: {MAX_NESTING} or more brackets, "
            f"or a line indented {MAX_NESTING} or more levels"
        )
    try:
        data = load_front_matter(yaml_text)
    except yaml.YAMLError as err:
        if isinstance(err, yaml.MarkedYAMLError):
            detail = ": ".join(part for part in (err.context, err.problem) if part)
        elif isinstance(err, yaml.reader.ReaderError):
            detail = f"unacceptable character U+{err.character:04X}: {err.reason}"
        else:
            detail = str(err)
        line = error_line(err, yaml_text)
        raise ArticleParseError(
            f"invalid YAML: {detail}", None if line is None else line + 1
        ) from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. the timestamp 2022-02-30
        line = error_line(err, yaml_text)
        raise ArticleParseError(
            f"invalid YAML value: {err}", None if line is None else line + 1
        ) from None
    except RecursionError:
        raise ArticleParseError("invalid YAML: nested too deeply") from None
    if type(data) is not dict:
        if data is None:
            raise ArticleParseError("front matter is empty", 2)
        raise ArticleParseError(f"front matter must be a mapping, got {_kind(data)}", 2)
    return data


def parse_article(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedArticle:
    """Parse one article file's bytes; :class:`ArticleParseError` if the file is unusable."""
    text = _decode(data, max_bytes)
    yaml_text, body = split_front_matter(text)
    front = _load_yaml(yaml_text)
    key = ""
    try:
        key = "title"
        title = _text(front.get("title"), "title")
        if title is None:
            raise ArticleParseError("missing title" if "title" not in front else "empty title")

        key = "webUrl"
        raw_url = front.get("webUrl")
        if _blank(raw_url):
            key = "originalUrl"
            raw_url = front.get("originalUrl")
        if _blank(raw_url):
            key = ""  # no line to point at
            raise ArticleParseError("missing url: neither webUrl nor originalUrl is set")
        if type(raw_url) is not str:
            raise ArticleParseError(f"{key} must be a string, got {_kind(raw_url)}")
        try:
            url = _canonical(raw_url)
        except ValueError as err:
            raise ArticleParseError(f"invalid {key}: {err}") from None
        own_urls = {url}
        original = front.get("originalUrl")
        if key == "webUrl" and type(original) is str and original.strip():
            with contextlib.suppress(ValueError):  # only used to spot self-references
                own_urls.add(_canonical(original))

        key = "publishedDateTime"
        raw_date = front.get("publishedDateTime")
        if raw_date is None:
            raise ArticleParseError("missing publishedDateTime")
        published_at = parse_datetime(raw_date)
        if published_at is None:
            raise ArticleParseError(f"invalid publishedDateTime: cannot read {_kind(raw_date)}")

        warnings: list[str] = []
        key = "excerpt"
        excerpt = _text(front.get("excerpt"), "excerpt")
        key = "quality"
        quality = _int(front.get("quality"), "quality")
        key = "heat"
        heat = _int(front.get("heat"), "heat", negative_ok=True)
        key = "provider"
        provider = _provider(front.get("provider"), "provider")
        key = "category"
        category = _text(front.get("category"), "category")
        key = "type"
        kind = _text(front.get("type"), "type")
        key = "topics"
        topics = _topics(front.get("topics"), warnings)
        key = "images"
        images = _images(front.get("images"), warnings)
        key = "related"
        related = _related(front.get("related"), own_urls, warnings)
        key = "removed"
        removed = front.get("removed")
        if removed is None:
            removed = False
        elif type(removed) is not bool:
            raise ArticleParseError(f"removed must be true or false, got {_kind(removed)}")
    except ArticleParseError as err:
        if err.line is None:
            err.line = _key_line(yaml_text, key)
        raise

    article = Article(
        url=url,
        title=title,
        published_at=published_at,
        excerpt=excerpt,
        quality=quality,
        heat=heat,
        provider=provider,
        category=category,
        type=kind,
        topics=topics,
        images=images,
        related=related,
        removed=removed,
        body=body,
    )
    return ParsedArticle(article=article, warnings=tuple(warnings))
