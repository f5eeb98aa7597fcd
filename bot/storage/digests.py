"""Digest storage: subscriptions, the delivery ledger, sent messages and sent stories.

Synchronous functions of a ``sqlite3.Connection``, run on the database thread through
``Database.run``. Writes that must land together run in one ``BEGIN IMMEDIATE`` transaction.
Times are stored as INTEGER unix seconds (UTC) and returned as aware datetimes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

from bot.domain.digest import (
    PUBLISH_LAG,
    DigestRun,
    RunStatus,
    Subscription,
    SubscriptionState,
    Window,
)
from bot.domain.digest_messages import MessagePlan, plan_from_json, plan_to_json
from bot.domain.views import StoryRow
from bot.storage.queries import _STORY_COLS, _story_rows

SENT_MEMORY_DAYS = 60  # stories sent longer ago than this are not checked (stories span < 7 days)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _ts(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp())


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


# -- subscriptions -------------------------------------------------------------------------------
_SUB_COLS = (
    "id, guild_id, channel_id, name, local_time, timezone, topics, min_quality, max_stories, "
    "include_keywords, exclude_keywords, state, failure_streak, last_failed_date, last_error, "
    "last_run_at, last_outcome, created_at"
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


def count_subscriptions(conn: sqlite3.Connection, guild_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM digest_subscriptions WHERE guild_id = ?", (guild_id,))
    return row.fetchone()[0]


def insert_subscription(
    conn: sqlite3.Connection, sub: Subscription, now: datetime, cap: int | None = None
) -> Subscription | None:
    """Insert ``sub`` (its id is ignored); None when the guild already has ``cap`` of them."""
    with transaction(conn):
        if cap is not None and count_subscriptions(conn, sub.guild_id) >= cap:
            return None
        marks = ",".join("?" * 18)
        cur = conn.execute(
            f"INSERT INTO digest_subscriptions({_SUB_SET}, created_at, updated_at) "
            f"VALUES ({marks})",
            (*_sub_values(sub), _ts(now), _ts(now)),
        )
        sub_id = cur.lastrowid
    assert sub_id is not None
    found = get_subscription(conn, sub_id)
    assert found is not None
    return found


def update_subscription(conn: sqlite3.Connection, sub: Subscription, now: datetime) -> None:
    sets = ", ".join(f"{col.strip()} = ?" for col in _SUB_SET.split(","))
    conn.execute(
        f"UPDATE digest_subscriptions SET {sets}, updated_at = ? WHERE id = ?",
        (*_sub_values(sub), _ts(now), sub.id),
    )


def delete_subscription(conn: sqlite3.Connection, sub_id: int) -> bool:
    cur = conn.execute("DELETE FROM digest_subscriptions WHERE id = ?", (sub_id,))
    return cur.rowcount > 0


def get_subscription(conn: sqlite3.Connection, sub_id: int) -> Subscription | None:
    row = conn.execute(
        f"SELECT {_SUB_COLS} FROM digest_subscriptions WHERE id = ?", (sub_id,)
    ).fetchone()
    return None if row is None else _subscription(row)


def list_subscriptions(conn: sqlite3.Connection, guild_id: int | None = None) -> list[Subscription]:
    if guild_id is None:
        rows = conn.execute(f"SELECT {_SUB_COLS} FROM digest_subscriptions ORDER BY id")
    else:
        rows = conn.execute(
            f"SELECT {_SUB_COLS} FROM digest_subscriptions WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
    return [_subscription(r) for r in rows]


def record_outcome(
    conn: sqlite3.Connection,
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


# -- candidates ----------------------------------------------------------------------------------
def candidate_stories(
    conn: sqlite3.Connection,
    window: Window,
    *,
    topics: Sequence[str] = (),
    min_quality: int | None = None,
) -> list[StoryRow]:
    """Stories with coverage first seen in the window and published recently enough."""
    where = [
        "s.article_count > 0",
        "s.last_seen_at > ?",
        "s.last_seen_at <= ?",
        "s.last_published_at >= ?",
    ]
    params: list = [_ts(window.since), _ts(window.until), _ts(window.published_since)]
    if min_quality is not None:
        where.append("s.best_quality >= ?")
        params.append(min_quality)
    if topics:
        marks = ",".join("?" * len(topics))
        where.append(
            "s.id IN (SELECT st.story_id FROM story_topics st JOIN topics t ON t.id = st.topic_id "
            f"WHERE t.key IN ({marks}))"
        )
        params.extend(t.strip().casefold() for t in topics)
    sql = f"SELECT {_STORY_COLS} FROM stories s WHERE {' AND '.join(where)}"
    return _story_rows(conn, conn.execute(sql, params).fetchall())


def _in_chunks(ids: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def coverage_texts(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Title and excerpt of every visible item of each story (for keyword filters)."""
    out: dict[int, list[str]] = {}
    for chunk in _in_chunks(list(story_ids)):
        marks = ",".join("?" * len(chunk))
        for sid, title, excerpt in conn.execute(
            f"SELECT story_id, title, excerpt FROM items WHERE story_id IN ({marks}) "
            "AND removed = 0",
            chunk,
        ):
            texts = out.setdefault(sid, [])
            texts.append(title)
            if excerpt:
                texts.append(excerpt)
    return out


