"""The PostgreSQL adapter: placeholder translation (pure), rows, parameters and results like
sqlite3's, and database targets."""

from __future__ import annotations

import pytest

from bot.storage.dialect import TargetError, parse_target, redact

psycopg = pytest.importorskip("psycopg")

from bot.storage.pg import connect, translate  # noqa: E402


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT ?", "SELECT %s"),
        ("SELECT ?, ?", "SELECT %s, %s"),
        ("SELECT '?' , ?", "SELECT '?' , %s"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ('SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = %s'),
        ("SELECT 1 -- what?\n, ?", "SELECT 1 -- what?\n, %s"),
        ("SELECT /* ? */ ?", "SELECT /* ? */ %s"),
        ("SELECT x LIKE 'a%' AND y = ?", "SELECT x LIKE 'a%%' AND y = %s"),
        ("SELECT 5 % ?", "SELECT 5 %% %s"),
        ("BEGIN IMMEDIATE", "BEGIN"),
        ("  begin deferred transaction", "BEGIN"),
        ("BEGIN EXCLUSIVE", "BEGIN"),
        ("SELECT 'BEGIN IMMEDIATE'", "SELECT 'BEGIN IMMEDIATE'"),
    ],
)
def test_translate(sql, expected):
    assert translate(sql) == expected


@pytest.mark.parametrize(
    ("target", "dialect", "location"),
    [
        ("/srv/newsbot.db", "sqlite", "/srv/newsbot.db"),
        ("newsbot.db", "sqlite", "newsbot.db"),
        (":memory:", "sqlite", ":memory:"),
        ("sqlite:///srv/n.db", "sqlite", "/srv/n.db"),
        ("sqlite:data/n.db", "sqlite", "data/n.db"),
        ("sqlite::memory:", "sqlite", ":memory:"),
        ("postgresql://u@h/db", "postgresql", "postgresql://u@h/db"),
        ("postgres://u@h:5432/db", "postgresql", "postgresql://u@h:5432/db"),
    ],
)
def test_targets(target, dialect, location):
    parsed = parse_target(target)
    assert (parsed.dialect, parsed.location) == (dialect, location)
    assert parsed.path == (location if dialect == "sqlite" else None)


@pytest.mark.parametrize("bad", ["", "   ", "sqlite:", "mysql://u@h/db"])
def test_bad_targets_are_refused_by_name(bad):
    with pytest.raises(TargetError, match=r"database|sqlite"):
        parse_target(bad)


def test_passwords_never_show():
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://h/db?password=pw&sslmode=require") == (
        "postgresql://h/db?password=***&sslmode=require"
    )
    assert "pw" not in parse_target("postgres://u:pw@h/db").display
    with pytest.raises(TargetError) as caught:
        parse_target("x://u:pw@h")
    assert "pw" not in str(caught.value)


def test_rows_params_and_numbers_behave_like_sqlite(pg_server):
    url = pg_server.fresh()
    conn = connect(url)
    try:
        conn.execute("BEGIN IMMEDIATE")
        assert conn.in_transaction
        conn.execute("CREATE TEMP TABLE t(id BIGINT, flag INTEGER, name TEXT, x DOUBLE PRECISION)")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            [(1, True, "a%?", 1.5), (2, False, "b", 2.0), (3, True, None, None)],
        )
        assert conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", []).rowcount == 0
        one = conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(4, 0, "d", None)])
        assert one.rowcount == 1
        conn.execute("DELETE FROM t WHERE id = 4")
        conn.execute("COMMIT")
        assert not conn.in_transaction
        row = conn.execute("SELECT id, flag, name FROM t WHERE flag = ? ORDER BY id", (True,))
        first = row.fetchone()
        assert (first[0], first["flag"], first["name"], first["NAME"]) == (1, 1, "a%?", "a%?")
        assert first.keys() == ["id", "flag", "name"]
        assert dict(zip(first.keys(), first, strict=True)) == {"id": 1, "flag": 1, "name": "a%?"}
        assert tuple(first) == (1, 1, "a%?")
        with pytest.raises(IndexError):
            first["nope"]
        sums = conn.execute("SELECT sum(id), avg(id), avg(x), sum(x), count(*) FROM t").fetchone()
        assert tuple(sums) == (6, 2, 1.75, 3.5, 3)
        assert all(type(v) in (int, float) for v in sums)
        assert conn.execute("SELECT avg(flag) FROM t").fetchone()[0] == pytest.approx(2 / 3)
        assert [tuple(r) for r in conn.execute("SELECT id FROM t WHERE name LIKE 'a%'")] == [(1,)]
        cur = conn.execute("UPDATE t SET flag = ? WHERE id > ?", (0, 1))
        assert cur.rowcount == 2
        assert conn.execute("SELECT '?', 'x%'").fetchone() == ("?", "x%")
    finally:
        conn.close()
        pg_server.drop(url)
