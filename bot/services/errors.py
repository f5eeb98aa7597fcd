"""User-facing errors: their message is safe to show to a Discord user or a terminal."""

from __future__ import annotations


class UserError(Exception):
    """Base class: something the user can fix; ``str(err)`` is a friendly message."""


class NotFound(UserError):
    pass


class BadInput(UserError):
    pass


class PermissionDenied(UserError):
    pass


class LimitReached(UserError):
    pass
