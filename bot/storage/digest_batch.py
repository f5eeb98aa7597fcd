"""Digest ledger reads for many subscriptions at once: what planning a batch of due digests needs,
in a few statements instead of a few per digest.

Each function is the many-keys form of a one-key function of ``digest_subscriptions``,
``digest_runs`` or ``digest_candidates`` with the same rules (tested against it); the SQL is the
portable subset. Synchronous functions of a connection, run on the database thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from bot.domain.digest_plan import DigestRun
from bot.domain.digest_subscription import Subscription
from bot.storage.dialect import Connection
from bot.storage.digest_runs import _RUN_COLS, current_story_ids, run_from_row
from bot.storage.digest_sql import _dt, _ts
from bot.storage.digest_subscriptions import _SUB_COLS, _subscription

CHUNK = 500  # keys per IN list

History = tuple[datetime | None, datetime | None]  # (previous window end, first attempt)


def _chunks(keys: Sequence[int]) -> Iterator[list[int]]:
    keys = sorted(set(keys))
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


def _sent_ids(conn: Connection, run_ids: Sequence[int]) -> dict[int, list[int]]:
    """The message ids already recorded for each of ``run_ids``, in part order."""
    sent: dict[int, list[int]] = {}
    for chunk in _chunks(run_ids):
        for run_id, message_id in conn.execute(
            f"SELECT run_id, message_id FROM digest_messages WHERE run_id IN ({_marks(chunk)}) "
            "ORDER BY run_id, position",
            chunk,
        ):
            sent.setdefault(run_id, []).append(message_id)
    return sent


def get_subscriptions(conn: Connection, sub_ids: Sequence[int]) -> dict[int, Subscription]:
    """The subscriptions of ``sub_ids`` that exist (``get_subscription`` for each)."""
    out: dict[int, Subscription] = {}
    for chunk in _chunks(sub_ids):
        sql = f"SELECT {_SUB_COLS} FROM digest_subscriptions WHERE id IN ({_marks(chunk)})"
        for row in conn.execute(sql, chunk).fetchall():
            sub = _subscription(row)
            out[sub.id] = sub
    return out


def scheduled_runs(
    conn: Connection, keys: Sequence[tuple[int, datetime]]
) -> dict[tuple[int, int], DigestRun]:
    """The scheduled runs recorded for the (subscription id, fire instant) ``keys``
    (``scheduled_run`` for each), by (subscription id, fire instant in unix seconds)."""
    wanted = {(sub_id, int(at.timestamp())) for sub_id, at in keys}
    rows: list[Sequence] = []
    for chunk in _chunks([sub_id for sub_id, _ in keys]):
        members = set(chunk)
        fires = sorted({fire for sub_id, fire in wanted if sub_id in members})
        rows += conn.execute(
            f"SELECT {_RUN_COLS} FROM digest_runs WHERE kind = 'scheduled' "
            f"AND subscription_id IN ({_marks(chunk)}) AND scheduled_for IN ({_marks(fires)})",
            [*chunk, *fires],
        ).fetchall()
    rows = [r for r in rows if (r[1], r[5]) in wanted]
    sent = _sent_ids(conn, [r[0] for r in rows])
    return {(r[1], r[5]): run_from_row(r, sent.get(r[0], ())) for r in rows}


def window_history(conn: Connection, sub_ids: Sequence[int]) -> dict[int, History]:
    """Per subscription: where its last delivered (or recorded empty) digest's window ended and
    when its first digest of any outcome was scheduled (``previous_window_end`` and
    ``first_attempt`` for each); subscriptions without a run are left out."""
    out: dict[int, History] = {}
    for chunk in _chunks(sub_ids):
        for sub_id, end, first in conn.execute(
            "SELECT subscription_id, max(CASE WHEN status IN ('sent', 'empty') "
            "THEN window_end END), min(scheduled_for) FROM digest_runs "
            f"WHERE subscription_id IN ({_marks(chunk)}) GROUP BY subscription_id",
            chunk,
        ):
            out[sub_id] = (_dt(end), _dt(first))
    return out


def sent_story_ids(
    conn: Connection, channel_ids: Sequence[int], since: datetime
) -> dict[int, set[int]]:
    """Per channel, the current ids of the stories sent there since ``since``
    (``digest_candidates.sent_story_ids`` for each channel)."""
    out: dict[int, set[int]] = {c: set() for c in channel_ids}
    for chunk in _chunks(channel_ids):
        marks = _marks(chunk)
        for channel_id, story_id in conn.execute(
            "SELECT d.channel_id, i.story_id FROM digest_sent_items d "
            "JOIN items i ON i.id = d.item_id "
            f"WHERE d.channel_id IN ({marks}) AND d.sent_at >= ? AND i.story_id IS NOT NULL "
            "UNION SELECT s.channel_id, coalesce(a.new_id, s.story_id) FROM digest_sent_stories s "
            "LEFT JOIN story_aliases a ON a.old_id = s.story_id "
            f"WHERE s.channel_id IN ({marks}) AND s.sent_at >= ?",
            [*chunk, _ts(since), *chunk, _ts(since)],
        ):
            out[channel_id].add(story_id)
    return out


def reserved_story_ids(conn: Connection, channel_ids: Sequence[int]) -> dict[int, set[int]]:
    """Per channel, the current ids of the stories planned there by runs still open
    (``digest_runs.reserved_story_ids`` for each channel)."""
    planned: dict[int, set[int]] = {c: set() for c in channel_ids}
    for chunk in _chunks(channel_ids):
        for channel_id, ids in conn.execute(
            "SELECT channel_id, story_ids FROM digest_runs "
            f"WHERE channel_id IN ({_marks(chunk)}) AND status IN ('planned', 'sending')",
            chunk,
        ):
            planned[channel_id].update(json.loads(ids))
    every = sorted(set().union(*planned.values())) if planned else []
    current = current_story_ids(conn, every) if every else {}
    return {c: {current[s] for s in ids} for c, ids in planned.items()}


def open_runs_by_id(
    conn: Connection, run_ids: Sequence[int]
) -> list[tuple[Subscription, DigestRun]]:
    """The runs of ``run_ids`` still open, each with its subscription (``get_run`` and
    ``get_subscription`` for each), in ``run_ids`` order; runs closed or whose subscription is
    gone are left out."""
    rows: list[Sequence] = []
    for chunk in _chunks(run_ids):
        rows += conn.execute(
            f"SELECT {_RUN_COLS} FROM digest_runs WHERE id IN ({_marks(chunk)}) "
            "AND status IN ('planned', 'sending')",
            chunk,
        ).fetchall()
    sent = _sent_ids(conn, [r[0] for r in rows])
    runs = {r[0]: run_from_row(r, sent.get(r[0], ())) for r in rows}
    subs = get_subscriptions(conn, [run.subscription_id for run in runs.values()])
    return [
        (subs[runs[i].subscription_id], runs[i])
        for i in run_ids
        if i in runs and runs[i].subscription_id in subs
    ]
