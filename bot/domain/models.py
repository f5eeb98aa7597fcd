"""Domain objects shared by every layer.

All datetimes are timezone-aware and in UTC. Urls are canonical (see ``bot.ingest.urls``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


# Provider, Image and RelatedItem are NamedTuples rather than dataclasses: an ingest of the corpus
# moves ~100k related items from parser processes to the writer, and tuples pickle about seven
# times faster than frozen slotted dataclasses (see bench/ingest.py).
class Provider(NamedTuple):
    name: str
    domain: str | None = None


class Image(NamedTuple):
    url: str
    width: int | None = None
    height: int | None = None


class RelatedItem(NamedTuple):
    """Another outlet's coverage listed in an article's ``related`` list."""

    url: str
    title: str
    excerpt: str | None = None
    published_at: datetime | None = None
    provider: Provider | None = None
    quality: int | None = None
    image_url: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One article file, validated and normalised."""

    url: str
    title: str
    published_at: datetime
    excerpt: str | None = None
    quality: int | None = None
    heat: int | None = None
    provider: Provider | None = None
    category: str | None = None
    type: str | None = None
    topics: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    related: tuple[RelatedItem, ...] = ()
    removed: bool = False
    body: str = ""

    @property
    def image_url(self) -> str | None:
        return self.images[0].url if self.images else None


@dataclass(frozen=True, slots=True)
class ParsedArticle:
    """The parser's result: the article plus non-fatal notes (e.g. a dropped related item)."""

    article: Article
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file as read from disk: where, how big, when modified, and its content hash."""

    path: str
    size: int
    mtime_ns: int
    digest: str
