"""Pure text helpers for Discord output: escaping article text, safe links, shortening."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

import discord

ELLIPSIS = "…"
ZWSP = "\u200b"
MAX_URL = 2000

_WS = re.compile(r"\s+")
# "<@123>", "<@&123>", "<#123>", "</cmd:1>", "<:emoji:1>", "<a:emoji:1>", "<t:1:R>": neutralised
_ANGLE = re.compile(r"<(?=[@#/:at])")
# List markers escape_markdown leaves alone ("1. ", "+ "); it handles "#", ">", "-", "*" itself.
_LIST_START = re.compile(r"^(\d+)\. |^\+ ")
_OPEN, _CLOSE = "\ue000", "\ue001"  # stand-ins for [ ] while escape_markdown runs
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces
_URL_QUOTE = str.maketrans({"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", " ": "%20"})


def squash(text: str | None, limit: int | None = None) -> str:
    """Collapse every run of whitespace (newlines included) into one space.

    With ``limit``, only a prefix of a huge text is looked at (enough for ``limit`` characters
    unless the text is mostly whitespace), so a 140 KB excerpt costs no more than a short one.
    """
    text = text or ""
    if limit is not None and len(text) > 4 * limit + 64:
        text = text[: 4 * limit + 64]
    return _WS.sub(" ", text).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with "…" when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS


def no_mentions(text: str) -> str:
    """Break @everyone, @here, user/role/channel mentions by a zero-width space after '@' / '<'."""
    return _ANGLE.sub("<" + ZWSP, text.replace("@", "@" + ZWSP))


def plain(text: str | None, limit: int | None = None) -> str:
    """Article text for places Discord shows without markdown (author, footer, choices)."""
    out = squash(text, limit)
    if limit is not None:
        out = shorten(out, limit)
    return no_mentions(out)


def md(text: str | None, limit: int | None = None) -> str:
    """Article text escaped for markdown places (titles, descriptions, fields).

    Shortened *before* escaping so that an escape is never cut in half; the result may be slightly
    longer than ``limit`` (the backslashes), which the limits helper allows for.
    """
    out = squash(text, limit)
    if limit is not None:
        out = shorten(out, limit)
    out = out.replace(_OPEN, "").replace(_CLOSE, "").replace("[", _OPEN).replace("]", _CLOSE)
    out = discord.utils.escape_markdown(out)
    out = out.replace(_OPEN, "\\[").replace(_CLOSE, "\\]")
    out = _LIST_START.sub(lambda m: f"{m.group(1)}\\. " if m.group(1) else "\\+ ", out)
    return no_mentions(out)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) link without spaces or control characters, else None.

    Parentheses and angle brackets are percent-encoded so the url cannot end a markdown link early.
    """
    if not url or len(url) > MAX_URL:
        return None
    url = url.strip()
    if _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.translate(_URL_QUOTE)


def link(title: str | None, url: str | None, limit: int = 200) -> str:
    """A markdown link ``[title](url)`` with escaped text, or just the escaped text if the url is
    not http(s)."""
    text = md(title or "(untitled)", limit) or "(untitled)"
    target = safe_url(url)
    return f"[{text}]({target})" if target else text


def timestamp(dt: datetime | None, style: str = "R") -> str | None:
    """Discord's ``<t:UNIX:R>`` markup for an aware datetime."""
    if dt is None:
        return None
    return f"<t:{int(dt.timestamp())}:{style}>"


def outlets(n: int) -> str:
    return f"covered by {n} outlet{'' if n == 1 else 's'}"
