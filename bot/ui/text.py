"""Text for Discord output: markdown escaping (discord.py's rules), links and timestamps, on top
of the library-neutral helpers in ``bot.domain.display``."""

from __future__ import annotations

import re
from datetime import datetime

import discord

from bot.domain.display import ELLIPSIS, MAX_URL, ZWSP, no_mentions, safe_url, shorten, squash

# The Discord layer's one text module: the neutral helpers are re-exported from here.
__all__ = [
    "ELLIPSIS",
    "MAX_URL",
    "ZWSP",
    "link",
    "md",
    "no_mentions",
    "outlets",
    "plain",
    "safe_url",
    "shorten",
    "squash",
    "timestamp",
]

# List markers escape_markdown leaves alone ("1. ", "+ "); it handles "#", ">", "-", "*" itself.
_LIST_START = re.compile(r"^(\d+)\. |^\+ ")
_OPEN, _CLOSE = "\ue000", "\ue001"  # stand-ins for [ ] while escape_markdown runs


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
