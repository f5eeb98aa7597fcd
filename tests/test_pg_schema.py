"""PostgreSQL: the migrations (one tree, per-dialect steps), the schema's parity with SQLite,
and the database handle's behaviour there (targets, reconnects, transient errors)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from bot.storage.db import SchemaTooNewError, StorageBusy, StorageError, open_database
from bot.storage.migrations import MIGRATIONS, PG_MIGRATIONS, SCHEMA_VERSION, STEPS
from tests.support.backends import PgServer, empty_pg_database, execute, rows


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Everything the migrations make, in a comparable form."""
    return {
        "columns": rows(
            url,
            "SELECT table_name, column_name, data_type, is_nullable, column_default, "
            "is_identity, is_generated, generation_expression FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, column_name",
        ),
        "indexes": rows(
            url, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ),
        "constraints": rows(
            url,
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        ),
        "triggers": rows(
            url,
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
            "ORDER BY 1",
        ),
        "functions": rows(
            url,
            "SELECT proname, prosrc FROM pg_proc "
            "WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'newsbot%' ORDER BY 1",
        ),
        "version": rows(url, "SELECT version FROM schema_version"),
    }


def test_every_step_has_both_texts_and_the_old_names_still_work():
    assert len(STEPS) == SCHEMA_VERSION == len(MIGRATIONS) == len(PG_MIGRATIONS)
    assert [s.number for s in STEPS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(s.title and s.sqlite.strip() and s.postgresql.strip() for s in STEPS)
    assert (
        STEPS[0].sql("postgresql") == PG_MIGRATIONS[0] and STEPS[0].sql("sqlite") == MIGRATIONS[0]
    )


def test_migrating_step_by_step_equals_a_fresh_database(pg_server: PgServer):
    from bot.storage.pg import connect
    from bot.storage.pg_schema import migrate_postgres

    fresh = pg_server.fresh()
    with empty_pg_database(pg_server) as url:
        conn = connect(url)
        try:
            for number in range(1, SCHEMA_VERSION + 1):
                assert migrate_postgres(conn, "step", PG_MIGRATIONS[:number]) == number
                assert rows(url, "SELECT version FROM schema_version") == [(number,)]
        finally:
            conn.close()
        try:
            assert _snapshot(url) == _snapshot(fresh)
        finally:
            pg_server.drop(fresh)


def _sqlite_columns(path: str) -> dict[str, set[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'items_fts%'"
                " AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    finally:
        conn.close()


async def test_both_dialects_make_the_same_tables_and_columns(tmp_path, pg_server: PgServer):
    path = str(tmp_path / "n.db")
    async with open_database(path):
        pass
    url = pg_server.fresh()
    try:
        pg: dict[str, set[str]] = {}
        for table, column in rows(
            url,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name != 'schema_version'",
        ):
            pg.setdefault(table, set()).add(column)
        pg["items"].discard("search_doc")  # the full-text document (SQLite: the items_fts table)
        assert pg == _sqlite_columns(path)
        pg_indexes = {r[0] for r in rows(url, "SELECT indexname FROM pg_indexes")}
        lite = sqlite3.connect(path)
        lite_indexes = {
            r[0]
            for r in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        lite.close()
        assert lite_indexes <= pg_indexes
    finally:
        pg_server.drop(url)


async def test_a_newer_database_is_refused(pg_server: PgServer):
    url = pg_server.fresh()
    try:
        execute(url, "UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 3,))
        with pytest.raises(SchemaTooNewError, match="newer than this newsbot understands"):
            async with open_database(url):
                pass
        assert "***" not in url
    finally:
        pg_server.drop(url)


async def test_a_failing_migration_leaves_the_database_unchanged(pg_server, monkeypatch):
    from bot.storage import pg_schema

    monkeypatch.setattr(
        pg_schema, "PG_MIGRATIONS", (*PG_MIGRATIONS, "CREATE TABLE x(a int); BOGUS")
    )
    url = pg_server.fresh()
    try:
        with pytest.raises(StorageError, match=f"from schema version {SCHEMA_VERSION} to"):
            async with open_database(url):
                pass
        assert rows(url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert rows(url, "SELECT to_regclass('x') IS NULL") == [(True,)]
    finally:
        pg_server.drop(url)


def test_two_processes_migrating_at_once_do_not_race(pg_server: PgServer):
    from bot.storage.pg import connect
    from bot.storage.pg_schema import migrate_postgres

    with empty_pg_database(pg_server) as url:
        results: list[object] = []
        start = threading.Barrier(3)

        def one() -> None:
            conn = connect(url)
            try:
                start.wait()
                results.append(migrate_postgres(conn, "racer"))
            except Exception as exc:  # reported through results, asserted below
                results.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [SCHEMA_VERSION] * 3
        assert rows(url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_display_hides_the_password_and_path_is_none(pg_server: PgServer):
    url = pg_server.fresh()
    try:
        user_host = url.split("://", 1)[1].split("@", 1)[-1]
        with_password = f"postgres://someone:s3cret@{user_host}"
        with pytest.raises(StorageError) as caught:
            async with open_database(with_password):
                pass
        assert "s3cret" not in str(caught.value)
        async with open_database(url) as db:
            assert (db.dialect, db.path) == ("postgresql", None)
            assert db.reader().dialect == "postgresql"
    finally:
        pg_server.drop(url)


async def test_lost_connection_is_busy_once_then_reconnects(pg_server: PgServer):
    url = pg_server.fresh()
    try:
        async with open_database(url, readers=1) as db:
            pid = await db.run(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
            execute(pg_server.admin, "SELECT pg_terminate_backend(?)", (pid,))
            with pytest.raises(StorageBusy):
                await db.run(lambda c: c.execute("SELECT 1").fetchone())
            assert await db.run(lambda c: c.execute("SELECT 2").fetchone()[0]) == 2
    finally:
        pg_server.drop(url)


async def test_lock_timeout_is_busy_and_the_transaction_is_not_left_open(pg_server: PgServer):
    from bot.storage.pg import connect

    url = pg_server.fresh()
    holder = connect(url)
    try:
        async with open_database(url, readers=0) as db:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")

            def blocked(conn):
                conn.execute("SET lock_timeout = 50")
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM items").fetchone()

            with pytest.raises(StorageBusy):
                await db.run(blocked)
            holder.execute("ROLLBACK")
            assert await db.run(lambda c: c.in_transaction) is False
            assert (
                await db.run(lambda c: c.execute("SELECT count(*) FROM items").fetchone()[0]) == 0
            )
    finally:
        holder.close()
        pg_server.drop(url)


async def test_sqlite_lock_is_busy(tmp_path):
    """SQLite only: the same mapping for a second writer holding SQLite's write lock."""
    path = str(tmp_path / "n.db")
    async with open_database(path, readers=0) as db:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")

        def write(conn):
            conn.execute("PRAGMA busy_timeout = 10")
            conn.execute("BEGIN IMMEDIATE")

        try:
            with pytest.raises(StorageBusy):
                await db.run(write)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await asyncio.sleep(0)
