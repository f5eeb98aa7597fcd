"""Sources storage: feeds (and the file-kind rows the files table keeps in step), their polling
state, and the write of one poll's results.

:class:`SourceRepository` is the whole contract the services use: async methods whose
transactions live inside them, returning domain objects (:class:`bot.domain.feeds.Feed`). The SQL
is written once for both dialects (``ON CONFLICT`` upserts, ``RETURNING``; see
:mod:`bot.storage.dialect`). Times are stored as INTEGER unix seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.feeds import Feed, FeedEntry, PollState
from bot.storage.articles import store_articles
from bot.storage.db import Database
from bot.storage.dialect import Connection
from bot.storage.story_cache import GroupingCache

__all__ = ["ConfigFeed", "FeedCounts", "PollWrite", "SourceRepository"]

BACKLOG_NEW = 24 * 3600  # backlog entries published within this of the first fetch stay "new"

_COLS = (
    "id, locator, name, topics, every_minutes, origin, state, etag, last_modified, title, "
    "site_url, last_fetch_at, last_status, last_ok_at, last_items, next_fetch_at, error_streak, "
    "failing_since, last_error, backlog_done, created_at"
)


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _feed(row: Sequence) -> Feed:
    (fid, url, name, topics, every, origin, state, etag, modified, title, site, fetched, status,
     ok_at, items, next_at, streak, since, error, backlog, created) = row  # fmt: skip
    return Feed(
        id=fid,
        url=url,
        name=name,
        topics=tuple(json.loads(topics or "[]")),
        every_minutes=every,
        origin=origin,
        state=state,
        etag=etag,
        last_modified=modified,
        title=title,
        site_url=site,
        last_fetch_at=_dt(fetched),
        last_status=status,
        last_ok_at=_dt(ok_at),
        last_items=items,
        next_fetch_at=_dt(next_at),
        error_streak=streak,
        failing_since=_dt(since),
        last_error=error,
        backlog_done=bool(backlog),
        created_at=_dt(created) or datetime.fromtimestamp(0, UTC),
    )


@dataclass(frozen=True, slots=True)
class ConfigFeed:
    url: str
    name: str | None = None
    topics: tuple[str, ...] = ()
    every_minutes: float | None = None


@dataclass(slots=True)
class PollWrite:
    """What one fetch of one feed changes: its state, validators, and (on 200) its entries."""

    feed_id: int
    state: PollState
    fetched_at: int
    status: int | None
    ok: bool  # 200 parsed, or 304
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    title: str | None = None
    site_url: str | None = None
    items: int | None = None  # usable entries (200 only)
    entries: list[FeedEntry] | None = None  # None: nothing parsed (304, failure)


@dataclass(slots=True)
class FeedCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: bool = False  # the stored url was changed by a permanent redirect


class SourceRepository:
    """Feeds and their state. All methods are async; each is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- feeds --------------------------------------------------------------------------------
    async def add_feed(
        self,
        url: str,
        *,
        name: str | None,
        topics: Sequence[str],
        every_minutes: float | None,
        now: int,
        origin: str = "user",
    ) -> tuple[Feed, bool]:
        """Add a feed (due at once); ``(feed, False)`` when the url is already a feed."""
        return await self.db.run(_add_feed, url, name, list(topics), every_minutes, now, origin)

    async def get(self, feed_id: int) -> Feed | None:
        rows = await self.db.run(_select, "id = ?", (feed_id,))
        return rows[0] if rows else None

    async def by_url(self, url: str) -> Feed | None:
        rows = await self.db.run(_select, "locator = ?", (url,))
        return rows[0] if rows else None

    async def all(self) -> list[Feed]:
        return await self.db.run(_select, "1 = 1", ())

    async def due(self, now: int) -> list[Feed]:
        """Active and failing feeds whose next fetch time has come (a new feed is due)."""
        return await self.db.run(
            _select,
            "state IN ('active', 'failing') AND (next_fetch_at IS NULL OR next_fetch_at <= ?)",
            (now,),
        )

    async def remove(self, feed_id: int) -> bool:
        """Forget a feed and its entries' identities; its articles stay."""
        return await self.db.run(_remove, feed_id)

    async def sync_config(self, feeds: Sequence[ConfigFeed], now: int) -> tuple[int, int, int]:
        """Make the config-declared feeds match ``feeds``: (added, updated, removed)."""
        return await self.db.run(_sync_config, list(feeds), now)

    async def record_polls(self, writes: Sequence[PollWrite], now: int) -> list[FeedCounts]:
        """Store a batch of fetch outcomes and their entries in one transaction."""
        return await self.db.run(_record_polls, list(writes), now, self.db.grouping)


def _select(conn: Connection, where: str, params: Sequence) -> list[Feed]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM sources WHERE kind = 'feed' AND {where} ORDER BY id", params
    ).fetchall()
    return [_feed(r) for r in rows]


def _transaction(conn: Connection):
    conn.execute("BEGIN IMMEDIATE")


