"""Log formatting: ``text`` (one human line) or ``json`` (one object a line), secrets redacted.

JSON lines carry ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message`` and, where known,
``guild``, ``channel``, ``subscription`` and ``command`` (from ``extra=`` or from
:func:`bot.services.events.log_context`), plus ``exception`` when there is one. Every secret
given to :func:`install` (the Discord token) is replaced by ``[redacted]`` in the final text of
either format, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bot.services.events import LOG_FIELDS, current_log_context

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"
REDACTED = "[redacted]"


class ContextFilter(logging.Filter):
    """Copy the log context (guild, channel, subscription, command) onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_log_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        parts = [f"{k}={getattr(record, k)}" for k in LOG_FIELDS if hasattr(record, k)]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # short strings would redact ordinary words: only real secrets (tokens are ~70 chars)
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            record.context = ""
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for key in LOG_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value if isinstance(value, int) else self.redact(str(value))
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self.redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


def make_handler(
    fmt: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    redact = Redactor(secrets)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    handler.addFilter(ContextFilter())
    return handler


def install(
    level: int, fmt: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> None:
    """Give the root logger one stderr handler in ``fmt`` at ``level`` (replacing one installed
    before). Like ``logging.basicConfig``, it leaves a root logger that already has other
    handlers alone (a test runner's capture)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "newsbot", False)]:
        root.removeHandler(old)
    if root.handlers:
        return
    handler = make_handler(fmt, secrets, stream)
    handler.newsbot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
