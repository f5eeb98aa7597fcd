"""JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1): feedparser does not read it.

Validates the shape (an object with a ``version`` naming jsonfeed.org and a list of ``items``
objects) and returns raw entries for :func:`bot.ingest.feeds.parse.normalise_entries`. The body's
size is already capped by the fetcher; nesting depth is bounded by the JSON decoder (a
``RecursionError`` is reported by the caller).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.ingest.feeds.parse import RawEntry
from bot.ingest.values import parse_datetime

MAX_ITEMS = 100_000


class JsonFeedError(ValueError):
    pass


def _date(value: Any) -> datetime | None:
    """An RFC 3339 date of JSON Feed (a string), as an aware UTC datetime."""
    return parse_datetime(value) if isinstance(value, str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def parse_json_feed(body: bytes) -> tuple[list[RawEntry], str | None, str | None]:
    """(raw entries, feed title, home page url); :class:`JsonFeedError` if unusable."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise JsonFeedError(f"JSON feed is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JsonFeedError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise JsonFeedError("a JSON feed must be an object")
    version = doc.get("version")
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise JsonFeedError("not a JSON Feed: no 'version' naming https://jsonfeed.org/version/1.1")
    items = doc.get("items")
    if not isinstance(items, list):
        raise JsonFeedError("JSON feed 'items' must be a list")
    raws = []
    for item in items[:MAX_ITEMS]:
        if not isinstance(item, dict):
            raws.append(RawEntry(None, None, None, None, None, None))
            continue
        summary = _str(item.get("summary")) or _str(item.get("content_html"))
        if summary is None and _str(item.get("content_text")):
            summary = item["content_text"].replace("&", "&amp;").replace("<", "&lt;")
        raw_tags = item.get("tags")
        tags = [t for t in raw_tags if isinstance(t, str)] if isinstance(raw_tags, list) else []
        images: list[str] = [
            u for u in (item.get("image"), item.get("banner_image")) if isinstance(u, str) and u
        ]
        attachments = item.get("attachments")
        for att in attachments if isinstance(attachments, list) else ():
            if (
                isinstance(att, dict)
                and str(att.get("mime_type", "")).startswith("image/")
                and _str(att.get("url"))
            ):
                images.append(att["url"])
        guid = item.get("id")
        title = _str(item.get("title"))
        raws.append(
            RawEntry(
                link=_str(item.get("url")) or _str(item.get("external_url")),
                guid=str(guid) if isinstance(guid, str | int) and str(guid).strip() else None,
                title=title.replace("&", "&amp;").replace("<", "&lt;") if title else None,
                summary=summary,
                published=_date(item.get("date_published")),
                updated=_date(item.get("date_modified")),
                tags=tags,
                images=images,
            )
        )
    return raws, _str(doc.get("title")), _str(doc.get("home_page_url"))
