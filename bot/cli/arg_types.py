"""Argument types of the query commands: each turns a command-line value into what the command
needs, or raises ``argparse.ArgumentTypeError`` with a message that says what is accepted (argparse
prints it with the option's name; no traceback)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from bot.services.query import EARLIEST, LATEST, MAX_OFFSET

__all__ = ["offset", "parse_when", "positive", "quality"]


def parse_when(text: str) -> datetime:
    """An ISO date/time (UTC unless it names a zone) or a relative ``7d`` / ``12h`` ago."""
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if text[:-1].isdigit() and text[:-1].isascii() and text[-1:] in units:
        try:
            value = datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:
            value = EARLIEST
        return max(value, EARLIEST)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use 2022-03-24, 2022-03-24T21:00, or 7d / 12h ago"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise argparse.ArgumentTypeError(f"{text!r}: dates run from 1970-01-02 to 9999-12-30")
    return value


def _whole(text: str, lo: int, hi: int | None, message: str) -> int:
    """``text`` as a whole number from ``lo`` to ``hi`` (None: no upper end), else ``message``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < lo or (hi is not None and value > hi):
        raise argparse.ArgumentTypeError(message)
    return value


def quality(text: str) -> int:
    return _whole(text, 0, 1000, "quality runs from 0 to about 190")


def positive(text: str) -> int:
    return _whole(text, 1, None, "must be at least 1")


def offset(text: str) -> int:
    return _whole(text, 0, MAX_OFFSET, f"must be from 0 to {MAX_OFFSET:,}")
