"""Feed bytes -> normalised articles: RSS 0.9x-2.0, RSS 1.0/RDF and Atom through feedparser, JSON
Feed 1.x through :mod:`bot.ingest.feeds.jsonfeed`.

Pure and synchronous (no I/O, no clock: ``now`` is an argument); :func:`parse_feed` is a top-level
function so that it runs in a thread or process pool, never in the event loop. A bad feed never
raises: its problems are returned as ``(kind, message)`` pairs, e.g. ``entry_without_link``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from bot.domain.feeds import FeedEntry
from bot.domain.models import Article, Image, Provider
from bot.ingest.feeds.html import cut, html_to_text
from bot.ingest.urls import canonical_url

__all__ = [
    "MAX_ENTRIES",
    "FeedParsed",
    "RawEntry",
    "declares_entities",
    "normalise_entries",
    "parse_feed",
]

MAX_ENTRIES = 500  # newest entries kept per fetch
TITLE_CHARS = 300
EXCERPT_CHARS = 500
TOPIC_CHARS = 60
MAX_TOPICS = 20
MAX_IMAGES = 4
_INPUT_CHARS = 200_000  # of one HTML field, read at most (1 MB titles are cut before parsing)

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ROOT_START = re.compile(rb"<[A-Za-z]")


@dataclass(slots=True)
class FeedParsed:
    title: str | None = None
    site_url: str | None = None
    entries: list[FeedEntry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0  # entries the feed held
    failed: bool = False  # the document is not a usable feed at all


@dataclass(slots=True)
class RawEntry:
    """An entry before normalisation, whatever its format."""

    link: str | None
    guid: str | None
    title: str | None
    summary: str | None
    published: datetime | None
    updated: datetime | None
    tags: Sequence[str] = ()
    images: Sequence[str] = ()


def _struct(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _http(url: str | None, base: str) -> str | None:
    """The canonical absolute http(s) form of ``url`` resolved against ``base``, or None."""
    if not url or not isinstance(url, str):
        return None
    try:
        return canonical_url(urljoin(base, url.strip()))
    except ValueError:
        return None


def declares_entities(body: bytes) -> bool:
    """Whether the prolog (everything before the root element) declares XML entities."""
    root = _ROOT_START.search(body)
    prolog = body if root is None else body[: root.start()]
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: look at the decoded text
        try:
            prolog = body.decode("utf-16").encode("utf-8", "replace")
            root = _ROOT_START.search(prolog)
            prolog = prolog if root is None else prolog[: root.start()]
        except UnicodeDecodeError:
            return False
    return _ENTITY_DECL.search(prolog) is not None


def is_json(body: bytes, content_type: str | None) -> bool:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in ("application/feed+json", "application/json"):
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _feedparser_entries(body: bytes, url: str, content_type: str | None, out: FeedParsed):
    import feedparser  # imported in the worker: the event loop process never needs it

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    doc = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    feed = doc.get("feed", {})
    if not doc.entries and not feed.get("title") and doc.get("bozo"):
        reason = doc.get("bozo_exception")
        out.failed = True
        out.problems.append(
            (
                "not_a_feed",
                f"not an RSS, Atom or JSON feed (no title, no entries; parser: {reason})",
            )
        )
        return []
    out.title = html_to_text(feed.get("title"), limit=_INPUT_CHARS) or None
    out.site_url = _http(feed.get("link"), url)
    raws = []
    for e in doc.entries:
        images: list[str] = []
        for key in ("media_thumbnail", "media_content"):
            for media in e.get(key) or ():
                medium = media.get("medium") or ""
                mtype = media.get("type") or ""
                if key == "media_thumbnail" or medium == "image" or mtype.startswith("image/"):
                    images.append(media.get("url") or "")
        for link in e.get("links") or ():
            if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
                images.append(link.get("href") or "")
        summary = e.get("summary")
        if not summary and e.get("content"):
            summary = e.content[0].get("value")
        link = e.get("link")
        if not link:
            for alt in e.get("links") or ():
                if alt.get("rel", "alternate") == "alternate" and alt.get("href"):
                    link = alt["href"]
                    break
        guid = e.get("id")
        if not link and guid and e.get("guidislink", False):
            link = guid
        raws.append(
            RawEntry(
                link=link,
                guid=guid,
                title=e.get("title"),
                summary=summary,
                published=_struct(dict.get(e, "published_parsed")),
                updated=_struct(dict.get(e, "updated_parsed")),
                tags=[t.get("term") or t.get("label") or "" for t in e.get("tags") or ()],
                images=images,
            )
        )
    return raws


def _topics(configured: Iterable[str], tags: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for raw in (*configured, *tags):
        name = cut(html_to_text(raw, limit=1000), TOPIC_CHARS) if raw else ""
        if name and name.casefold() not in seen and len(seen) < MAX_TOPICS:
            seen[name.casefold()] = name
    return tuple(seen.values())


def normalise_entries(
    raws: Sequence[RawEntry],
    *,
    feed_url: str,
    provider: Provider | None,
    topics: Sequence[str],
    now: datetime,
    out: FeedParsed,
    max_entries: int = MAX_ENTRIES,
) -> None:
    """Turn raw entries into articles in ``out.entries``; skipped ones become problems."""
    out.total = len(raws)
    ordered = list(raws)
    if len(ordered) > max_entries:
        # newest first; entries without a date keep their place after the dated ones
        ordered.sort(key=lambda r: -((r.published or r.updated or _EPOCH).timestamp()))
        dropped = len(ordered) - max_entries
        ordered = ordered[:max_entries]
        out.problems.append(
            (
                "too_many_entries",
                f"the feed holds {len(raws)} entries: kept the newest {max_entries}, "
                f"dropped {dropped}",
            )
        )
    no_link = long_titles = 0
    seen: set[str] = set()
    for raw in ordered:
        url = _http(raw.link, feed_url)
        if url is None:
            no_link += 1
            continue
        title = html_to_text(raw.title, limit=_INPUT_CHARS)
        excerpt = html_to_text(raw.summary, limit=_INPUT_CHARS) or None
        if len(title) > TITLE_CHARS:
            long_titles += 1
        if not title:
            title = excerpt or url
        title = cut(title, TITLE_CHARS)
        if excerpt is not None:
            excerpt = cut(excerpt, EXCERPT_CHARS)
            if excerpt == title:
                excerpt = None
        published = raw.published or raw.updated or now
        published = min(published, now)
        guid = (raw.guid or "").strip()[:2000] or url
        if guid in seen:
            continue  # the same entry twice in one document: keep the first
        seen.add(guid)
        images: list[Image] = []
        for image in raw.images:
            image_url = _http(image, feed_url)
            if image_url is not None and image_url not in {i.url for i in images}:
                images.append(Image(image_url))
            if len(images) >= MAX_IMAGES:
                break
        article = Article(
            url=url,
            title=title,
            published_at=published,
            excerpt=excerpt,
            provider=provider,
            topics=_topics(topics, raw.tags),
            images=tuple(images),
        )
        out.entries.append(FeedEntry(guid, article))
    if no_link:
        out.problems.append(
            ("entry_without_link", f"{no_link} entries skipped: no usable http(s) link")
        )
    if long_titles:
        out.problems.append(
            ("title_cut", f"{long_titles} titles longer than {TITLE_CHARS} characters were cut")
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _provider(title: str | None, site_url: str | None, feed_url: str) -> Provider | None:
    host = urlsplit(site_url or feed_url).hostname
    domain = host[4:] if host and host.startswith("www.") else host
    name = cut(title, 100) if title else domain
    return Provider(name, domain) if name else None


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None,
    topics: Sequence[str],
    now: datetime,
    max_entries: int = MAX_ENTRIES,
) -> FeedParsed:
    """Parse a fetched feed document; never raises for bad input."""
    out = FeedParsed()
    if not body.strip():
        out.failed = True
        out.problems.append(("not_a_feed", "the response body is empty"))
        return out
    try:
        if is_json(body, content_type):
            from bot.ingest.feeds.jsonfeed import JsonFeedError, parse_json_feed

            try:
                raws, out.title, site = parse_json_feed(body)
            except JsonFeedError as exc:
                out.failed = True
                out.problems.append(("not_a_feed", str(exc)))
                return out
            out.site_url = _http(site, url)
        else:
            if declares_entities(body):
                out.failed = True
                out.problems.append(
                    (
                        "entity_declarations",
                        "refused: the document declares XML entities (a DTD internal subset); "
                        "feeds never need them and they are how entity-expansion attacks work",
                    )
                )
                return out
            raws = _feedparser_entries(body, url, content_type, out)
            if out.failed:
                return out
        provider = _provider(out.title, out.site_url, url)
        normalise_entries(
            raws,
            feed_url=url,
            provider=provider,
            topics=topics,
            now=now,
            out=out,
            max_entries=max_entries,
        )
    except RecursionError:
        out.failed = True
        out.problems.append(("not_a_feed", "the document nests too deeply"))
    return out


def parse_feeds(jobs: list[tuple[bytes, str, str | None, tuple[str, ...], datetime]]):
    """``parse_feed`` for each job: one call per pool hop."""
    return [parse_feed(*job) for job in jobs]
