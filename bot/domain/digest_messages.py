"""Digest messages, pure: text made safe for Discord, one embed per story, and the split of a
digest into as few messages as Discord allows (10 embeds and 6000 characters per message).

Library-neutral: the Discord layer turns :class:`EmbedSpec` into ``discord.Embed`` unchanged.
Plans round-trip through JSON for the delivery ledger.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from urllib.parse import quote, urlsplit, urlunsplit

from bot.domain.display import no_mentions, safe_url, shorten, squash
from bot.domain.views import StoryRow

EMBEDS_PER_MESSAGE = 10
CHARS_PER_MESSAGE = 6000
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
EXCERPT_LIMIT = 600
# Markdown escaping without discord.py (the domain does not import it): every inline marker, and
# a line-start marker; the Discord layer's own ``bot.ui.text.md`` uses discord.py's rules.
_MD_ANY = re.compile(r"([\\*_~`|\[\]])")
_MD_START = re.compile(r"^([>#-]|\d+\.|\+)")
# Defence in depth at render: C0/C1 controls (NUL included; tabs and newlines are folded by
# ``squash``), zero-width and bidirectional overrides never reach a digest.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff]"
)
_URL_SAFE = "/?#[]@!$&'*+,;=:%~"
NONCE_LIMIT = 25  # Discord's longest nonce


def no_controls(text: str | None) -> str:
    return _CONTROL.sub("", text or "")


def link(url: str | None) -> str | None:
    """A link Discord accepts: http(s) only (``safe_url``), the host IDNA-encoded (punycode),
    anything else non-ASCII percent-encoded; None when the url cannot be encoded."""
    url = safe_url(url)
    if url is None:
        return None
    if url.isascii():
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        ascii_host = host.encode("idna").decode("ascii")
        netloc = parts.netloc.rsplit("@", 1)
        userinfo = quote(netloc[0], safe=_URL_SAFE) + "@" if len(netloc) == 2 else ""
        port = f":{parts.port}" if parts.port is not None else ""
        if ":" in ascii_host:
            ascii_host = f"[{ascii_host}]"
        out = urlunsplit(
            (
                parts.scheme,
                userinfo + ascii_host + port,
                quote(parts.path, safe=_URL_SAFE),
                quote(parts.query, safe=_URL_SAFE),
                quote(parts.fragment, safe=_URL_SAFE),
            )
        )
    except (UnicodeError, ValueError):
        return None
    return out if out.isascii() and len(out) <= 2000 else None


def part_nonce(run_id: int, position: int) -> str:
    """The nonce of one message part of a ledger run: the same on every attempt (so Discord
    drops a repeat), different for every part, within Discord's 25 characters."""
    nonce = f"nb{run_id}.{position}"  # SQLite ids have at most 19 digits: at most 25 characters
    if len(nonce) > NONCE_LIMIT:
        raise ValueError(f"nonce {nonce!r} is longer than Discord's {NONCE_LIMIT} characters")
    return nonce


def plain_text(text: str | None, limit: int) -> str:
    """Article text for places without markdown (footers): one line, mentions neutralised."""
    return no_mentions(shorten(squash(no_controls(text), limit), limit))


def md_text(text: str | None, limit: int) -> str:
    """Article text for markdown places: one line, shortened, then markdown escaped and mentions
    neutralised (so it may grow a little past ``limit``; callers leave room)."""
    out = shorten(squash(no_controls(text), limit), limit)
    return no_mentions(_MD_START.sub(r"\\\1", _MD_ANY.sub(r"\\\1", out)))


@dataclass(frozen=True, slots=True)
class EmbedSpec:
    """A library-neutral embed; the Discord layer turns it into ``discord.Embed``."""

    title: str
    url: str | None = None
    description: str | None = None
    footer: str | None = None
    timestamp: datetime | None = None
    thumbnail_url: str | None = None
    color: int | None = None

    def size(self) -> int:
        """Characters counted against Discord's 6000 per message."""
        return len(self.title) + len(self.description or "") + len(self.footer or "")


@dataclass(frozen=True, slots=True)
class MessagePlan:
    content: str | None
    embeds: tuple[EmbedSpec, ...] = ()
    story_ids: tuple[int, ...] = ()

    def size(self) -> int:
        return sum(e.size() for e in self.embeds)


def coverage_line(story: StoryRow, providers: Sequence[str], shown: int = 3) -> str:
    """ "Reuters, The Verge, BBC and 2 more (5 outlets · 6 articles)": the names, then the one
    coverage count every surface shows (:attr:`StoryRow.coverage`)."""
    names = list(providers) or ([story.lead.provider] if story.lead.provider else [])
    head = ", ".join(names[:shown])
    extra = len(names) - shown
    outlets = f"{head} and {extra} more" if extra > 0 else head
    return f"{outlets} ({story.coverage})" if outlets else story.coverage


def story_embed(
    story: StoryRow, providers: Sequence[str] = (), color: int | None = None
) -> EmbedSpec:
    """One story: lead title and link, excerpt, coverage line; always within embed limits."""
    lead = story.lead
    parts = [md_text(lead.excerpt, EXCERPT_LIMIT)] if lead.excerpt else []
    parts.append(f"**Coverage:** {md_text(coverage_line(story, providers), 900)}")
    footer = [f"quality {story.best_quality}"] if story.best_quality is not None else []
    if story.topics:
        footer.append(", ".join(story.topics[:5]))
    footer.append(f"story #{story.id}")
    return EmbedSpec(
        title=shorten(md_text(lead.title, 240), TITLE_LIMIT) or f"Story #{story.id}",
        url=link(lead.url),
        description="\n\n".join(parts),
        footer=plain_text(" · ".join(footer), 500),
        timestamp=story.last_published_at,
        thumbnail_url=link(lead.image_url),
        color=color,
    )


