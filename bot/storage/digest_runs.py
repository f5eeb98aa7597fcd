"""Digest ledger storage: ``digest_runs`` (one row per digest's intent and plan), the messages
sent for each run, and the stories they sent to each channel.

Synchronous functions of a connection (``sqlite3.Connection`` or ``PgConnection``; the SQL
is the portable subset, see ``dialect``), run on the database thread through
``Database.run``. Writes that must land together run in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from bot.domain.digest_messages import MessagePlan, plan_from_json, plan_to_json
from bot.domain.digest_plan import DigestRun, RunStatus
from bot.domain.digest_selection import PUBLISH_LAG, Window
from bot.storage.dialect import Connection, transaction
from bot.storage.digest_sql import _dt, _ts

_RUN_COLS = (
    "id, subscription_id, local_date, kind, channel_id, scheduled_for, window_start, window_end, "
    "status, story_ids, plan, error, updated_at"
)


def _run(conn: Connection, row: Sequence) -> DigestRun:
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


def get_run(conn: Connection, run_id: int) -> DigestRun | None:
    row = conn.execute(f"SELECT {_RUN_COLS} FROM digest_runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else _run(conn, row)


def scheduled_run(conn: Connection, sub_id: int, scheduled_for: datetime) -> DigestRun | None:
    """The scheduled run of ``sub_id`` for the fire instant ``scheduled_for`` (UTC seconds): the
    ledger key survives a change of time zone (a local date would not)."""
    row = conn.execute(
        f"SELECT {_RUN_COLS} FROM digest_runs WHERE subscription_id = ? AND scheduled_for = ? "
        "AND kind = 'scheduled'",
        (sub_id, _ts(scheduled_for)),
    ).fetchone()
    return None if row is None else _run(conn, row)


def reserved_story_ids(conn: Connection, channel_id: int) -> set[int]:
    """Current ids of the stories planned for ``channel_id`` by runs still open (planned, being
    posted, or waiting to retry), merges followed as in ``sent_story_ids``: another digest of
    the channel must not pick them."""
    planned: set[int] = set()
    for (ids,) in conn.execute(
        "SELECT story_ids FROM digest_runs "
        "WHERE channel_id = ? AND status IN ('planned', 'sending')",
        (channel_id,),
    ):
        planned.update(json.loads(ids))
    return set(current_story_ids(conn, sorted(planned)).values())


def current_story_ids(conn: Connection, story_ids: Sequence[int]) -> dict[int, int]:
    """Each of ``story_ids`` mapped to its current id (following ``story_aliases``)."""
    out = {sid: sid for sid in story_ids}
    for start in range(0, len(story_ids), 500):
        chunk = list(story_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for old, new in conn.execute(
            f"SELECT old_id, new_id FROM story_aliases WHERE old_id IN ({marks})", chunk
        ):
            out[old] = new
    return out


def open_runs(conn: Connection) -> list[DigestRun]:
    rows = conn.execute(
        f"SELECT {_RUN_COLS} FROM digest_runs WHERE status IN ('planned', 'sending') ORDER BY id"
    ).fetchall()
    return [_run(conn, r) for r in rows]


def latest_runs(conn: Connection, sub_ids: Sequence[int]) -> dict[int, DigestRun]:
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


def previous_window_end(conn: Connection, sub_id: int) -> datetime | None:
    """Where the last delivered (or recorded empty) digest's window ended."""
    row = conn.execute(
        "SELECT max(window_end) FROM digest_runs WHERE subscription_id = ? "
        "AND status IN ('sent', 'empty')",
        (sub_id,),
    ).fetchone()
    return _dt(row[0]) if row else None


def first_attempt(conn: Connection, sub_id: int) -> datetime | None:
    """The scheduled time of the subscription's first digest of any outcome."""
    row = conn.execute(
        "SELECT min(scheduled_for) FROM digest_runs WHERE subscription_id = ?", (sub_id,)
    ).fetchone()
    return _dt(row[0]) if row else None


def insert_run(
    conn: Connection,
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
        "ON CONFLICT(subscription_id, scheduled_for) WHERE kind = 'scheduled' DO NOTHING "
        "RETURNING id",
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
    inserted = cur.fetchone()
    if inserted is not None:
        run = DigestRun(
            id=inserted[0],
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
    existing = scheduled_run(conn, subscription_id, scheduled_for)
    assert existing is not None
    return existing, False


def record_message(
    conn: Connection,
    run: DigestRun,
    position: int,
    message_id: int,
    now: datetime,
) -> None:
    """Record one accepted message and its stories as sent, in one transaction. The run stays
    open (``sending``) until :func:`mark_sent`."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO digest_messages(run_id, position, message_id, sent_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(run_id, position) DO UPDATE SET "
            "message_id = excluded.message_id, sent_at = excluded.sent_at",
            (run.id, position, message_id, _ts(now)),
        )
        conn.executemany(
            "INSERT INTO digest_sent_stories(channel_id, story_id, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT(channel_id, story_id) DO UPDATE SET sent_at = excluded.sent_at",
            [(run.channel_id, sid, _ts(now)) for sid in run.messages[position].story_ids],
        )
        conn.execute(
            "UPDATE digest_runs SET status = ?, updated_at = ? WHERE id = ?",
            (str(RunStatus.SENDING), _ts(now), run.id),
        )


def mark_sent(conn: Connection, run_id: int, note: str | None, now: datetime) -> None:
    """Every message of the run is recorded: the run is delivered (``note``: e.g. the stories
    Discord refused and that were dropped). Call inside the transaction recording the outcome."""
    conn.execute(
        "UPDATE digest_runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
        (str(RunStatus.SENT), note, _ts(now), run_id),
    )


def note_run(conn: Connection, run_id: int, error: str | None, now: datetime) -> None:
    """Record why an open run is waiting (e.g. "rate limited ...; retrying at ..."), keeping it
    open."""
    conn.execute(
        "UPDATE digest_runs SET error = ?, updated_at = ? WHERE id = ?",
        (error, _ts(now), run_id),
    )


def replan_run(
    conn: Connection,
    run_id: int,
    messages: Sequence[MessagePlan],
    story_ids: Sequence[int],
    note: str | None,
    now: datetime,
) -> None:
    """Replace the plan of an open run (only parts not yet recorded may differ), releasing the
    stories no longer in it, in one transaction."""
    with transaction(conn):
        conn.execute(
            "UPDATE digest_runs SET plan = ?, story_ids = ?, error = ?, updated_at = ? "
            "WHERE id = ?",
            (
                json.dumps(plan_to_json(messages), separators=(",", ":")),
                json.dumps(list(story_ids)),
                note,
                _ts(now),
                run_id,
            ),
        )


def finish_run(
    conn: Connection, run_id: int, status: RunStatus, error: str | None, now: datetime
) -> None:
    conn.execute(
        "UPDATE digest_runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
        (str(status), error, _ts(now), run_id),
    )
