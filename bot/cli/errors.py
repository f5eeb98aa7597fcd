"""How the CLI reports failures: one line on stderr and a stable exit code (docs/cli.md).

Exit codes: 0 success; 1 something asked for was not found, or some input files were rejected;
2 usage error (a bad option or value, a bad config file, a database file that does not exist);
3 the database failed (disk full, unreadable file, locked too long); 130 interrupted by Ctrl-C;
143 stopped by SIGTERM.
"""

from __future__ import annotations

import errno
from pathlib import Path

from bot.services.errors import HINT_DIGESTS, HINT_STORIES, HINT_TOPICS, NotFound, UserError
from bot.storage.db import StorageBusy, StorageError
from bot.storage.dialect import TargetError, display_target, parse_target

EXIT_OK = 0
EXIT_NOT_FOUND = 1  # also: an ingest with rejected files
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

# What the CLI adds to a service's message when it carries a hint (bot.services.errors).
HINTS = {
    HINT_TOPICS: "Run `newsbot topics` for the list.",
    HINT_DIGESTS: "Run `newsbot digests list` for the list.",
    HINT_STORIES: "Run `newsbot stories` to see story ids.",
}


class MissingDatabase(UserError):
    """A read-only command was pointed at a database file that does not exist."""


def user_message(exc: UserError) -> str:
    text = str(exc)
    hint = HINTS.get(exc.hint or "")
    return f"{text} {hint}" if hint else text


def user_exit_code(exc: UserError) -> int:
    return EXIT_NOT_FOUND if isinstance(exc, NotFound) else EXIT_USAGE


def database_message(exc: BaseException, path: str) -> str:
    """One line for a database failure: what happened to which file, and what to do."""
    path = display_target(path)
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in str(exc):
        return (
            f"the disk holding {path} is full: nothing more was written. Free some space and run "
            "the command again (what was committed before is kept)."
        )
    if isinstance(exc, StorageBusy):
        return f"{path}: the database is busy (another newsbot is writing); try again shortly"
    if isinstance(exc, StorageError):
        return str(exc)
    return f"{path}: database error: {exc}"


def require_database(path: str) -> None:
    """Refuse a database file that does not exist (read-only commands never create one).
    A PostgreSQL database is a server's: opening it says whether it is there."""
    try:
        target = parse_target(path)
    except TargetError as exc:
        raise MissingDatabase(f"--db / NEWSBOT_DB / [database] url: {exc}") from None
    if target.dialect != "sqlite" or target.location == ":memory:":
        return
    if not Path(target.location).expanduser().is_file():
        raise MissingDatabase(
            f"no database at {path}. Load articles first (`newsbot ingest PATH` creates it), "
            "or point at another one with --db or NEWSBOT_DB."
        )