def header_text(name: str, local_date: date, count: int) -> str:
    day = f"{local_date:%A} {local_date.day} {local_date:%B %Y}"
    stories = "nothing new today" if count == 0 else f"{count} stor{'y' if count == 1 else 'ies'}"
    return f"**{md_text(name, 100)}** · {day} · {stories}"


def plan_messages(
    header: str, embeds: Sequence[EmbedSpec], story_ids: Sequence[int]
) -> tuple[MessagePlan, ...]:
    """Pack the header (as the first message's content) and the embeds, in order, into as few
    messages as Discord allows: at most 10 embeds and 6000 embed characters per message.

    Greedy filling is optimal for an order-preserving split. Every embed is already within its own
    limits (at most 256 + 4096 + 2048 characters), so each fits a message alone.
    """
    groups: list[list[int]] = []
    size = 0
    for i, embed in enumerate(embeds):
        if (
            not groups
            or len(groups[-1]) >= EMBEDS_PER_MESSAGE
            or size + embed.size() > (CHARS_PER_MESSAGE)
        ):
            groups.append([])
            size = 0
        groups[-1].append(i)
        size += embed.size()
    if not groups:
        return (MessagePlan(header),)
    return tuple(
        MessagePlan(
            header if n == 0 else None,
            tuple(embeds[i] for i in group),
            tuple(story_ids[i] for i in group),
        )
        for n, group in enumerate(groups)
    )


_HEADER_COUNT = re.compile(r" · (\d+ stor(?:y|ies)|nothing new today)$")
_EMBED_INDEX = re.compile(r"\bembeds\.(\d+)\b")
_MAX_FIELD_INDEX = 10


def _recount(content: str | None, count: int) -> str | None:
    if content is None:
        return None
    stories = "nothing new today" if count == 0 else f"{count} stor{'y' if count == 1 else 'ies'}"
    return _HEADER_COUNT.sub(f" · {stories}", content)


def without_refused(
    messages: Sequence[MessagePlan], position: int, error: str
) -> tuple[tuple[MessagePlan, ...], tuple[int, ...]] | None:
    """The plan with the part at ``position`` (refused by Discord with ``error``, e.g. "In
    embeds.2.url: Not a well formed URL.") re-rendered without the offending story.

    The embeds named in the error are dropped; when the error names none, a part of several
    embeds is split in two (the next attempt narrows it down), and a part of one embed drops it.
    Returns (new plan, ids of the dropped stories), or None when nothing can be dropped (the
    part has no embed: the header itself was refused). Parts before ``position`` are unchanged.
    """
    part = messages[position]
    if not part.embeds:
        return None
    named = {int(i) for i in _EMBED_INDEX.findall(error) if int(i) < len(part.embeds)}
    before, after = tuple(messages[:position]), tuple(messages[position + 1 :])
    if not named and len(part.embeds) > 1:
        half = len(part.embeds) // 2
        first = MessagePlan(part.content, part.embeds[:half], part.story_ids[:half])
        second = MessagePlan(None, part.embeds[half:], part.story_ids[half:])
        return (*before, first, second, *after), ()
    drop = named or {0}
    kept = [i for i in range(len(part.embeds)) if i not in drop]
    dropped = tuple(part.story_ids[i] for i in sorted(drop) if i < len(part.story_ids))
    new = MessagePlan(
        part.content,
        tuple(part.embeds[i] for i in kept),
        tuple(part.story_ids[i] for i in kept if i < len(part.story_ids)),
    )
    middle = (new,) if new.content or new.embeds else ()
    plan = (*before, *middle, *after)
    if plan and plan[0].content is not None:
        count = sum(len(m.story_ids) for m in plan)
        plan = (replace(plan[0], content=_recount(plan[0].content, count)), *plan[1:])
    return plan, dropped


# -- ledger payloads -----------------------------------------------------------------------------
def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def plan_to_json(messages: Sequence[MessagePlan]) -> list[dict]:
    """The message plan as stored in the ledger (JSON-safe)."""
    return [
        {
            "content": m.content,
            "story_ids": list(m.story_ids),
            "embeds": [
                {
                    "title": e.title,
                    "url": e.url,
                    "description": e.description,
                    "footer": e.footer,
                    "timestamp": _ts(e.timestamp),
                    "thumbnail_url": e.thumbnail_url,
                    "color": e.color,
                }
                for e in m.embeds
            ],
        }
        for m in messages
    ]


def plan_from_json(data: Sequence[dict]) -> tuple[MessagePlan, ...]:
    out = []
    for m in data:
        embeds = []
        for e in m.get("embeds", ()):
            ts = e.get("timestamp")
            embeds.append(
                EmbedSpec(
                    title=e["title"],
                    url=e.get("url"),
                    description=e.get("description"),
                    footer=e.get("footer"),
                    timestamp=None if ts is None else datetime.fromtimestamp(ts, UTC),
                    thumbnail_url=e.get("thumbnail_url"),
                    color=e.get("color"),
                )
            )
        out.append(MessagePlan(m.get("content"), tuple(embeds), tuple(m.get("story_ids", ()))))
    return tuple(out)
