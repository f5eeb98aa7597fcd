"""The ``related`` list of an article ("other outlets' coverage"): each entry normalised like the
article's own values (``bot.ingest.values``), a bad entry dropped with a warning, never the file.

Pure. The hot loop of an ingest: common value types take inline fast paths.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.models import Provider, RelatedItem
from bot.ingest.values import (
    INT_MAX,
    ArticleParseError,
    OutOfRange,
    canonical,
    clean_text,
    describe,
    first_image_url,
    int_value,
    is_blank,
    parse_datetime,
    provider_value,
    text_value,
)

__all__ = ["related_items"]


def _fast_text(value: object, key: str) -> str | None:
    """``text_value`` with the common case (a str) inline; ``key`` built only on error."""
    if type(value) is str:
        return clean_text(value) or None
    return text_value(value, key)


def related_items(
    value: object, own_urls: set[str], warnings: list[str]
) -> tuple[RelatedItem, ...]:
    """The ``related`` list: entries normalised like the article; bad entries dropped with a note.

    The hot loop of an ingest (~100k entries on the corpus): common value types take inline fast
    paths, and the error-message key (``related[3].title``) is only built when it is needed.
    """
    if value is None:
        return ()
    if type(value) is not list:
        raise ArticleParseError(f"related must be a list, got {describe(value)}")
    items: list[RelatedItem] = []
    seen = set(own_urls)  # the article itself and urls already taken are skipped quietly
    for index, item in enumerate(value):
        if type(item) is not dict:
            warnings.append(f"related[{index}]: dropped: not a mapping ({describe(item)})")
            continue
        url_key = "webUrl"
        raw_url = item.get("webUrl")
        if is_blank(raw_url):
            url_key = "originalUrl"
            raw_url = item.get("originalUrl")
        if type(raw_url) is not str or not raw_url.strip():
            problem = "missing url" if raw_url is None else f"{url_key} is {describe(raw_url)}"
            warnings.append(f"related[{index}]: dropped: {problem}")
            continue
        try:
            url = canonical(raw_url)
        except ValueError as err:
            warnings.append(f"related[{index}]: dropped: invalid {url_key}: {err}")
            continue
        if url in seen:
            continue
        try:
            title = item.get("title")
            title = (
                clean_text(title) or None
                if type(title) is str
                else _fast_text(title, f"related[{index}].title")
            )
            excerpt = _fast_text(item.get("excerpt"), f"related[{index}].excerpt")
            kind = _fast_text(item.get("type"), f"related[{index}].type")
        except ArticleParseError as err:
            warnings.append(f"related[{index}]: dropped: {err.reason}")
            continue
        if title is None:
            warnings.append(f"related[{index}]: dropped: missing title")
            continue
        published_at = None
        raw_date = item.get("publishedDateTime")
        if raw_date is not None:
            if type(raw_date) is datetime and raw_date.tzinfo is UTC:
                published_at = raw_date
            else:
                published_at = parse_datetime(raw_date)
                if published_at is None:
                    problem = f"cannot read {describe(raw_date)}"
                    warnings.append(f"related[{index}].publishedDateTime: ignored: {problem}")
        try:
            provider = _cached_provider(item.get("provider"), index)
        except ArticleParseError as err:
            warnings.append(f"{err.reason}; ignored")
            provider = None
        quality = item.get("quality")
        if type(quality) is not int or not 0 <= quality <= INT_MAX:
            try:
                quality = int_value(quality, f"related[{index}].quality")
            except OutOfRange as err:
                warnings.append(str(err))
                quality = None
            except ArticleParseError as err:
                warnings.append(f"{err.reason}; ignored")
                quality = None
        seen.add(url)
        items.append(
            RelatedItem(
                url,
                title,
                excerpt,
                published_at,
                provider,
                quality,
                first_image_url(item.get("images")),
                kind,
            )
        )
    return tuple(items)


_PROVIDERS: dict[tuple[object, object], Provider | None] = {}


def _cached_provider(value: object, index: int) -> Provider | None:
    """``provider_value`` for related items, remembered by (name, domain): a few hundred outlets
    recur across ~100k entries."""
    if type(value) is dict:
        key = (value.get("name"), value.get("domain"))
        if type(key[0]) is str and (key[1] is None or type(key[1]) is str):
            found = _PROVIDERS.get(key, _MISSING)
            if found is _MISSING:
                found = provider_value(value, f"related[{index}].provider")
                if len(_PROVIDERS) < 10_000:
                    _PROVIDERS[key] = found
            return found  # type: ignore[return-value]
    return provider_value(value, f"related[{index}].provider")


_MISSING = object()