def _add_feed(conn, url, name, topics, every, now, origin) -> tuple[Feed, bool]:
    _transaction(conn)
    try:
        row = conn.execute(
            "INSERT INTO sources(kind, locator, name, topics, every_minutes, origin, created_at, "
            "updated_at) VALUES ('feed', ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(kind, locator) DO NOTHING RETURNING id",
            (url, name, json.dumps(topics, ensure_ascii=False), every, origin, now, now),
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    [feed] = _select(conn, "locator = ?", (url,))
    return feed, row is not None


def _remove(conn: Connection, feed_id: int) -> bool:
    _transaction(conn)
    try:
        cur = conn.execute("DELETE FROM sources WHERE kind = 'feed' AND id = ?", (feed_id,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return cur.rowcount > 0


def _sync_config(conn: Connection, feeds: list[ConfigFeed], now: int):
    _transaction(conn)
    added = updated = removed = 0
    try:
        existing = {
            url: (fid, origin, name, topics, every)
            for fid, url, origin, name, topics, every in conn.execute(
                "SELECT id, locator, origin, name, topics, every_minutes FROM sources "
                "WHERE kind = 'feed'"
            )
        }
        wanted = set()
        for f in feeds:
            wanted.add(f.url)
            topics = json.dumps(list(f.topics), ensure_ascii=False)
            old = existing.get(f.url)
            if old is None:
                conn.execute(
                    "INSERT INTO sources(kind, locator, name, topics, every_minutes, origin, "
                    "created_at, updated_at) VALUES ('feed', ?, ?, ?, ?, 'config', ?, ?)",
                    (f.url, f.name, topics, f.every_minutes, now, now),
                )
                added += 1
            elif old[1:] != ("config", f.name, topics, f.every_minutes):
                conn.execute(
                    "UPDATE sources SET origin = 'config', name = ?, topics = ?, "
                    "every_minutes = ?, updated_at = ? WHERE id = ?",
                    (f.name, topics, f.every_minutes, now, old[0]),
                )
                updated += 1
        for url, (fid, origin, *_rest) in existing.items():
            if origin == "config" and url not in wanted:
                conn.execute("DELETE FROM sources WHERE id = ?", (fid,))
                removed += 1
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return added, updated, removed


def _claim_url(conn: Connection, source_id: int, guid: str, url: str) -> None:
    """An entry whose link changed keeps its article: move the known item to the new url (when
    no other item has it yet)."""
    row = conn.execute(
        "SELECT i.id, i.url FROM feed_entries e JOIN items i ON i.id = e.item_id "
        "WHERE e.source_id = ? AND e.guid = ?",
        (source_id, guid),
    ).fetchone()
    if row is None or row[1] == url:
        return
    taken = conn.execute("SELECT 1 FROM items WHERE url = ?", (url,)).fetchone()
    if taken is None:
        conn.execute("UPDATE items SET url = ? WHERE id = ?", (url, row[0]))


def _update_source(conn: Connection, w: PollWrite, now: int) -> bool:
    s = w.state
    moved = False
    if w.moved_to:
        clash = conn.execute(
            "SELECT 1 FROM sources WHERE kind = 'feed' AND locator = ? AND id != ?",
            (w.moved_to, w.feed_id),
        ).fetchone()
        if clash is None:
            conn.execute("UPDATE sources SET locator = ? WHERE id = ?", (w.moved_to, w.feed_id))
            moved = True
    sets = [
        "state = ?",
        "error_streak = ?",
        "failing_since = ?",
        "last_error = ?",
        "next_fetch_at = ?",
        "last_fetch_at = ?",
        "last_status = ?",
        "updated_at = ?",
    ]
    params: list = [
        s.state,
        s.error_streak,
        s.failing_since,
        s.last_error,
        s.next_fetch_at,
        w.fetched_at,
        w.status,
        now,
    ]
    if w.ok:
        sets += ["last_ok_at = ?", "etag = ?", "last_modified = ?"]
        params += [w.fetched_at, w.etag, w.last_modified]
    if w.entries is not None:
        sets += ["last_items = ?", "backlog_done = 1", "title = ?", "site_url = ?"]
        params += [w.items, w.title, w.site_url]
    conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*params, w.feed_id))
    return moved


def _record_polls(
    conn: Connection, writes: list[PollWrite], now: int, cache: GroupingCache | None = None
) -> list[FeedCounts]:
    _transaction(conn)
    try:
        counts = [FeedCounts() for _ in writes]
        batch: list = []
        owners: list[tuple[int, int, str]] = []  # (write index, source id, guid) per article
        for index, w in enumerate(writes):
            backlog = False
            if w.entries is not None:
                row = conn.execute(
                    "SELECT backlog_done FROM sources WHERE id = ?", (w.feed_id,)
                ).fetchone()
                backlog = row is not None and not row[0]
            counts[index].moved = _update_source(conn, w, now)
            for entry in w.entries or ():
                article = entry.article
                if not backlog:  # a first document has no earlier entries to follow
                    _claim_url(conn, w.feed_id, entry.guid, article.url)
                published = int(article.published_at.timestamp())
                seen_at = published if backlog and published < now - BACKLOG_NEW else None
                batch.append((article, w.fetched_at * 1_000_000_000, seen_at))
                owners.append((index, w.feed_id, entry.guid))
        if batch:
            _, results = store_articles(conn, batch, now, cache=cache)
            rows = []
            for (index, source_id, guid), (item_id, result) in zip(owners, results, strict=True):
                c = counts[index]
                setattr(c, result, getattr(c, result) + 1)
                rows.append((source_id, guid, item_id, now))
            conn.executemany(
                "INSERT INTO feed_entries(source_id, guid, item_id, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(source_id, guid) DO UPDATE SET item_id = excluded.item_id "
                "WHERE feed_entries.item_id != excluded.item_id",
                rows,
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return counts
