"""Digest ledger storage: ``digest_runs`` (one row per digest's intent and plan), the messages
sent for each run, and the stories they sent to each channel.

Synchronous functions of a ``sqlite3.Connection``, run on the database thread through
``Database.run``. Writes that must land together run in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from bot.domain.digest_messages import MessagePlan, plan_from_json, plan_to_json
from bot.domain.digest_plan import DigestRun, RunStatus
from bot.domain.digest_selection import PUBLISH_LAG, Window
from bot.storage.digest_sql import _dt, _ts, transaction

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
