"""Coordination storage: leases, claims and the global send pacing, in portable SQL.

The same statements run on SQLite 3.40 and PostgreSQL 15 (``?`` placeholders, upserts with
``ON CONFLICT ... DO UPDATE ... WHERE``, ``RETURNING``). The rules are those of
:mod:`bot.domain.coordination`:

- a lease is taken with one upsert that only updates a free, expired or own row, and returns the
  fencing token (no row returned: someone else holds it). Two processes racing for a lease are
  serialised by the row (PostgreSQL locks the conflicting row; SQLite has one writer);
- a release expires the row instead of deleting it, so the token keeps counting across holders;
- a digest run is claimed inside one transaction that picks open, unclaimed runs (on PostgreSQL
  ``FOR UPDATE OF r SKIP LOCKED``, so concurrent claimers pick different runs without waiting)
  and takes their ``run:<id>`` claims;
- a feed is claimed and its due time re-read in the same transaction: a process that polled it
  writes the next fetch time before releasing the claim, so the next claimer sees it is not due;
- the send pacing is one row per limit holding the theoretical arrival time (GCRA): one UPDATE
  ... RETURNING hands out the next slot, shared by every process.

:class:`Coordination` is the async repository the services use (each method one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.coordination import (
    FEED_PREFIX,
    MEMBER_PREFIX,
    RUN_PREFIX,
    Lease,
    feed_claim,
    member_lease,
    run_claim,
)
from bot.domain.digest_plan import DigestRun
from bot.domain.digest_subscription import Subscription
from bot.storage.db import Database
from bot.storage.dialect import is_postgres
from bot.storage.dialect import transaction as _transaction
from bot.storage.digest_batch import open_runs_by_id

_ACQUIRE = (
    "INSERT INTO leases(name, holder, expires_at, token, acquired_at) VALUES (?, ?, ?, 1, ?) "
    "ON CONFLICT (name) DO UPDATE SET "
    "token = CASE WHEN leases.holder = excluded.holder THEN leases.token "
    "ELSE leases.token + 1 END, "
    "acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? "
    "THEN leases.acquired_at ELSE excluded.acquired_at END, "
    "holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.holder = excluded.holder OR leases.expires_at <= ? "
    "RETURNING token"
)


def _acquire(conn: Any, name: str, holder: str, now: float, ttl: float) -> int | None:
    row = conn.execute(_ACQUIRE, (name, holder, now + ttl, now, now, now)).fetchone()
    return None if row is None else int(row[0])


# -- leases --------------------------------------------------------------------------------------
def acquire(conn: Any, name: str, holder: str, now: float, ttl: float) -> int | None:
    """Take or renew the lease ``name`` for ``ttl`` s; its fencing token, or None when another
    holder has it (not expired)."""
    with _transaction(conn):
        return _acquire(conn, name, holder, now, ttl)


def renew(conn: Any, name: str, holder: str, token: int, now: float, ttl: float) -> bool:
    """Extend a lease still held under ``token`` (False: it was taken over meanwhile)."""
    with _transaction(conn):
        cur = conn.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?",
            (now + ttl, name, holder, token),
        )
        return cur.rowcount == 1


def release(conn: Any, name: str, holder: str, now: float) -> bool:
    """Give a lease up (it expires now; the row and its token stay)."""
    with _transaction(conn):
        cur = conn.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND expires_at > ?",
            (now, name, holder, now),
        )
        return cur.rowcount == 1


def release_all(conn: Any, holder: str, now: float) -> int:
    """Give up every lease and claim of ``holder`` (a clean shutdown)."""
    with _transaction(conn):
        cur = conn.execute(
            "UPDATE leases SET expires_at = ? WHERE holder = ? AND expires_at > ?",
            (now, holder, now),
        )
        return cur.rowcount


def get(conn: Any, name: str) -> Lease | None:
    row = conn.execute(
        "SELECT name, holder, expires_at, token FROM leases WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else Lease(row[0], row[1], float(row[2]), int(row[3]))


def heartbeat(conn: Any, holder: str, now: float, ttl: float) -> int:
    """Renew ``holder``'s membership and every claim it still holds (not its leader lease, which
    is renewed on its own under its token), in one transaction; the number of claims renewed."""
    with _transaction(conn):
        _acquire(conn, member_lease(holder), holder, now, ttl)
        cur = conn.execute(
            "UPDATE leases SET expires_at = ? WHERE holder = ? AND expires_at > ? "
            "AND (name LIKE ? OR name LIKE ?)",
            (now + ttl, holder, now, RUN_PREFIX + "%", FEED_PREFIX + "%"),
        )
        return cur.rowcount


def live_members(conn: Any, now: float) -> list[str]:
    """The processes whose membership has not expired."""
    rows = conn.execute(
        "SELECT holder FROM leases WHERE name LIKE ? AND expires_at > ? ORDER BY holder",
        (MEMBER_PREFIX + "%", now),
    ).fetchall()
    return [r[0] for r in rows]


def purge(conn: Any, before: float) -> int:
    """Forget claims and memberships expired before ``before`` (their runs and feeds are done;
    the leader lease is kept for its token)."""
    with _transaction(conn):
        cur = conn.execute(
            "DELETE FROM leases WHERE expires_at < ? "
            "AND (name LIKE ? OR name LIKE ? OR name LIKE ?)",
            (before, RUN_PREFIX + "%", FEED_PREFIX + "%", MEMBER_PREFIX + "%"),
        )
        return cur.rowcount


# -- claims --------------------------------------------------------------------------------------
def claim_run(conn: Any, run_id: int, holder: str, now: float, ttl: float) -> bool:
    """Claim one digest run (it must still be open)."""
    with _transaction(conn):
        row = conn.execute(
            "SELECT status FROM digest_runs WHERE id = ? AND status IN ('planned', 'sending')",
            (run_id,),
        ).fetchone()
        return row is not None and _acquire(conn, run_claim(run_id), holder, now, ttl) is not None


def claim_runs(conn: Any, holder: str, now: float, ttl: float, limit: int) -> list[int]:
    """Claim up to ``limit`` open digest runs nobody holds (or whose claimer died), oldest first.

    A run another process claimed between this statement's snapshot and its row lock is read as
    free but its claim is refused: the query is then asked again without the runs lost (a new
    statement sees the claims committed meanwhile), so a claimer never returns short while
    claimable runs remain. Each round claims or rules out at least one run: it ends."""
    lock = " FOR UPDATE OF r SKIP LOCKED" if is_postgres(conn) else ""
    claimed: list[int] = []
    lost: list[int] = []
    with _transaction(conn):
        while len(claimed) < limit:
            skip = f" AND r.id NOT IN ({','.join('?' * len(lost))})" if lost else ""
            rows = conn.execute(
                "SELECT r.id FROM digest_runs r LEFT JOIN leases l "
                "ON l.name = ? || CAST(r.id AS TEXT) "
                "WHERE r.status IN ('planned', 'sending') AND (l.name IS NULL OR l.expires_at <= ?)"
                f"{skip} ORDER BY r.id LIMIT ?{lock}",
                (RUN_PREFIX, now, *lost, limit - len(claimed)),
            ).fetchall()
            if not rows:
                break
            for row in rows:
                run_id = int(row[0])
                if _acquire(conn, run_claim(run_id), holder, now, ttl) is not None:
                    claimed.append(run_id)
                else:
                    lost.append(run_id)
    return claimed


def claim_open_runs(
    conn: Any, holder: str, now: float, ttl: float, limit: int
) -> list[tuple[Subscription, DigestRun]]:
    """:func:`claim_runs`, then the claimed runs still open read with their subscriptions, in
    the same hop (nothing of this process runs in between); a claimed run that is not read
    (closed meanwhile, its subscription gone) is released at once."""
    claimed = claim_runs(conn, holder, now, ttl, limit)
    if not claimed:
        return []
    found = open_runs_by_id(conn, claimed)
    gone = set(claimed) - {run.id for _, run in found}
    if gone:
        release_names(conn, [run_claim(i) for i in sorted(gone)], holder, now)
    return found


def claim_due_feeds(
    conn: Any, feed_ids: Sequence[int], holder: str, now: float, ttl: float, due_at: int
) -> list[int]:
    """Claim those of ``feed_ids`` that nobody polls and that are still due (re-read after the
    claim is taken: a poll finished meanwhile has moved the next fetch time)."""
    claimed: list[int] = []
    with _transaction(conn):
        for feed_id in feed_ids:
            if _acquire(conn, feed_claim(feed_id), holder, now, ttl) is None:
                continue
            due = conn.execute(
                "SELECT 1 FROM sources WHERE id = ? AND kind = 'feed' "
                "AND state IN ('active', 'failing') "
                "AND (next_fetch_at IS NULL OR next_fetch_at <= ?)",
                (feed_id, due_at),
            ).fetchone()
            if due is None:
                conn.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                    (now, feed_claim(feed_id), holder),
                )
            else:
                claimed.append(feed_id)
    return claimed


def release_names(conn: Any, names: Sequence[str], holder: str, now: float) -> None:
    with _transaction(conn):
        conn.executemany(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
            [(now, name, holder) for name in names],
        )


# -- pacing --------------------------------------------------------------------------------------
def take_slot(conn: Any, name: str, now: float, interval: float, count: int = 1) -> float:
    """The time at which the caller may send (GCRA; see ``domain.coordination.send_slot``);
    ``count`` consecutive slots are taken at once, ``interval`` apart from the time returned."""
    span = interval * count
    with _transaction(conn):
        row = conn.execute(
            "INSERT INTO rate_slots(name, tat) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
            "tat = CASE WHEN rate_slots.tat > ? THEN rate_slots.tat ELSE ? END + ? RETURNING tat",
            (name, now + span, now, now, span),
        ).fetchone()
        return float(row[0]) - span


class Coordination:
    """The coordination repository: every method is one transaction on the writer."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def acquire(self, name: str, holder: str, now: float, ttl: float) -> int | None:
        return await self.db.run(acquire, name, holder, now, ttl)

    async def renew(self, name: str, holder: str, token: int, now: float, ttl: float) -> bool:
        return await self.db.run(renew, name, holder, token, now, ttl)

    async def release(self, name: str, holder: str, now: float) -> bool:
        return await self.db.run(release, name, holder, now)

    async def release_all(self, holder: str, now: float) -> int:
        return await self.db.run(release_all, holder, now)

    async def get(self, name: str) -> Lease | None:
        return await self.db.run(get, name)

    async def heartbeat(self, holder: str, now: float, ttl: float) -> int:
        return await self.db.run(heartbeat, holder, now, ttl)

    async def live_members(self, now: float) -> list[str]:
        return await self.db.run(live_members, now)

    async def purge(self, before: float) -> int:
        return await self.db.run(purge, before)

    async def claim_run(self, run_id: int, holder: str, now: float, ttl: float) -> bool:
        return await self.db.run(claim_run, run_id, holder, now, ttl)

    async def claim_runs(self, holder: str, now: float, ttl: float, limit: int) -> list[int]:
        return await self.db.run(claim_runs, holder, now, ttl, limit)

    async def claim_open_runs(
        self, holder: str, now: float, ttl: float, limit: int
    ) -> list[tuple[Subscription, DigestRun]]:
        return await self.db.run(claim_open_runs, holder, now, ttl, limit)

    async def claim_due_feeds(
        self, feed_ids: Sequence[int], holder: str, now: float, ttl: float, due_at: int
    ) -> list[int]:
        return await self.db.run(claim_due_feeds, list(feed_ids), holder, now, ttl, due_at)

    async def release_names(self, names: Sequence[str], holder: str, now: float) -> None:
        await self.db.run(release_names, list(names), holder, now)

    async def take_slot(self, name: str, now: float, interval: float, count: int = 1) -> float:
        return await self.db.run(take_slot, name, now, interval, count)
