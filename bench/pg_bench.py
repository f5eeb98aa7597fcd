"""The benchmarks' PostgreSQL databases (``--pg ADMIN_URL`` / ``NEWSBOT_BENCH_PG``)."""

from __future__ import annotations

import re


class PgBench:
    """The bench's databases on a PostgreSQL server: built under a temporary name and renamed
    when complete, so an existing one is a finished one."""

    def __init__(self, admin: str, prefix: str) -> None:
        self.admin, self.prefix = admin, prefix

    def _admin(self, sql: str) -> list:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def url(self, name: str) -> str:
        base = self.admin.rsplit("/", 1)[0]
        return f"{base}/{self.prefix}_{name}"

    def exists(self, name: str) -> bool:
        full = f"{self.prefix}_{name}"
        return bool(self._admin(f"SELECT 1 FROM pg_database WHERE datname = '{full}'"))

    def create_partial(self, name: str) -> str:
        partial = f"{self.prefix}_{name}_partial"
        self._admin(f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{partial}"')
        return self.url(f"{name}_partial")

    def finish(self, name: str) -> None:
        """Vacuum and analyze (as autovacuum soon would) and give the database its final
        name."""
        import psycopg

        with psycopg.connect(self.url(f"{name}_partial"), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        full = f"{self.prefix}_{name}"
        self._admin(f'ALTER DATABASE "{full}_partial" RENAME TO "{full}"')

    def drop_stale(self, base: str, keep: str) -> None:
        """Drop the databases built for ``base`` under another cache key than ``keep``'s
        (``corpus_s8g1`` once ``corpus_s9g2`` is wanted), and their unfinished builds."""
        stale = re.compile(rf"{re.escape(self.prefix)}_{re.escape(base)}_s\d+g\d+(_partial)?")
        for (name,) in self._admin(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{self.prefix}\\_%'"
        ):
            if stale.fullmatch(name) and name != f"{self.prefix}_{keep}":
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for (name,) in self._admin(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{self.prefix}\\_%'"
        ):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
