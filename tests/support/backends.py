"""Both backends for the tests: fresh SQLite files and fresh PostgreSQL databases.

PostgreSQL comes from ``NEWSBOT_TEST_PG``, an admin url (e.g.
``postgresql://postgres@127.0.0.1:5433/postgres``; ``.ci/run`` starts a throwaway cluster and
sets it). Unset, PostgreSQL tests are skipped, except under ``CI``, where that is a failure.
Fresh databases are fast: once per session a template database gets the migrations, then every
test gets ``CREATE DATABASE x TEMPLATE t`` and a ``DROP DATABASE ... WITH (FORCE)`` after.
Database names start with ``NEWSBOT_TEST_PG_PREFIX`` (default ``newsbot_test``).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.storage.dialect import parse_target

BACKENDS = ("sqlite", "postgresql")
ENV = "NEWSBOT_TEST_PG"


def admin_url() -> str | None:
    """The PostgreSQL admin url, or None (skip) / a test failure under CI when it is unset."""
    url = os.environ.get(ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{ENV} is not set, but CI is: the PostgreSQL tests must run in CI")
    return None


def require_pg() -> str:
    url = admin_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {ENV} (an admin url, e.g. postgresql://postgres@host)")
    return url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _prefix() -> str:
    return os.environ.get("NEWSBOT_TEST_PG_PREFIX", "newsbot_test")


class PgServer:
    """Creates and drops the test databases on the server behind an admin url."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.template: str | None = None

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self, *, template: str | None = None, label: str = "db") -> str:
        """A new database (a copy of ``template`` when given); returns its url."""
        name = f"{_prefix()}_{label}_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{clause}')
        return with_database(self.admin, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrated_template(self) -> str:
        """The session's migrated template database (made on first use); returns its name."""
        if self.template is None:
            from bot.storage.pg import connect
            from bot.storage.pg_schema import migrate_postgres

            url = self.create(label="template")
            conn = connect(url)
            try:
                migrate_postgres(conn, "test template")
            finally:
                conn.close()
            self.template = urlsplit(url).path.lstrip("/")
        return self.template

    def fresh(self) -> str:
        """The url of a new, migrated database (a copy of the template)."""
        return self.create(template=self.migrated_template())

    def close(self) -> None:
        if self.template is not None:
            self.drop(with_database(self.admin, self.template))
            self.template = None


@contextmanager
def empty_pg_database(server: PgServer) -> Iterator[str]:
    """A new, empty (unmigrated) PostgreSQL database, dropped on exit."""
    url = server.create(label="empty")
    try:
        yield url
    finally:
        server.drop(url)


@contextmanager
def connection(target: str | Path) -> Iterator[Any]:
    """An autocommit connection to either backend (``?`` placeholders), closed on exit."""
    parsed = parse_target(target)
    if parsed.dialect == "sqlite":
        conn: Any = sqlite3.connect(parsed.location, isolation_level=None)
    else:
        from bot.storage.pg import connect

        conn = connect(parsed.location)
    try:
        yield conn
    finally:
        conn.close()


def rows(target: str | Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """The rows of one query (``?`` placeholders) on either backend, as plain tuples."""
    with connection(target) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def execute(target: str | Path, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement (``?`` placeholders) on either backend, committed."""
    with connection(target) as conn:
        conn.execute(sql, params)
