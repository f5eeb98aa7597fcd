"""Helpers for ingest tests: a database in a temporary folder, an ingest with a set clock, row
lookups by url, and the child-process scripts of the parser-pool tests."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.services.ingest import IngestReport, IngestService
from bot.storage.db import open_database
from bot.storage.dialect import parse_target
from tests.support.backends import rows

ROOT = Path(__file__).resolve().parents[2]


async def ingest_at(
    db_path: Path | str, *paths: Path | str, now: float = 1_700_000_000
) -> IngestReport:
    """One ingest of ``paths`` whose clock reads ``now``; the service is closed afterwards."""
    async with open_database(db_path) as db, IngestService(db, workers=1, clock=lambda: now) as ing:
        return await ing.ingest([str(p) for p in paths])


def item(db_path: Path | str, url: str) -> dict[str, Any] | None:
    """The ``items`` row of ``url`` as a dict, on either backend (a path or a target)."""
    target = parse_target(str(db_path))
    if target.dialect == "postgresql":
        from bot.storage.pg import connect

        pg = connect(target.location)
        try:
            found = pg.execute("SELECT * FROM items WHERE url = ?", (url,)).fetchone()
            return None if found is None else dict(zip(found.keys(), found, strict=True))
        finally:
            pg.close()
    conn = sqlite3.connect(target.location)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM items WHERE url = ?", (url,)).fetchone()
        return None if row is None else dict(row)
    finally:
        conn.close()


def scalar(db_path: Path | str, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first value of the first row of ``sql`` (``?`` placeholders), on either backend."""
    found = rows(db_path, sql, params)
    return found[0][0] if found else None


def python_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NEWSBOT_CONFIG", None)
    return env


PYTHON = sys.executable
