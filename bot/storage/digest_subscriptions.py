"""Digest subscriptions storage: the ``digest_subscriptions`` table and its outcome columns.

Synchronous functions of a connection (``sqlite3.Connection`` or ``PgConnection``; the SQL
is the portable subset, see ``dialect``), run on the database thread through
``Database.run``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from bot.domain.digest_subscription import Subscription, SubscriptionState
from bot.storage.dialect import Connection, transaction
from bot.storage.digest_sql import _dt, _ts

_SUB_COLS = (
    "id, guild_id, channel_id, name, local_time, timezone, topics, min_quality, max_stories, "
    "include_keywords, exclude_keywords, state, failure_streak, last_failed_date, last_error, "
    "last_run_at, last_outcome, created_at, updated_at"
)


def _subscription(row: Sequence) -> Subscription:
    hh, mm = row[4].split(":")
    return Subscription(
        id=row[0],
        guild_id=row[1],
        channel_id=row[2],
        name=row[3],
        time=time(int(hh), int(mm)),
        timezone=row[5],
        topics=tuple(json.loads(row[6])),
        min_quality=row[7],
        max_stories=row[8],
        include=tuple(json.loads(row[9])),
        exclude=tuple(json.loads(row[10])),
        state=SubscriptionState(row[11]),
        failure_streak=row[12],
        last_failed_date=date.fromisoformat(row[13]) if row[13] else None,
        last_error=row[14],
        last_run_at=_dt(row[15]),
        last_outcome=row[16],
        created_at=_dt(row[17]) or datetime(1970, 1, 1, tzinfo=UTC),
        updated_at=_dt(row[18]),
    )


def _sub_values(sub: Subscription) -> tuple:
    return (
        sub.guild_id,
        sub.channel_id,
        sub.name,
        sub.time_text,
        sub.timezone,
        json.dumps(list(sub.topics)),
        sub.min_quality,
        sub.max_stories,
        json.dumps(list(sub.include)),
        json.dumps(list(sub.exclude)),
        str(sub.state),
        sub.failure_streak,
        sub.last_failed_date.isoformat() if sub.last_failed_date else None,
        sub.last_error,
        _ts(sub.last_run_at),
        sub.last_outcome,
    )


_SUB_SET = (
    "guild_id, channel_id, name, local_time, timezone, topics, min_quality, max_stories, "
    "include_keywords, exclude_keywords, state, failure_streak, last_failed_date, last_error, "
    "last_run_at, last_outcome"
)


def count_subscriptions(conn: Connection, guild_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM digest_subscriptions WHERE guild_id = ?", (guild_id,))
    return row.fetchone()[0]


def insert_subscription(
    conn: Connection, sub: Subscription, now: datetime, cap: int | None = None
) -> Subscription | None:
    """Insert ``sub`` (its id is ignored); None when the guild already has ``cap`` of them."""
    with transaction(conn):
        if cap is not None and count_subscriptions(conn, sub.guild_id) >= cap:
            return None
        marks = ",".join("?" * 18)
        cur = conn.execute(
            f"INSERT INTO digest_subscriptions({_SUB_SET}, created_at, updated_at) "
            f"VALUES ({marks}) RETURNING id",
            (*_sub_values(sub), _ts(now), _ts(now)),
        )
        sub_id = cur.fetchone()[0]
    found = get_subscription(conn, sub_id)
    assert found is not None
    return found


def same_subscription(conn: Connection, sub: Subscription) -> Subscription | None:
    """Another subscription posting exactly what ``sub`` would: same guild, channel, time, zone
    and filters (the name aside)."""
    for other in list_subscriptions(conn, sub.guild_id):
        if other.id != sub.id and _same(other, sub):
            return other
    return None


def _same(a: Subscription, b: Subscription) -> bool:
    def key(s: Subscription) -> tuple:
        return (
            s.channel_id,
            s.time_text,
            s.timezone,
            frozenset(t.casefold() for t in s.topics),
            s.min_quality,
            s.max_stories,
            frozenset(s.include),
            frozenset(s.exclude),
        )

    return key(a) == key(b)


def insert_unique_subscription(
    conn: Connection, sub: Subscription, now: datetime, cap: int | None = None
) -> tuple[Subscription | None, Subscription | None]:
    """Insert ``sub`` unless an identical one exists (checked in the same transaction, so a
    retried command cannot create a twin). Returns (created or None at the cap, the identical
    existing subscription or None)."""
    with transaction(conn):
        same = same_subscription(conn, sub)
        if same is not None:
            return None, same
        if cap is not None and count_subscriptions(conn, sub.guild_id) >= cap:
            return None, None
        marks = ",".join("?" * 18)
        cur = conn.execute(
            f"INSERT INTO digest_subscriptions({_SUB_SET}, created_at, updated_at) "
            f"VALUES ({marks}) RETURNING id",
            (*_sub_values(sub), _ts(now), _ts(now)),
        )
        sub_id = cur.fetchone()[0]
    return get_subscription(conn, sub_id), None


def update_subscription(conn: Connection, sub: Subscription, now: datetime) -> None:
    sets = ", ".join(f"{col.strip()} = ?" for col in _SUB_SET.split(","))
    conn.execute(
        f"UPDATE digest_subscriptions SET {sets}, updated_at = ? WHERE id = ?",
        (*_sub_values(sub), _ts(now), sub.id),
    )


def delete_subscription(conn: Connection, sub_id: int) -> bool:
    cur = conn.execute("DELETE FROM digest_subscriptions WHERE id = ?", (sub_id,))
    return cur.rowcount > 0


def get_subscription(conn: Connection, sub_id: int) -> Subscription | None:
    row = conn.execute(
        f"SELECT {_SUB_COLS} FROM digest_subscriptions WHERE id = ?", (sub_id,)
    ).fetchone()
    return None if row is None else _subscription(row)


def list_subscriptions(conn: Connection, guild_id: int | None = None) -> list[Subscription]:
    if guild_id is None:
        rows = conn.execute(f"SELECT {_SUB_COLS} FROM digest_subscriptions ORDER BY id")
    else:
        rows = conn.execute(
            f"SELECT {_SUB_COLS} FROM digest_subscriptions WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
    return [_subscription(r) for r in rows]


def record_outcome(
    conn: Connection,
    sub_id: int,
    *,
    state: SubscriptionState,
    failure_streak: int,
    last_failed_date: date | None,
    last_error: str | None,
    last_run_at: datetime,
    last_outcome: str,
) -> None:
    conn.execute(
        "UPDATE digest_subscriptions SET state = ?, failure_streak = ?, last_failed_date = ?, "
        "last_error = ?, last_run_at = ?, last_outcome = ? WHERE id = ?",
        (
            str(state),
            failure_streak,
            last_failed_date.isoformat() if last_failed_date else None,
            last_error,
            _ts(last_run_at),
            last_outcome,
            sub_id,
        ),
    )
