"""Terminal output for the CLI: JSON, tables, progress, warnings. Only the CLI prints.

Results go to stdout, errors and warnings to stderr. Tables are drawn by rich, which fits them to
the terminal's width (80 columns when the output is not a terminal, or ``$COLUMNS``); article text
is never read as rich markup. Times in JSON are ISO 8601 UTC without microseconds.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.domain.display import plural

__all__ = [
    "ProgressBar",
    "console",
    "err_console",
    "human_size",
    "iso",
    "make_table",
    "plural",
    "print_json",
    "say",
    "shorten",
    "table",
    "warn",
]


def iso(value: datetime | None) -> str | None:
    """``2022-03-24T21:38:00Z``: UTC, whole seconds."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any, out: TextIO | None = None) -> None:
    """One JSON document on stdout (or ``out``)."""
    out = out or sys.stdout
    out.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2))
    out.write("\n")


def console(out: TextIO | None = None) -> Console:
    """A rich console on ``out`` (default stdout) that never interprets markup or emoji codes."""
    return Console(
        file=out or sys.stdout, markup=False, emoji=False, highlight=False, soft_wrap=False
    )


def err_console() -> Console:
    return console(sys.stderr)


def say(text: str, out: TextIO | None = None) -> None:
    """One line of result text, wrapped to the terminal."""
    console(out).print(Text(text))


def warn(text: str) -> None:
    """A warning or error on stderr: one line, never wrapped (so that it greps whole)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


WIDE = 120  # columns from which tables also show each item's url


def human_size(n: int) -> str:
    """``512 bytes``, ``1.5 KB``, ``23.4 MB`` (powers of 1024)."""
    if n < 1024:
        return plural(n, "byte")
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def make_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    wrap: Sequence[str] = (),
    max_width: dict[str, int] | None = None,
    width: int | None = None,
) -> Table:
    """A table whose columns fit the terminal: numbers right-aligned, long text cut with "…"
    (or wrapped, for the columns named in ``wrap``)."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    last = len(headers) - 1
    natural = (
        sum(
            max([len(h), *(max(map(len, c[i].split("\n"))) for c in cells)])
            for i, h in enumerate(headers)
        )
        + 2 * last
    )
    # Too wide for the terminal: the flexible columns share what the others leave.
    squeeze = natural > (width or console().width)
    t = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=squeeze)
    for i, h in enumerate(headers):
        numeric = bool(rows) and all(_is_number(r[i]) for r in rows if r[i] not in (None, ""))
        flexible = h in wrap or i == last
        widest = max([len(h), *(max(map(len, c[i].split("\n"))) for c in cells)])
        cap = (max_width or {}).get(h)
        t.add_column(
            h,
            justify="right" if numeric else "left",
            overflow="fold" if h in wrap else "ellipsis",
            no_wrap=h not in wrap,
            # short columns keep their width; the flexible ones (the last) take what is left
            min_width=None if flexible else min(widest, cap or 24),
            max_width=cap,
            ratio=1 if flexible and squeeze else None,
        )
    for row in cells:
        t.add_row(*(Text(v) for v in row))
    return t


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    out: TextIO | None = None,
    *,
    wrap: Sequence[str] = (),
    max_width: dict[str, int] | None = None,
) -> None:
    """Print a table that fits the terminal (see :func:`make_table`)."""
    console(out).print(make_table(headers, rows, wrap=wrap, max_width=max_width))


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.done = 0
        self.total = 0
        self._last = 0.0
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._progress = Progress(
                self.label,
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream, markup=False),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
