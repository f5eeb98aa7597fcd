"""Database targets in the configuration and the CLI: ``[database] url`` / ``path``,
``NEWSBOT_DB``, ``--db``; ``newsbot db migrate`` and ``db current`` on both backends; the
SQLite-file commands refusing a PostgreSQL database."""

from __future__ import annotations

import json

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.storage.migrations import SCHEMA_VERSION
from tests.support.backends import execute, rows
from tests.support.cli import cli_env, newsbot


def test_url_key_takes_any_target_and_the_path_key_still_works(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[database]\nurl = "postgresql://bot@db.internal/news"\n', encoding="utf-8")
    config = load_config(str(cfg), env={})
    assert config.database.path == config.database.target == "postgresql://bot@db.internal/news"
    cfg.write_text('[database]\nurl = "sqlite:data/n.db"\n', encoding="utf-8")
    assert load_config(str(cfg), env={}).database.path == str(tmp_path / "data" / "n.db")
    cfg.write_text('[database]\npath = "n.db"\n', encoding="utf-8")
    assert load_config(str(cfg), env={}).database.path == str(tmp_path / "n.db")
    env = {"NEWSBOT_DB": "postgres://u@h/db"}
    assert load_config(str(cfg), env=env).database.path == "postgres://u@h/db"


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ({"url": "mysql://u@h/db"}, r"\[database\] url: .*unknown database scheme"),
        ({"url": ""}, r"\[database\] url: empty database target"),
        ({"path": "sqlite:"}, r"\[database\] path: .*needs a path"),
        ({"url": "a.db", "path": "b.db"}, r"\[database\] url and path: give one"),
        ({"url": 5}, r"\[database\] url"),
    ],
)
def test_bad_database_settings_name_the_key(database, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"database": database}, source="config.toml")


def test_bad_newsbot_db_names_the_variable():
    with pytest.raises(ConfigError, match=r"NEWSBOT_DB: .*unknown database scheme"):
        load_config(None, env={"NEWSBOT_DB": "oracle://x", "NEWSBOT_CONFIG": ""})


def test_db_migrate_and_current(db_target, tmp_path):
    env = cli_env()
    fresh = str(tmp_path / "new.db") if not db_target.startswith("postgresql") else db_target
    if db_target.startswith("postgresql"):  # an empty database: drop the template's schema
        execute(db_target, "DROP SCHEMA public CASCADE")
        execute(db_target, "CREATE SCHEMA public")
    before = newsbot("--db", fresh, "db", "current", "--json", env=env, cwd=tmp_path)
    if fresh.startswith("postgresql"):
        assert before.returncode == 0, before.stderr
        assert json.loads(before.stdout)["pending"] == SCHEMA_VERSION
    else:
        assert before.returncode == 3 and "no database file" in before.stderr
    done = newsbot("--db", fresh, "db", "migrate", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"migrated schema version 0 -> {SCHEMA_VERSION}" in done.stdout
    again = newsbot("--db", fresh, "db", "migrate", "--json", env=env, cwd=tmp_path)
    report = json.loads(again.stdout)
    assert (report["from"], report["to"], report["pending"]) == (SCHEMA_VERSION,) * 2 + (0,)
    current = newsbot("--db", fresh, "db", "current", env=env, cwd=tmp_path)
    dialect = "postgresql" if fresh.startswith("postgresql") else "sqlite"
    assert f"dialect:        {dialect}" in current.stdout
    assert f"schema version: {SCHEMA_VERSION}" in current.stdout
    assert "pending:        0" in current.stdout
    assert rows(fresh, "SELECT count(*) FROM items") == [(0,)]


def test_a_newer_database_is_refused_by_db_migrate(db_target, tmp_path):
    env = cli_env()
    newsbot("--db", db_target, "db", "migrate", env=env, cwd=tmp_path)
    if db_target.startswith("postgresql"):
        execute(db_target, "UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    else:
        execute(db_target, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    result = newsbot("--db", db_target, "db", "migrate", env=env, cwd=tmp_path)
    assert result.returncode == 3 and "newer than this newsbot understands" in result.stderr


@pytest.mark.parametrize("action", [["backup", "x.bak"], ["restore", "x.bak"], ["check"]])
def test_sqlite_file_commands_refuse_postgresql_and_point_to_pg_dump(action, tmp_path):
    url = "postgresql://someone:s3cret@127.0.0.1:1/nothing"
    result = newsbot("--db", url, "db", *action, env=cli_env(), cwd=tmp_path)
    assert result.returncode == 1
    assert "pg_dump" in result.stderr and "s3cret" not in result.stderr + result.stdout
