"""Coordinating several bot processes on one database: the pure rules.

Every process has an id (``host:pid:random``). Work that exactly one process may do at a time is
guarded by a *lease*: a named row (holder, expiry, fencing token) in the database. The scheduler
leader holds the lease :data:`LEADER` (rescans, digest fire-time planning); a digest run being
posted, a feed being polled are *claims*: leases named ``run:<id>``, ``feed:<id>``. A lease is
taken when free or expired, renewed by its holder, and released by expiring it (the row stays so
that the fencing token keeps counting: it is incremented on every change of holder).

The rules here are pure (no clock, no database): the storage layer applies them in SQL, the
coordinator service decides with them when to renew, when to give up leadership, and how long to
wait. Wall-clock seconds (``time.time()``) are used across processes: hosts need synchronised
clocks (NTP); :data:`LEADER_MARGIN` absorbs a small skew.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LEADER = "scheduler"
"""The scheduler leader's lease name."""

LEADER_TTL = 15.0
"""Seconds a leader lease lasts without renewal: a dead leader is replaced within
``LEADER_TTL + RENEW_EVERY`` (20 s, under the 30 s promised)."""

RENEW_EVERY = 5.0
"""Seconds between heartbeats: renewals by holders, attempts by the others."""

LEADER_MARGIN = 2.0
"""A leader that could not renew stops its leader-only work this long before its lease expires,
so that its work and a successor's never overlap (clock skew up to this much is absorbed)."""

CLAIM_TTL = 30.0
"""Seconds a claim (a digest run, a feed poll) lasts without renewal; its holder renews every
claim it holds at each heartbeat, so only a dead or stalled holder loses one."""

MEMBER_PREFIX = "member:"
RUN_PREFIX = "run:"
FEED_PREFIX = "feed:"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    expires_at: float
    token: int

    def held_by(self, holder: str, now: float) -> bool:
        return self.holder == holder and self.expires_at > now

    def free(self, now: float) -> bool:
        return self.expires_at <= now


def process_id(host: str, pid: int, rnd: str) -> str:
    """``host:pid:random`` (the random part tells a restarted process with a reused pid apart)."""
    return f"{host}:{pid}:{rnd}"


def run_claim(run_id: int) -> str:
    return f"{RUN_PREFIX}{run_id}"


def feed_claim(feed_id: int) -> str:
    return f"{FEED_PREFIX}{feed_id}"


def member_lease(holder: str) -> str:
    return f"{MEMBER_PREFIX}{holder}"


def may_take(current: Lease | None, holder: str, now: float) -> bool:
    """Whether ``holder`` may take the lease: it is free, expired, or already its own."""
    return current is None or current.holder == holder or current.free(now)


def next_token(current: Lease | None, holder: str) -> int:
    """The fencing token after ``holder`` takes the lease: unchanged on a renewal by the same
    holder, one more on every takeover (so a late write by a deposed holder can be told apart)."""
    if current is None:
        return 1
    return current.token if current.holder == holder else current.token + 1


def lead_until(renewed_at: float, ttl: float = LEADER_TTL, margin: float = LEADER_MARGIN) -> float:
    """Until when a leader that last renewed at ``renewed_at`` may act as leader."""
    return renewed_at + ttl - margin


def heartbeat_delay(rnd: random.Random | None = None, every: float = RENEW_EVERY) -> float:
    """The wait before the next heartbeat: ``every`` with +-10 % jitter, so that processes
    started together do not all hit the database in the same instant."""
    r = (rnd or random).random()
    return every * (0.9 + 0.2 * r)


def send_slot(tat: float | None, now: float, interval: float) -> tuple[float, float]:
    """A global pacing slot (GCRA, no burst): ``(send_at, new_tat)`` for a request made at
    ``now`` when the theoretical arrival time is ``tat``. Requests of every process together are
    spaced ``interval`` apart. The storage layer computes exactly this in one UPDATE."""
    send_at = now if tat is None or tat < now else tat
    return send_at, send_at + interval


@dataclass(frozen=True, slots=True)
class Shards:
    """Which gateway shards a process runs: ``gateway`` False for a worker (no gateway);
    ``ids`` None for all shards; ``count`` None for the count Discord recommends. Nothing asked
    for (``sharded`` False): one unsharded connection, as a bot in fewer than 2,500 servers
    needs; ``all`` asks for every shard, as many as Discord recommends."""

    gateway: bool
    ids: tuple[int, ...] | None
    count: int | None
    all_shards: bool = False

    @property
    def sharded(self) -> bool:
        return self.gateway and (self.ids is not None or self.count is not None or self.all_shards)


def parse_shards(ids: str | None, count: int | None) -> Shards:
    """``--shard-ids`` / ``[discord] shard_ids`` (``none``, ``all``, ``0,2``, ``0-3``, or empty)
    with ``--shard-count`` / ``shard_count`` (None: from Discord). Raises ValueError saying what
    is wrong."""
    if count is not None and count < 1:
        raise ValueError(f"the shard count must be at least 1, got {count}")
    text = (ids or "").strip().lower()
    if text == "none":
        return Shards(False, None, count)
    if text in ("", "all"):
        return Shards(True, None, count, all_shards=text == "all")
    chosen: set[int] = set()
    for raw in text.split(","):
        part = raw.strip()
        lo, sep, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise ValueError(
                f"expected shard ids like 0,1 or 0-3 (or none, all), got {ids!r}"
            ) from None
        if first < 0 or last < first:
            raise ValueError(f"bad shard range {part!r} in {ids!r}")
        chosen.update(range(first, last + 1))
    if count is None:
        raise ValueError("choosing shard ids needs the shard count too (--shard-count N)")
    too_big = sorted(i for i in chosen if i >= count)
    if too_big:
        raise ValueError(
            f"shard id {too_big[0]} does not exist with {count} shard(s) (ids are 0 to {count - 1})"
        )
    return Shards(True, tuple(sorted(chosen)), count)
