"""OPML 1.0/2.0 subscription lists: read the feed outlines of a file, write one.

Pure. Reading refuses documents that declare entities (see ``parse.declares_entities``) and never
fetches anything (ElementTree's expat parser does not load external entities).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import quoteattr

from bot.ingest.feeds.parse import declares_entities

__all__ = ["OpmlError", "OpmlOutline", "read_opml", "write_opml"]


class OpmlError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class OpmlOutline:
    url: str
    title: str | None = None
    topics: tuple[str, ...] = ()  # OPML "category" (comma-separated) and enclosing folders


def read_opml(data: bytes) -> list[OpmlOutline]:
    """Every outline with an ``xmlUrl``, folders' titles becoming topics."""
    if declares_entities(data):
        raise OpmlError("refused: the document declares XML entities")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not valid XML: {exc}") from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"not an OPML document: the root element is <{root.tag}>")
    body = root.find("body")
    if body is None:
        raise OpmlError("not an OPML document: no <body>")
    out: list[OpmlOutline] = []

    def walk(node: ET.Element, folders: tuple[str, ...], depth: int) -> None:
        if depth > 50:
            raise OpmlError("outlines nest more than 50 levels")
        for child in node.findall("outline"):
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            title = (child.get("title") or child.get("text") or "").strip() or None
            if url:
                cats = [c.strip().strip("/") for c in (child.get("category") or "").split(",")]
                topics = tuple(dict.fromkeys([*folders, *(c for c in cats if c)]))
                out.append(OpmlOutline(url, title, topics))
            else:
                walk(child, (*folders, title) if title else folders, depth + 1)

    walk(body, (), 0)
    return out


def write_opml(outlines: Sequence[OpmlOutline], now: datetime, title: str = "newsbot feeds") -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{now.strftime('%a, %d %b %Y %H:%M:%S GMT')}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for o in outlines:
        attrs = f'type="rss" text={quoteattr(o.title or o.url)} xmlUrl={quoteattr(o.url)}'
        if o.title:
            attrs += f" title={quoteattr(o.title)}"
        if o.topics:
            attrs += f" category={quoteattr(','.join(o.topics))}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
