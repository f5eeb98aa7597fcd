"""Database care: an online backup while a write transaction is open, restore (checked first,
refused while a bot holds the run lock), ``newsbot db check``, the pre-migration backup copy,
and a failing migration on an existing database leaving it as it was. SQLite only: backup,
restore, ``db check``, the run lock and the pre-migration copy are features of the SQLite file
(PostgreSQL is backed up with its own tools, docs/scaling.md; its failing migration is in
test_pg_schema)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

import pytest

import bot.storage.db as dbmod
from bot.cli import main
from bot.storage import backup as care
from bot.storage.db import StorageError, open_database
from bot.storage.migrations import SCHEMA_VERSION
from tests.factories import write_article


async def make_db(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "newsbot.db"
    src = tmp_path / "src"
    for i in range(n):
        write_article(src, f"{i}.md", f"Headline number {i}", f"https://ex.example/{i}")
    from bot.services.ingest import IngestService

    async with open_database(path) as db:
        report = await IngestService(db, workers=1).ingest([str(src)])
        assert report.new == n
    return path


def exists(path: str) -> bool:
    return Path(path).exists()


def articles(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM items WHERE is_article = 1").fetchone()[0]
    finally:
        conn.close()


async def test_backup_while_a_write_transaction_is_open_has_every_committed_row(tmp_path):
    path = await make_db(tmp_path, 3)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    # committed after the ingest, still in the WAL (no checkpoint): must be in the copy
    writer.execute("UPDATE items SET title = 'committed' WHERE url = 'https://ex.example/0'")
    writer.execute("BEGIN IMMEDIATE")  # an open write transaction, as the bot might hold
    writer.execute("UPDATE items SET title = 'uncommitted' WHERE url = 'https://ex.example/1'")
    writer.execute("DELETE FROM items WHERE url = 'https://ex.example/2'")
    try:
        report = care.backup(path, tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert report["integrity"] == "ok" and report["schema_version"] == SCHEMA_VERSION
    assert report["counts"]["articles"] == 3
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    titles = dict(copy.execute("SELECT url, title FROM items WHERE is_article = 1"))
    copy.close()
    assert titles["https://ex.example/0"] == "committed"
    assert titles["https://ex.example/1"] == "Headline number 1"  # not the uncommitted change
    assert "https://ex.example/2" in titles
    assert not exists(f"{tmp_path / 'copy.db'}.partial")
    assert not exists(f"{tmp_path / 'copy.db'}-wal")  # one self-contained file


async def test_backup_into_a_folder_gets_a_dated_name_and_never_overwrites_the_db(tmp_path):
    path = await make_db(tmp_path, 1)
    folder = tmp_path / "backups"
    folder.mkdir()
    report = care.backup(path, folder)
    assert Path(report["path"]).parent == folder
    assert Path(report["path"]).name.startswith("newsbot.db.")
    with pytest.raises(care.BackupError, match="cannot overwrite the database itself"):
        care.backup(path, path)
    with pytest.raises(care.BackupError, match="does not exist"):
        care.backup(path, tmp_path / "nope" / "x.db")


async def test_restore_brings_back_the_backup_and_keeps_the_current_copy(tmp_path):
    path = await make_db(tmp_path, 2)
    care.backup(path, tmp_path / "yesterday.db")
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM items")
    conn.commit()
    conn.close()
    assert articles(path) == 0
    report = care.restore(tmp_path / "yesterday.db", path)
    assert articles(path) == 2
    assert report["previous_copy"] and articles(Path(report["previous_copy"])) == 0
    async with open_database(path) as db:  # the bot opens it as usual
        assert (await db.fetchone("SELECT count(*) FROM items"))[0] >= 2


async def test_restore_refuses_while_a_bot_holds_the_lock_and_checks_the_backup_first(tmp_path):
    path = await make_db(tmp_path, 1)
    care.backup(path, tmp_path / "good.db")
    with care.run_lock(path), pytest.raises(care.DatabaseInUse, match="stop it first"):
        care.restore(tmp_path / "good.db", path)
    assert care.is_locked(path) is False

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(care.BackupError, match="not a usable SQLite database"):
        care.restore(broken, path)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(care.BackupError, match="not a newsbot database"):
        care.restore(empty, path)
    future = tmp_path / "future.db"
    care.backup(path, future)
    conn = sqlite3.connect(future)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(care.BackupError, match="newer than this newsbot"):
        care.restore(future, path)
    damaged = tmp_path / "damaged.db"
    care.backup(path, damaged)
    conn = sqlite3.connect(damaged)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(damaged.read_bytes())
    data[page_size * 2 : page_size * 3] = b"\xff" * page_size  # trash one b-tree page
    damaged.write_bytes(bytes(data))
    with pytest.raises(care.BackupError, match=r"refusing to restore|not a usable"):
        care.restore(damaged, path)
    assert articles(path) == 1  # nothing was touched


async def test_a_running_bot_holds_the_run_lock(tmp_path):
    from tests.support.ui_harness import make_config

    path = await make_db(tmp_path, 1)
    config = make_config(tmp_path, tmp_path / "src")
    assert config.database.path == str(path)
    from bot.cli.run import open_bot

    async with open_bot(config) as _bot:
        assert care.is_locked(path)
        with pytest.raises(StorageError, match="a newsbot process is running"):
            async with open_bot(config):
                pass
    assert not care.is_locked(path)


def test_db_cli_backup_check_restore(tmp_path, capsys):
    path = asyncio.run(make_db(tmp_path, 2))
    base = ["--db", str(path), "db"]
    assert main([*base, "backup", str(tmp_path / "b.db")]) == 0
    out = capsys.readouterr().out
    assert "integrity:      ok" in out and "newsbot db restore" in out
    assert main([*base, "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["integrity"] == "ok" and report["bot_running"] is False
    assert report["schema_version"] == SCHEMA_VERSION and report["counts"]["articles"] == 2
    assert main([*base, "restore", str(tmp_path / "b.db")]) == 0
    assert "Restored" in capsys.readouterr().out
    assert main([*base, "restore", str(tmp_path / "missing.db")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.db").write_bytes(b"x" * 5000)
    assert main([*base, "check", str(tmp_path / "junk.db")]) == 1
    assert "not a usable SQLite database" in capsys.readouterr().err


async def test_pre_migration_backup_names_both_versions_and_keeps_the_old_schema(
    tmp_path, monkeypatch, caplog
):
    path = await make_db(tmp_path, 2)
    added = "CREATE TABLE ops_probe (a INTEGER);"
    monkeypatch.setattr(dbmod, "MIGRATIONS", (*dbmod.MIGRATIONS, added))
    caplog.set_level(logging.INFO, logger="bot.storage.db")
    async with open_database(path) as db:
        assert (await db.fetchone("PRAGMA user_version"))[0] == SCHEMA_VERSION + 1
    [copy] = list(tmp_path.glob(f"newsbot.db.pre-v{SCHEMA_VERSION + 1}-*.bak"))
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM items WHERE is_article = 1").fetchone()[0] == 2
    conn.close()
    text = caplog.text
    assert f"schema version {SCHEMA_VERSION}: backup copy {copy}" in text
    assert f"before migrating to {SCHEMA_VERSION + 1}" in text
    assert f"migrated from schema version {SCHEMA_VERSION} to {SCHEMA_VERSION + 1}" in text


async def test_no_copy_for_a_new_database_or_one_already_current(tmp_path):
    path = await make_db(tmp_path, 1)  # created at the current version: nothing to copy
    async with open_database(path):
        pass
    assert not list(tmp_path.glob("*.bak"))


async def test_a_failed_migration_leaves_an_existing_database_as_it_was(tmp_path, monkeypatch):
    path = await make_db(tmp_path, 2)
    good = "CREATE TABLE ops_first (a INTEGER);"
    bad = "CREATE TABLE ops_second (a INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(dbmod, "MIGRATIONS", (*dbmod.MIGRATIONS, good, bad))
    with pytest.raises(StorageError, match=rf"from schema version {SCHEMA_VERSION} to") as err:
        async with open_database(path):
            pass
    assert f"left unchanged at version {SCHEMA_VERSION}" in str(err.value)
    assert "a copy from before is at" in str(err.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "ops_first" not in names and "ops_second" not in names  # both steps rolled back
    assert conn.execute("SELECT count(*) FROM items WHERE is_article = 1").fetchone()[0] == 2
    conn.close()
