"""What the services report as they work, for metrics and logs: a tiny event sink.

Services call these methods; they never import prometheus_client or aiohttp. The composition root
(``bot/cli/run.py``) passes an implementation (``bot.ops.metrics.Metrics``); the default,
:data:`NO_EVENTS`, does nothing. Every label is low-cardinality: no guild, channel or user ids.

:func:`log_context` attaches ``guild``, ``channel``, ``subscription`` and ``command`` to the log
records written inside it (the JSON log format shows them as fields).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

# fields every log record written inside log_context(...) carries (see bot.ops.logs)
LOG_FIELDS = ("guild", "channel", "subscription", "command")
_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "newsbot_log_context", default=None
)


def current_log_context() -> Mapping[str, Any]:
    return _context.get() or {}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (of :data:`LOG_FIELDS`; None values are left out) to the log records below."""
    unknown = set(fields) - set(LOG_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    merged = {**current_log_context(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def set_log_context(**fields: Any) -> None:
    """Like :func:`log_context` for the rest of the current task (an interaction's own task)."""
    unknown = set(fields) - set(LOG_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    _context.set({**current_log_context(), **{k: v for k, v in fields.items() if v is not None}})


class Events(Protocol):
    """The events newsbot reports. Implementations must be cheap and never raise."""

    def command_finished(self, command: str, kind: str, outcome: str, seconds: float) -> None:
        """An interaction handled: ``kind`` is ``command``, ``autocomplete`` or ``component``;
        ``outcome`` ``ok``, ``user_error`` (a friendly reply) or ``error``."""

    def digest_finished(self, outcome: str, reason: str, delay_seconds: float | None) -> None:
        """A digest run ended: ``outcome`` ``posted``, ``skipped`` or ``failed``; ``reason`` one
        of a few words (``""`` when posted; ``empty``, ``missed``; ``forbidden``,
        ``channel_gone``, ``transient``, ``other``); ``delay_seconds`` from the scheduled time to
        the first message (posted scheduled runs only, else None)."""

    def ingest_finished(self, files: Mapping[str, int], seconds: float) -> None:
        """An ingest run ended; ``files`` counts files by outcome (``new``, ``updated``,
        ``unchanged``, ``rejected``)."""

    def feed_fetched(self, status: str, seconds: float) -> None:
        """A feed fetch ended: ``status`` is the HTTP status class or a word (``200``, ``304``,
        ``4xx``, ``5xx``, ``timeout``, ``error``, ``refused``); ``seconds`` its duration."""

    def feed_paused(self, reason: str) -> None:
        """A feed was paused after repeated failures (``reason`` a word such as ``gone``)."""


class NoEvents:
    """The default sink: drops everything."""

    def command_finished(self, command: str, kind: str, outcome: str, seconds: float) -> None:
        return None

    def digest_finished(self, outcome: str, reason: str, delay_seconds: float | None) -> None:
        return None

    def ingest_finished(self, files: Mapping[str, int], seconds: float) -> None:
        return None

    def feed_fetched(self, status: str, seconds: float) -> None:
        return None

    def feed_paused(self, reason: str) -> None:
        return None


NO_EVENTS: Events = NoEvents()


def delivery_reason(error: BaseException) -> str:
    """A low-cardinality reason for a failed digest post."""
    from bot.services.digest_delivery import ChannelGone, PostForbidden, PostTransient

    if isinstance(error, PostForbidden):
        return "forbidden"
    if isinstance(error, ChannelGone):
        return "channel_gone"
    if isinstance(error, PostTransient):
        return "transient"
    return "other"
