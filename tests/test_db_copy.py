"""``newsbot db copy SRC DST``: a database populated by real ingest, subscriptions and a digest
run moves SQLite -> PostgreSQL -> SQLite (and SQLite -> SQLite) with equal counts and equal
answers; non-empty targets, old sources and the same database are refused; --resume finishes
an interrupted copy."""

from __future__ import annotations

import json
import sqlite3
from datetime import time
from pathlib import Path

import pytest

from bot.domain import digest as d
from bot.storage.copy import TABLES, CopyError, copy_database
from bot.storage.db import open_database
from bot.storage.digest_ledger import SubscriptionRepository
from bot.storage.migrations import SCHEMA_VERSION
from tests.support.backends import PgServer, rows
from tests.support.cli import newsbot
from tests.support.copying import DAY1, answers, contents, counts, populate


@pytest.fixture
async def source(tmp_path: Path) -> str:
    path = str(tmp_path / "source.db")
    await populate(path, tmp_path)
    return path


async def test_sqlite_to_postgresql_and_back(source: str, tmp_path: Path, pg_server: PgServer):
    before, expected = counts(source), await answers(source)
    assert before["digest_messages"] > 0 and before["links"] > 0 and before["story_aliases"] >= 0
    pg = pg_server.fresh()
    try:
        report = copy_database(source, pg)
        assert report.ok and {t.table: t.target for t in report.tables} == before
        assert counts(pg) == before
        on_pg = await answers(pg)
        # ranking engines differ (bm25 / ts_rank): the search is compared as a set
        assert on_pg == expected
        back = str(tmp_path / "back.db")
        assert copy_database(pg, back).ok
        assert counts(back) == before and await answers(back) == expected
        assert contents(back) == contents(source)  # every value, through PostgreSQL and back
        # the full-text index was rebuilt on the SQLite copy
        assert rows(back, "SELECT count(*) FROM items_fts") == rows(
            source, "SELECT count(*) FROM items_fts"
        )
        # identity sequences continue after the copied ids
        async with open_database(pg) as db:
            sub = d.Subscription(0, 1, 2, "New", time(7, 0), "UTC")
            created, _ = await SubscriptionRepository(db).insert_unique(sub, DAY1, None)
        top = max(r[0] for r in rows(source, "SELECT id FROM digest_subscriptions"))
        assert created is not None and created.id > top
    finally:
        pg_server.drop(pg)


async def test_sqlite_to_sqlite_refusals_and_resume(source: str, tmp_path: Path) -> None:
    """SQLite to SQLite on purpose: a file copy between two SQLite databases."""
    target = str(tmp_path / "copy.db")
    partial = copy_database(source, target, tables=TABLES[:6])  # as if interrupted after six
    assert [t.table for t in partial.tables] == list(TABLES[:6])
    with pytest.raises(CopyError, match=r"is not empty .*--resume"):
        copy_database(source, target)
    report = copy_database(source, target, resume=True)
    skipped = {t.table for t in report.tables if t.skipped}
    empty = {t for t, n in counts(source).items() if n == 0}  # complete by count as well
    assert skipped == {"providers", "topics", "stories", "items", "item_topics", "images"} | empty
    assert "digest_runs" not in skipped
    assert report.ok and counts(target) == counts(source)
    assert await answers(target) == await answers(source)
    with pytest.raises(CopyError, match="same database"):
        copy_database(source, str(Path(source).parent / "." / "source.db"))


def test_a_source_at_another_schema_version_is_refused(tmp_path: Path) -> None:
    """SQLite only: an old source is made with SQLite's PRAGMA user_version."""
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    with pytest.raises(CopyError, match=r"schema version .* db migrate"):
        copy_database(str(old), str(tmp_path / "new.db"))
    assert not (tmp_path / "new.db").exists()


def test_the_command_prints_counts_and_refuses_with_one_line(source: str, tmp_path: Path):
    """SQLite to SQLite: the command's output and refusal (the directions with PostgreSQL are
    the round trip above)."""
    target = tmp_path / "cli.db"
    done = newsbot("db", "copy", source, str(target), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and [t["table"] for t in report["tables"]] == list(TABLES)
    assert all(t["source"] == t["target"] for t in report["tables"])
    again = newsbot("db", "copy", source, str(target))
    assert again.returncode != 0
    assert again.stderr.count("\n") == 1 and "not empty" in again.stderr
    table = newsbot("db", "copy", source, str(tmp_path / "cli2.db"))
    assert table.returncode == 0 and "digest_messages" in table.stdout
    assert "every table's count matches" in table.stdout
