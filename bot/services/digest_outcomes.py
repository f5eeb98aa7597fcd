"""What a digest delivery can end in: the :class:`Poster` protocol the Discord layer implements,
its failures (:class:`DeliveryError` and subclasses, each message fit for ``/digest status``), and
the :class:`RunResult` of a run. No Discord types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain.digest_messages import MessagePlan


class DeliveryError(Exception):
    """A post failed; ``str(err)`` is a reason fit for ``/digest status``."""


class PostForbidden(DeliveryError):
    """403: the bot lacks access or a permission in the channel."""


class ChannelGone(DeliveryError):
    """404: the channel no longer exists (or the bot can no longer see that it does)."""


class PostTransient(DeliveryError):
    """5xx, a network error, or a rate limit the client gave up on: worth retrying."""


class PostRejected(DeliveryError):
    """400: Discord refused the message itself (e.g. an invalid embed url); the text names the
    offending field when Discord did ("In embeds.2.url: Not a well formed URL.")."""


class Poster(Protocol):
    async def post(self, channel_id: int, message: MessagePlan, *, nonce: str) -> int:
        """Post one message; return its id or raise a :class:`DeliveryError`."""
        ...


@dataclass(frozen=True, slots=True)
class RunResult:
    subscription_id: int
    # a RunStatus value; "noop" (nothing to do: already done, paused, in flight); "interrupted"
    # (shutdown: the run stays open and resumes at the next start); "planned" (left open to the
    # delivery workers: ``DigestService.hand_off``)
    status: str
    run_id: int | None = None
    stories: int = 0
    messages_sent: int = 0
    error: str | None = None
    dropped: tuple[int, ...] = ()  # stories Discord refused, left out of the digest
