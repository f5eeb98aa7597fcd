"""User-facing errors: their message is safe to show to a Discord user or a terminal.

A service never names a surface's commands in a message (a slash command means nothing in a
terminal). When a listing would help, it sets ``hint`` to one of the ``HINT_*`` names, and each
surface adds its own words: the Discord layer "Try /topics for the list.", the CLI "Run `newsbot
topics` for the list." (see :data:`bot.ui.tree.HINTS` and :data:`bot.cli.errors.HINTS`).
"""

from __future__ import annotations

HINT_TOPICS = "topics"  # the list of topics
HINT_DIGESTS = "digests"  # the server's digest subscriptions
HINT_STORIES = "stories"  # the ranked stories, with their ids


class UserError(Exception):
    """Base class: something the user can fix; ``str(err)`` is a friendly message."""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(UserError):
    pass


class BadInput(UserError):
    pass


class PermissionDenied(UserError):
    pass


class LimitReached(UserError):
    pass
