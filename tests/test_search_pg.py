"""PostgreSQL's search and autocomplete: one statement each, never a server-side prepared one,
and planned from real estimates (migration 10). The ranking contract itself is tested on both
backends in test_search_backends.py and test_queries.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.storage import search as search_db
from bot.storage.pg import PgConnection, connect

ROWS = 120  # 60 titles start with "Microsoft", 1 with "Zebra"


@pytest.fixture
def conn(pg_server) -> Iterator[PgConnection]:
    url = pg_server.fresh()
    pg = connect(url)
    try:
        pg.executemany(
            "INSERT INTO items(url, title, excerpt, is_article, quality, first_seen_at, "
            "updated_at) VALUES (?, ?, ?, 1, ?, 0, 0)",
            [
                (
                    f"https://x.example/{n}",
                    ("Microsoft cloud outage" if n % 2 else f"Weather report {n}")
                    if n
                    else "Zebra crossing rules",
                    "The rocket launch moved." if n % 3 == 0 else "Nothing else.",
                    n % 100,
                )
                for n in range(ROWS)
            ],
        )
        pg.execute("ANALYZE items")
        yield pg
    finally:
        pg.close()
        pg_server.drop(url)


class _Counting:
    """A PgConnection that counts its statements."""

    def __init__(self, inner: PgConnection) -> None:
        self.inner, self.statements = inner, 0

    def execute(self, sql: str, params: Any = (), **kwargs: Any) -> Any:
        self.statements += 1
        return self.inner.execute(sql, params, **kwargs)


def _counting(conn: PgConnection) -> Any:
    counting = _Counting(conn)
    counting.__class__ = type("CountingPg", (_Counting, PgConnection), {})
    return counting


@pytest.mark.parametrize("text", ["microsoft", "rocket microsoft", "weather zebra", "zzz qqq"])
def test_search_is_one_statement(conn, text):
    counting = _counting(conn)
    found = search_db.search(counting, text, quality_weight=0.5, limit=200, offset=0)
    assert counting.statements == 1
    if text == "weather zebra":  # no item has both: any word then
        assert {i.url for i, _ in found} >= {"https://x.example/0", "https://x.example/2"}
    if text == "zzz qqq":
        assert found == []


@pytest.mark.parametrize("text", ["micro", "zebra cro", "cloud out", "nothing"])
def test_autocomplete_is_one_statement(conn, text):
    counting = _counting(conn)
    search_db.title_matches(counting, text, 25)
    assert counting.statements == 1


def test_search_and_autocomplete_are_never_prepared(conn):
    for _ in range(8):  # psycopg prepares a statement from its 5th run unless told not to
        search_db.search(conn, "microsoft cloud", quality_weight=0.5, limit=10, offset=0)
        search_db.search(conn, "rocket zebra", quality_weight=0.5, limit=10, offset=0)
        search_db.title_matches(conn, "micro", 25)
        search_db.title_matches(conn, "zebra cro", 25)
    prepared = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert [p for p in prepared if "search_doc" in p[0] or "lower(title)" in p[0]] == []


def test_the_full_text_index_has_no_pending_list(conn):
    (options,) = conn.execute(
        "SELECT reloptions FROM pg_class WHERE relname = 'items_search'"
    ).fetchone()
    assert "fastupdate=off" in options


def _estimate(conn: PgConnection, sql: str, params: tuple) -> float:
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Plan"]["Plan Rows"]


def test_the_title_prefix_is_estimated_from_statistics(conn):
    # without migration 10's statistics the planner guesses 0.5 % of the rows (1 here) and reads
    # a common prefix in full instead of walking the title index up to the 25th title
    sql = (
        'SELECT id FROM items WHERE (lower(title) COLLATE "C") >= ? '
        'AND (lower(title) COLLATE "C") < ?'
    )
    assert _estimate(conn, sql, ("micro", "micrp")) >= ROWS / 4
    assert _estimate(conn, sql, ("zebra", "zebrb")) <= 5


@pytest.fixture
def spread(pg_server) -> Iterator[PgConnection]:
    """Items matching "alpha" at ids 1-30, 50,000-50,029 and 200,000-200,009 (windows apart);
    among them, 50,003 is removed and 50,004 is not an article."""
    url = pg_server.fresh()
    pg = connect(url)
    ids = [*range(1, 31), *range(50_000, 50_030), *range(200_000, 200_010)]
    try:
        pg.executemany(
            "INSERT INTO items(id, url, title, is_article, removed, first_seen_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 0, 0)",
            [
                (n, f"https://s.example/{n}", f"Alpha {n}", int(n != 50_004), int(n == 50_003))
                for n in ids
            ]
            + [(n, f"https://s.example/{n}", "Beta", 1, 0) for n in (40, 60_000, 200_010)],
        )
        pg.execute("ANALYZE items")
        yield pg
    finally:
        pg.close()
        pg_server.drop(url)


def _text_matches(conn, wanted: int, newest: bool, articles: bool) -> list[int]:
    rows = conn.execute(  # flags as SQL literals: the adapter sends a bool as 0/1
        f"SELECT newsbot_text_matches(to_tsquery('newsbot_text', 'alpha'), ?, {newest}, "
        f"{articles}, (SELECT min(id) FROM items), (SELECT max(id) FROM items))",
        (wanted,),
    ).fetchall()
    return [r[0] for r in rows]


def test_text_matches_walk_windows_of_ids_newest_or_oldest_first(spread):
    assert _text_matches(spread, 25, True, False) == [
        *range(200_009, 199_999, -1),
        *range(50_029, 50_014, -1),
    ]
    assert _text_matches(spread, 35, False, False) == [*range(1, 31), *range(50_000, 50_005)]
    articles = _text_matches(spread, 35, False, True)
    assert articles == [*range(1, 31), 50_000, 50_001, 50_002, 50_005, 50_006]
    assert len(_text_matches(spread, 1000, True, False)) == 70  # every match, once
    assert _text_matches(spread, 0, True, False) == []
