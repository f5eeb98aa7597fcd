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
from typing import Any

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
    return run_from_row(row, sent)


def run_from_row(row: Sequence, sent: Sequence[int]) -> DigestRun:
    """A ledger row (``_RUN_COLS``) and the ids of its messages already sent, as a run."""
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


_INSERT_RUN = (
    "INSERT INTO digest_runs(subscription_id, local_date, kind, channel_id, scheduled_for, "
    "window_start, window_end, status, story_ids, plan, error, created_at, updated_at) VALUES "
)
_ON_FIRE_CONFLICT = (
    " ON CONFLICT(subscription_id, scheduled_for) WHERE kind = 'scheduled' DO NOTHING"
)


def run_values(
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
) -> tuple:
    """The column values (``_INSERT_RUN`` order) of a new ledger row."""
    return (
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
    )


def new_run(run_id: int, fields: dict) -> DigestRun:
    """The run just inserted as ``run_id`` from the fields of :func:`run_values` (times at the
    stored one-second precision, as read back)."""
    window: Window = fields["window"]
    since = _dt(_ts(window.since)) or window.since
    return DigestRun(
        id=run_id,
        subscription_id=fields["subscription_id"],
        local_date=fields["local_date"],
        kind=fields["kind"],
        channel_id=fields["channel_id"],
        scheduled_for=_dt(_ts(fields["scheduled_for"])) or fields["scheduled_for"],
        window=Window(since, _dt(_ts(window.until)) or window.until, since - PUBLISH_LAG),
        status=fields["status"],
        story_ids=tuple(fields["story_ids"]),
        messages=tuple(fields["messages"]),
        sent_message_ids=(),
        error=fields["error"],
        updated_at=_dt(_ts(fields["now"])),
    )


def insert_run(conn: Connection, **fields: Any) -> tuple[DigestRun, bool]:
    """Record a digest's intent; for a scheduled digest whose row exists, return that row instead.

    ``fields``: those of :func:`run_values`. Returns (row, created).
    """
    cur = conn.execute(
        f"{_INSERT_RUN}(?,?,?,?,?,?,?,?,?,?,?,?,?){_ON_FIRE_CONFLICT} RETURNING id",
        run_values(**fields),
    )
    inserted = cur.fetchone()
    if inserted is not None:
        return new_run(inserted[0], fields), True
    existing = scheduled_run(conn, fields["subscription_id"], fields["scheduled_for"])
    assert existing is not None
    return existing, False


def insert_runs(conn: Connection, rows: Sequence[dict]) -> dict[tuple[int, int], DigestRun]:
    """Record many scheduled runs with one multi-row statement (``rows``: the fields of
    :func:`run_values`); the runs created, by (subscription id, fire instant in unix seconds).
    A row whose (subscription, fire instant) exists already is left out (not created)."""
    created: dict[tuple[int, int], DigestRun] = {}
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        marks = ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk))
        params = [v for fields in chunk for v in run_values(**fields)]
        by_key = {(f["subscription_id"], _ts(f["scheduled_for"])): f for f in chunk}
        for run_id, sub_id, fire in conn.execute(
            f"{_INSERT_RUN}{marks}{_ON_FIRE_CONFLICT} RETURNING id, subscription_id, scheduled_for",
            params,
        ).fetchall():
            created[(sub_id, fire)] = new_run(run_id, by_key[(sub_id, fire)])
    return created


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
