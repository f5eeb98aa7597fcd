"""Helpers for ingest tests: a database in a temporary folder, an ingest with a set clock, row
lookups by url, and the child-process scripts of the parser-pool tests."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

from bot.services.ingest import IngestReport, IngestService
from bot.storage.db import open_database

ROOT = Path(__file__).resolve().parents[2]


async def ingest_at(db_path: Path, *paths: Path | str, now: float = 1_700_000_000) -> IngestReport:
    """One ingest of ``paths`` whose clock reads ``now``; the service is closed afterwards."""
    async with open_database(db_path) as db, IngestService(db, workers=1, clock=lambda: now) as ing:
        return await ing.ingest([str(p) for p in paths])


def item(db_path: Path, url: str) -> dict[str, Any] | None:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM items WHERE url = ?", (url,)).fetchone()
        return None if row is None else dict(row)
    finally:
        conn.close()


def scalar(db_path: Path, sql: str, params: tuple = ()) -> Any:
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def python_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NEWSBOT_CONFIG", None)
    return env


PYTHON = sys.executable
