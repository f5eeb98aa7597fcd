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
from typing import Any

import yaml

from bot.domain.models import Article, ParsedArticle
from bot.ingest.related import related_items
from bot.ingest.values import (
    ArticleParseError,
    WarningList,
    canonical,
    describe,
    images_value,
    is_blank,
    optional_int,
    parse_datetime,
    provider_value,
    text_value,
    topics_value,
)
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
MAX_ENTRIES = 200_000
"""Front matter with more lines plus commas than this is refused before it is parsed: the YAML
parsers build an object per node (PyYAML ~350 bytes each), so a 5 MB file of ``- a`` lines would
take half a gigabyte. The largest real article file has ~2,500 front-matter lines."""
_BOM = "\ufeff"


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
    entries = yaml_text.count("\n") + yaml_text.count(",")
    if entries > MAX_ENTRIES:
        raise ArticleParseError(
            f"front matter is too large: {entries} lines and commas, more than the "
            f"{MAX_ENTRIES} allowed"
        )
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
        raise ArticleParseError(f"front matter must be a mapping, got {describe(data)}", 2)
    return data


def parse_article(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedArticle:
    """Parse one article file's bytes; :class:`ArticleParseError` if the file is unusable."""
    text = _decode(data, max_bytes)
    yaml_text, body = split_front_matter(text)
    front = _load_yaml(yaml_text)
    key = ""
    try:
        key = "title"
        title = text_value(front.get("title"), "title")
        if title is None:
            raise ArticleParseError("missing title" if "title" not in front else "empty title")

        key = "webUrl"
        raw_url = front.get("webUrl")
        if is_blank(raw_url):
            key = "originalUrl"
            raw_url = front.get("originalUrl")
        if is_blank(raw_url):
            key = ""  # no line to point at
            raise ArticleParseError("missing url: neither webUrl nor originalUrl is set")
        if type(raw_url) is not str:
            raise ArticleParseError(f"{key} must be a string, got {describe(raw_url)}")
        try:
            url = canonical(raw_url)
        except ValueError as err:
            raise ArticleParseError(f"invalid {key}: {err}") from None
        own_urls = {url}
        original = front.get("originalUrl")
        if key == "webUrl" and type(original) is str and original.strip():
            with contextlib.suppress(ValueError):  # only used to spot self-references
                own_urls.add(canonical(original))

        key = "publishedDateTime"
        raw_date = front.get("publishedDateTime")
        if raw_date is None:
            raise ArticleParseError("missing publishedDateTime")
        published_at = parse_datetime(raw_date)
        if published_at is None:
            raise ArticleParseError(f"invalid publishedDateTime: cannot read {describe(raw_date)}")

        warnings = WarningList()
        key = "excerpt"
        excerpt = text_value(front.get("excerpt"), "excerpt")
        key = "quality"
        quality = optional_int(front.get("quality"), "quality", warnings)
        key = "heat"
        heat = optional_int(front.get("heat"), "heat", warnings, negative_ok=True)
        key = "provider"
        provider = provider_value(front.get("provider"), "provider")
        key = "category"
        category = text_value(front.get("category"), "category")
        key = "type"
        kind = text_value(front.get("type"), "type")
        key = "topics"
        topics = topics_value(front.get("topics"), warnings)
        key = "images"
        images = images_value(front.get("images"), warnings)
        key = "related"
        related = related_items(front.get("related"), own_urls, warnings)
        key = "removed"
        removed = front.get("removed")
        if removed is None:
            removed = False
        elif type(removed) is not bool:
            raise ArticleParseError(f"removed must be true or false, got {describe(removed)}")
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
    return ParsedArticle(article=article, warnings=warnings.finish())
