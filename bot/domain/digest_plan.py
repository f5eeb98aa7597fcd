"""Digest plans and runs, pure: the messages one digest will post, and its ledger row.

A plan is built from the selected stories (``digest_selection``) and split into messages
(``digest_messages``); the ledger records it, with its status, before anything is posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.domain.digest_messages import (
    EmbedSpec,
    MessagePlan,
    header_text,
    plan_messages,
    story_embed,
)
from bot.domain.digest_selection import Candidate, Window
from bot.domain.digest_subscription import Subscription


class RunStatus(StrEnum):
    PLANNED = "planned"  # intent recorded, nothing posted yet
    SENDING = "sending"  # some messages posted (their ids are in the ledger)
    SENT = "sent"
    EMPTY = "empty"  # nothing new; recorded (and a short note posted if configured)
    SKIPPED = "skipped"  # missed by more than the grace period
    FAILED = "failed"


OPEN_STATUSES = (RunStatus.PLANNED, RunStatus.SENDING)


@dataclass(frozen=True, slots=True)
class DigestPlan:
    subscription: Subscription
    local_date: date
    window: Window
    stories: tuple[Candidate, ...]
    messages: tuple[MessagePlan, ...] = field(default=())

    @property
    def story_ids(self) -> tuple[int, ...]:
        return tuple(c.story.id for c in self.stories)

    @property
    def channel_id(self) -> int:
        return self.subscription.channel_id


def build_plan(
    sub: Subscription,
    local_date: date,
    window: Window,
    stories: Sequence[Candidate],
    *,
    post_when_empty: bool,
    color: int | None = None,
    embeds: Sequence[EmbedSpec] | None = None,
) -> DigestPlan:
    """The messages of one digest; none when there is nothing new and no note is wanted.
    ``embeds`` (one per story, as :func:`story_embed` makes them) may be passed in precomputed."""
    header = header_text(sub.name, local_date, len(stories))
    if stories:
        if embeds is None:
            embeds = [story_embed(c.story, c.providers, color) for c in stories]
        messages = plan_messages(header, embeds, [c.story.id for c in stories])
    elif post_when_empty:
        messages = (MessagePlan(header),)
    else:
        messages = ()
    return DigestPlan(sub, local_date, window, tuple(stories), messages)


@dataclass(frozen=True, slots=True)
class DigestRun:
    """One ledger row: a digest's intent, its message plan and the messages already sent."""

    id: int
    subscription_id: int
    local_date: date
    kind: str  # "scheduled" or "manual"
    channel_id: int
    scheduled_for: datetime
    window: Window
    status: RunStatus
    story_ids: tuple[int, ...]
    messages: tuple[MessagePlan, ...]
    sent_message_ids: tuple[int, ...]  # by position; always a prefix of ``messages``
    error: str | None = None
    updated_at: datetime | None = None

    @property
    def remaining(self) -> tuple[int, ...]:
        """Positions of the messages still to send."""
        return tuple(range(len(self.sent_message_ids), len(self.messages)))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