def coverage_providers(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Distinct outlet names of each story, articles and better quality first."""
    out: dict[int, list[str]] = {}
    for chunk in _in_chunks(list(story_ids)):
        marks = ",".join("?" * len(chunk))
        for sid, name in conn.execute(
            "SELECT i.story_id, p.name FROM items i JOIN providers p ON p.id = i.provider_id "
            f"WHERE i.story_id IN ({marks}) AND i.removed = 0 "
            "ORDER BY i.story_id, i.is_article DESC, i.quality IS NULL, i.quality DESC, i.id",
            chunk,
        ):
            names = out.setdefault(sid, [])
            if name not in names:
                names.append(name)
    return out


def sent_story_ids(conn: sqlite3.Connection, channel_id: int, since: datetime) -> set[int]:
    """Current ids of the stories sent to ``channel_id`` since ``since`` (merges followed)."""
    rows = conn.execute(
        "SELECT coalesce(a.new_id, s.story_id) FROM digest_sent_stories s "
        "LEFT JOIN story_aliases a ON a.old_id = s.story_id "
        "WHERE s.channel_id = ? AND s.sent_at >= ?",
        (channel_id, _ts(since)),
    )
    return {r[0] for r in rows}


# -- the ledger ----------------------------------------------------------------------------------
_RUN_COLS = (
    "id, subscription_id, local_date, kind, channel_id, scheduled_for, window_start, window_end, "
    "status, story_ids, plan, error, updated_at"
)


def _run(conn: sqlite3.Connection, row: Sequence) -> DigestRun:
    sent = [
        r[0]
        for r in conn.execute(
            "SELECT message_id FROM digest_messages WHERE run_id = ? ORDER BY position", (row[0],)
        )
    ]
    since, until = _dt(row[6]), _dt(row[7])
    assert since is not None and until is not None
    return DigestRun(
        id=row[0],
        subscription_id=row[1],
        local_date=date.fromisoformat(row[2]),
        kind=row[3],
        channel_id=row[4],
        scheduled_for=_dt(row[5]) or since,
        window=Window(since, until, since - PUBLISH_LAG),
        status=RunStatus(row[8]),
        story_ids=tuple(json.loads(row[9])),
        messages=plan_from_json(json.loads(row[10])),
        sent_message_ids=tuple(sent),
        error=row[11],
        updated_at=_dt(row[12]),
    )


def get_run(conn: sqlite3.Connection, run_id: int) -> DigestRun | None:
    row = conn.execute(f"SELECT {_RUN_COLS} FROM digest_runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else _run(conn, row)


def scheduled_run(conn: sqlite3.Connection, sub_id: int, local_date: date) -> DigestRun | None:
    row = conn.execute(
        f"SELECT {_RUN_COLS} FROM digest_runs WHERE subscription_id = ? AND local_date = ? "
        "AND kind = 'scheduled'",
        (sub_id, local_date.isoformat()),
    ).fetchone()
    return None if row is None else _run(conn, row)


def open_runs(conn: sqlite3.Connection) -> list[DigestRun]:
    rows = conn.execute(
        f"SELECT {_RUN_COLS} FROM digest_runs WHERE status IN ('planned', 'sending') ORDER BY id"
    ).fetchall()
    return [_run(conn, r) for r in rows]


def latest_runs(conn: sqlite3.Connection, sub_ids: Sequence[int]) -> dict[int, DigestRun]:
    """The most recent ledger row of each subscription."""
    out: dict[int, DigestRun] = {}
    for sub_id in sub_ids:
        row = conn.execute(
            f"SELECT {_RUN_COLS} FROM digest_runs WHERE subscription_id = ? "
            "ORDER BY scheduled_for DESC, id DESC LIMIT 1",
            (sub_id,),
        ).fetchone()
        if row is not None:
            out[sub_id] = _run(conn, row)
    return out


def previous_window_end(conn: sqlite3.Connection, sub_id: int) -> datetime | None:
    """Where the last delivered (or recorded empty) digest's window ended."""
    row = conn.execute(
        "SELECT max(window_end) FROM digest_runs WHERE subscription_id = ? "
        "AND status IN ('sent', 'empty')",
        (sub_id,),
    ).fetchone()
    return _dt(row[0]) if row else None


def first_attempt(conn: sqlite3.Connection, sub_id: int) -> datetime | None:
    """The scheduled time of the subscription's first digest of any outcome."""
    row = conn.execute(
        "SELECT min(scheduled_for) FROM digest_runs WHERE subscription_id = ?", (sub_id,)
    ).fetchone()
    return _dt(row[0]) if row else None


def insert_run(
    conn: sqlite3.Connection,
    *,
    subscription_id: int,
    local_date: date,
    kind: str,
    channel_id: int,
    scheduled_for: datetime,
    window: Window,
    status: RunStatus,
    story_ids: Sequence[int],
    messages: Sequence[MessagePlan],
    error: str | None,
    now: datetime,
) -> tuple[DigestRun, bool]:
    """Record a digest's intent; for a scheduled digest whose row exists, return that row instead.

    Returns (row, created).
    """
    cur = conn.execute(
        "INSERT INTO digest_runs(subscription_id, local_date, kind, channel_id, scheduled_for, "
        "window_start, window_end, status, story_ids, plan, error, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(subscription_id, local_date) WHERE kind = 'scheduled' DO NOTHING",
        (
            subscription_id,
            local_date.isoformat(),
            kind,
            channel_id,
            _ts(scheduled_for),
            _ts(window.since),
            _ts(window.until),
            str(status),
            json.dumps(list(story_ids)),
            json.dumps(plan_to_json(messages), separators=(",", ":")),
            error,
            _ts(now),
            _ts(now),
        ),
    )
    if cur.rowcount and cur.lastrowid is not None:
        run = DigestRun(
            id=cur.lastrowid,
            subscription_id=subscription_id,
            local_date=local_date,
            kind=kind,
            channel_id=channel_id,
            scheduled_for=_dt(_ts(scheduled_for)) or scheduled_for,
            window=Window(
                _dt(_ts(window.since)) or window.since,
                _dt(_ts(window.until)) or window.until,
                (_dt(_ts(window.since)) or window.since) - PUBLISH_LAG,
            ),
            status=status,
            story_ids=tuple(story_ids),
            messages=tuple(messages),
            sent_message_ids=(),
            error=error,
            updated_at=_dt(_ts(now)),
        )
        return run, True
    existing = scheduled_run(conn, subscription_id, local_date)
    assert existing is not None
    return existing, False


def record_message(
    conn: sqlite3.Connection,
    run: DigestRun,
    position: int,
    message_id: int,
    now: datetime,
) -> None:
    """Record one accepted message and its stories as sent, in one transaction."""
    last = position == len(run.messages) - 1
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO digest_messages(run_id, position, message_id, sent_at) "
            "VALUES (?, ?, ?, ?)",
            (run.id, position, message_id, _ts(now)),
        )
        conn.executemany(
            "INSERT INTO digest_sent_stories(channel_id, story_id, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT(channel_id, story_id) DO UPDATE SET sent_at = excluded.sent_at",
            [(run.channel_id, sid, _ts(now)) for sid in run.messages[position].story_ids],
        )
        conn.execute(
            "UPDATE digest_runs SET status = ?, updated_at = ? WHERE id = ?",
            (str(RunStatus.SENT if last else RunStatus.SENDING), _ts(now), run.id),
        )


def finish_run(
    conn: sqlite3.Connection, run_id: int, status: RunStatus, error: str | None, now: datetime
) -> None:
    conn.execute(
        "UPDATE digest_runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
        (str(status), error, _ts(now), run_id),
    )
