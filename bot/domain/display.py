"""Library-neutral text safety for anything shown in Discord: whitespace folding, shortening,
neutralised mentions, and http(s)-only links. Pure; used by the Discord layer (``bot.ui.text``)
and by digest rendering in the domain (``bot.domain.digest_messages``), so both apply one rule.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ELLIPSIS = "…"
ZWSP = "\u200b"
MAX_URL = 2000

_WS = re.compile(r"\s+")
# "<@123>", "<@&123>", "<#123>", "</cmd:1>", "<:emoji:1>", "<a:emoji:1>", "<t:1:R>": neutralised
_ANGLE = re.compile(r"<(?=[@#/:at])")
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


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 outlet``, ``2 outlets``, ``1 story``, ``3 stories`` (thousands separated)."""
    word = one if n == 1 else (many or one + "s")
    return f"{n:,} {word}"
