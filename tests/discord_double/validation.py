"""Discord's message limits, so that over-long digests fail here as they would on Discord.

Errors use Discord's shapes: 50006 "Cannot send an empty message" and 50035 "Invalid Form Body"
with an ``errors`` tree, which discord.py flattens into the exception text.
"""

from __future__ import annotations

from typing import Any

EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}

_EMBED_LIMITS = {"title": 256, "description": 4096}
_MAX_EMBED_TOTAL = 6000
_MAX_CHOICES = 25


def _too_long(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _invalid(errors: dict[str, Any]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def is_empty(body: dict[str, Any], files: dict[str, int]) -> bool:
    keys = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
    return not files and not any(body.get(k) for k in keys)


def message_errors(body: dict[str, Any]) -> dict[str, Any] | None:
    """The 50035 body for a create/edit message body over Discord's limits, else None."""
    errors: dict[str, Any] = {}
    content = body.get("content")
    if isinstance(content, str) and len(content) > 2000:
        errors["content"] = _too_long(2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = _too_long(10)
    total = 0
    for index, embed in enumerate(embeds):
        embed_errors = _embed_errors(embed)
        total += _embed_chars(embed)
        if embed_errors:
            errors.setdefault("embeds", {})[str(index)] = embed_errors
    if total > _MAX_EMBED_TOTAL:
        errors.setdefault("embeds", {})["_errors"] = [
            {
                "code": "MAX_EMBED_SIZE_EXCEEDED",
                "message": "Embed size exceeds maximum size of 6000",
            }
        ]
    components = body.get("components") or []
    if len(components) > 5 and not int(body.get("flags") or 0) & (1 << 15):
        errors["components"] = _too_long(5)
    return _invalid(errors) if errors else None


def choices_errors(body: dict[str, Any]) -> dict[str, Any] | None:
    """The 50035 body for an autocomplete result with too many choices, else None."""
    choices = (body.get("data") or {}).get("choices") or []
    if len(choices) > _MAX_CHOICES:
        return _invalid({"data": {"choices": _too_long(_MAX_CHOICES)}})
    return None


_BAD_URL = {"_errors": [{"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}]}


def _well_formed_url(url: Any) -> bool:
    """What Discord accepts as an embed link: an ASCII http(s) url with a host (a Unicode host
    must arrive IDNA-encoded) and no spaces or control characters."""
    if not isinstance(url, str) or not url.isascii():
        return False
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        return False
    scheme, sep, rest = url.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and bool(rest.split("/", 1)[0])


def _embed_errors(embed: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if embed.get("url") is not None and not _well_formed_url(embed["url"]):
        errors["url"] = _BAD_URL
    for key in ("thumbnail", "image"):
        url = (embed.get(key) or {}).get("url")
        if url is not None and not _well_formed_url(url):
            errors[key] = {"url": _BAD_URL}
    for key, limit in _EMBED_LIMITS.items():
        if len(embed.get(key) or "") > limit:
            errors[key] = _too_long(limit)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors["fields"] = _too_long(25)
    for index, field in enumerate(fields):
        field_errors = {}
        if len(field.get("name") or "") > 256:
            field_errors["name"] = _too_long(256)
        if len(field.get("value") or "") > 1024:
            field_errors["value"] = _too_long(1024)
        if field_errors:
            errors.setdefault("fields", {})[str(index)] = field_errors
    if len((embed.get("footer") or {}).get("text") or "") > 2048:
        errors["footer"] = {"text": _too_long(2048)}
    if len((embed.get("author") or {}).get("name") or "") > 256:
        errors["author"] = {"name": _too_long(256)}
    return errors


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        total += len(field.get("name") or "") + len(field.get("value") or "")
    return total
