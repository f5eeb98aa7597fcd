"""Discord's message and embed limits, enforced in one place that every embed builder goes through.

:func:`fit_message` clamps every part of every embed, keeps at most 25 fields and 10 embeds, and
shrinks the message to 6000 characters in total, marking every cut with "…" or "… and N more".
:func:`join_lines` packs list lines into one text part with the same "… and N more" marker.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.ui.text import ELLIPSIS, shorten

TITLE = 256
DESCRIPTION = 4096
FIELD_NAME = 256
FIELD_VALUE = 1024
FIELDS = 25
FOOTER = 2048
AUTHOR = 256
EMBEDS = 10
TOTAL = 6000
CONTENT = 2000
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100


def more(n: int) -> str:
    return f"{ELLIPSIS} and {n} more"


def join_lines(
    lines: Sequence[str], limit: int, *, sep: str = "\n", total: int | None = None
) -> str:
    """As many whole ``lines`` as fit in ``limit`` characters, then "… and N more".

    ``total`` is the number of items the lines stand for when more exist than were passed in. A
    first line longer than ``limit`` is shortened rather than dropped.
    """
    total = max(total or 0, len(lines))
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        add = len(line) + (len(sep) if out else 0)
        rest = total - (i + 1)
        reserve = len(sep) + len(more(rest)) if rest else 0
        if used + add + reserve > limit:
            break
        out.append(line)
        used += add
    if not out and lines:
        rest = total - 1
        reserve = len(sep) + len(more(rest)) if rest else 0
        out.append(shorten(lines[0], max(limit - reserve, 1)))
    if len(out) < total:
        out.append(more(total - len(out)))
    return sep.join(out)


def _cut(text: str | None, limit: int) -> str:
    return shorten(text or "", limit)


def _clamp(embed: discord.Embed) -> discord.Embed:
    """One embed within its per-part limits (fields beyond 25 become one "… and N more")."""
    data = embed.to_dict()
    if "title" in data:
        data["title"] = _cut(data["title"], TITLE)
    if "description" in data:
        data["description"] = _cut(data["description"], DESCRIPTION)
    if "author" in data and "name" in data["author"]:
        data["author"]["name"] = _cut(data["author"]["name"], AUTHOR)
    if "footer" in data and "text" in data["footer"]:
        data["footer"]["text"] = _cut(data["footer"]["text"], FOOTER)
    fields = data.get("fields") or []
    if len(fields) > FIELDS:
        dropped = len(fields) - (FIELDS - 1)
        fields = [
            *fields[: FIELDS - 1],
            {"name": ELLIPSIS, "value": more(dropped), "inline": False},
        ]
    for f in fields:
        f["name"] = _cut(f.get("name") or ELLIPSIS, FIELD_NAME)
        f["value"] = _cut(f.get("value") or ELLIPSIS, FIELD_VALUE)
    if fields:
        data["fields"] = fields
    return discord.Embed.from_dict(data)


def _shrink(embed: discord.Embed, excess: int) -> int:
    """Cut up to ``excess`` characters from the embed's description, then its field values,
    longest first; return how many were cut."""
    cut = 0
    if embed.description and excess > 0:
        keep = max(len(embed.description) - excess, 0)
        before = len(embed.description)
        embed.description = shorten(embed.description, keep) if keep > 1 else ELLIPSIS
        cut += before - len(embed.description)
    order = sorted(range(len(embed.fields)), key=lambda i: -len(embed.fields[i].value or ""))
    for i in order:
        if cut >= excess:
            break
        f = embed.fields[i]
        value = f.value or ""
        keep = max(len(value) - (excess - cut), 1)
        new = shorten(value, keep) if keep > 1 else ELLIPSIS
        cut += len(value) - len(new)
        embed.set_field_at(i, name=f.name, value=new, inline=f.inline)
    return cut


def _hidden_note(n: int) -> discord.Embed:
    return discord.Embed(description=f"{more(n)} not shown")


def fit_message(embeds: Sequence[discord.Embed]) -> list[discord.Embed]:
    """Embeds that Discord accepts in one message: every limit applied, cuts marked."""
    out = [_clamp(e) for e in embeds]
    hidden = 0
    if len(out) > EMBEDS:
        hidden = len(out) - (EMBEDS - 1)
        out = out[: EMBEDS - 1]
    note = len(_hidden_note(10**6))  # room for the "… and N more not shown" note, if any
    excess = sum(len(e) for e in out) + (note if hidden else 0) - TOTAL
    for embed in reversed(out):  # the last embeds are the least important: cut them first
        if excess <= 0:
            break
        excess -= _shrink(embed, excess)
    while excess > 0 and len(out) > 1:  # titles and names alone are too long: drop whole embeds
        excess -= len(out.pop()) - (0 if hidden else note)
        hidden += 1
    if excess > 0 and out:  # one embed of titles and names only: shorten those
        e = out[0]
        for i, f in enumerate(e.fields):
            e.set_field_at(i, name=shorten(f.name or ELLIPSIS, 64), value=f.value, inline=f.inline)
        excess = len(e) + (note if hidden else 0) - TOTAL
        if excess > 0 and e.title:
            e.title = shorten(e.title, max(len(e.title) - excess, 1))
    if hidden:
        out.append(_hidden_note(hidden))
    return out


def fit_content(text: str | None) -> str | None:
    return None if text is None else shorten(text, CONTENT)


def message_length(embeds: Sequence[discord.Embed]) -> int:
    return sum(len(e) for e in embeds)


def violations(embeds: Sequence[discord.Embed | dict], content: str | None = None) -> list[str]:
    """Every Discord limit one message breaks (empty when it is fine); checks payload dicts too."""
    found: list[str] = []
    if len(content or "") > CONTENT:
        found.append(f"content {len(content or '')} > {CONTENT}")
    if len(embeds) > EMBEDS:
        found.append(f"{len(embeds)} embeds > {EMBEDS}")
    total = 0
    for n, raw in enumerate(embeds):
        e = raw.to_dict() if isinstance(raw, discord.Embed) else raw
        parts = [
            ("title", e.get("title") or "", TITLE),
            ("description", e.get("description") or "", DESCRIPTION),
            ("footer", (e.get("footer") or {}).get("text") or "", FOOTER),
            ("author", (e.get("author") or {}).get("name") or "", AUTHOR),
        ]
        fields = e.get("fields") or []
        if len(fields) > FIELDS:
            found.append(f"embed {n}: {len(fields)} fields > {FIELDS}")
        for f in fields:
            parts.append(("field name", f.get("name") or "", FIELD_NAME))
            parts.append(("field value", f.get("value") or "", FIELD_VALUE))
            if not f.get("name") or not f.get("value"):
                found.append(f"embed {n}: empty field name or value")
        for name, text, limit in parts:
            total += len(text)
            if len(text) > limit:
                found.append(f"embed {n}: {name} {len(text)} > {limit}")
    if total > TOTAL:
        found.append(f"{total} characters in embeds > {TOTAL}")
    return found
