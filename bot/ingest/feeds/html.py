"""HTML fragments (feed titles and summaries) -> plain text.

No markup survives, ``script``/``style`` (and similar) content is dropped, entities are decoded,
whitespace is collapsed. Input is cut before parsing so a hostile 1 MB title costs little.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["cut", "html_to_text"]

_DROP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg", "head"})
_BREAKS = frozenset(
    {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
)
_SPACE = re.compile(r"\s+")
_TAGLIKE = re.compile(r"[<&]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _DROP:
            self.skip += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(fragment: str | None, *, limit: int = 100_000) -> str:
    """Plain text of an HTML fragment, at most ``limit`` characters of input read."""
    if not fragment:
        return ""
    text = fragment[:limit]
    if _TAGLIKE.search(text) is not None:
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return _SPACE.sub(" ", text).strip()


def cut(text: str, limit: int) -> str:
    """``text`` cut at ``limit`` characters (at a word boundary when one is near), with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit * 0.6:
        head = head[:space]
    return head.rstrip(" ,;:.-") + "…"
