"""A parse function for parser-pool tests whose worker dies (as a native crash would) on any file
named ``crash.md``; other files are parsed normally. Picklable by reference for spawned workers."""

from __future__ import annotations

import os

from bot.ingest.wire import Packed, parse_batch_packed


def parse_or_die(jobs: list[tuple[str, str | None]], max_bytes: int) -> list[Packed]:
    if any(os.path.basename(path) == "crash.md" for path, _ in jobs):
        os._exit(70)
    return parse_batch_packed(jobs, max_bytes)
