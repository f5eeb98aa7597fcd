"""Recompute every story from the stored items (``newsbot stories rebuild``), in one transaction.

The items are replayed in the order a fresh ingest of the same files would group them: files by
id (the order they were first recorded), each file's article and then its ``related`` entries in
list order (``links.position``); withdrawn articles are skipped, as at ingest. The result is the
same as ingesting the same files into an empty database with the current settings.

Old story ids are never reused: the rebuilt stories get new ids, and each old id (and every alias
pointing at it) becomes an alias of the new story holding most of its items, so story links keep
resolving. The digests' "already sent" lists are kept by item (``digest_sent_items``), so a story
holding an item already posted to a channel still counts as sent there: nothing is posted twice.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.ranking import RankingSettings
from bot.domain.stories import StorySettings
from bot.storage.dialect import lock_stories
from bot.storage.stories import StoryGrouper
from bot.storage.story_aggregates import refresh_topic_counts

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RebuildReport:
    articles: int
    stories_before: int
    stories_after: int
    multi_item_stories: int
    largest: int


def _plan(conn: sqlite3.Connection) -> list[tuple[int, list[int]]]:
    """(article item, its related items in list order) for every loaded file, in file order."""
    related: dict[int, list[int]] = {}
    for file_id, dst in conn.execute(
        "SELECT l.file_id, l.dst_id FROM links l ORDER BY l.file_id, l.position"
    ):
        related.setdefault(file_id, []).append(dst)
    plan = []
    for file_id, item_id in conn.execute(
        "SELECT f.id, f.item_id FROM files f JOIN items i ON i.id = f.item_id "
        "WHERE i.removed = 0 ORDER BY f.id"
    ):
        plan.append((item_id, [r for r in related.get(file_id, []) if r != item_id]))
    return plan


def rebuild_stories(
    conn: sqlite3.Connection,
    now: int,
    progress: Progress | None = None,
    settings: StorySettings | None = None,
    ranking: RankingSettings | None = None,
) -> RebuildReport:
    """Regroup every item; returns counts. All or nothing: one ``BEGIN IMMEDIATE`` transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        lock_stories(conn)  # before the first read: no other process groups while we rebuild
        old = dict(
            conn.execute("SELECT id, story_id FROM items WHERE story_id IS NOT NULL").fetchall()
        )
        (before,) = conn.execute("SELECT count(*) FROM stories").fetchone()
        plan = _plan(conn)
        conn.execute("UPDATE items SET story_id = NULL WHERE story_id IS NOT NULL")
        conn.execute("DELETE FROM story_topics")
        conn.execute("DELETE FROM story_terms")
        conn.execute("DELETE FROM term_buckets")
        conn.execute("DELETE FROM story_buckets")
        conn.execute("DELETE FROM stories")
        conn.execute(  # a new generation: no writer's kept reads survive (story_cache)
            "UPDATE story_ids SET held = 0, items = 0, generation = generation + 1 WHERE id = 1"
        )
        grouper = StoryGrouper(conn, now, settings, ranking)
        total = len(plan)
        for done, (item_id, related) in enumerate(plan, 1):
            grouper.add_item_group(item_id, related)
            if progress is not None:
                progress(done, total)
        grouper.flush()
        _alias_old_stories(conn, old)
        refresh_topic_counts(conn, [r[0] for r in conn.execute("SELECT id FROM topics")])
        (after,) = conn.execute("SELECT count(*) FROM stories").fetchone()
        multi, largest = conn.execute(
            "SELECT count(*) FILTER (WHERE item_count > 1), coalesce(max(item_count), 0) "
            "FROM stories"
        ).fetchone()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return RebuildReport(total, before, after, multi, largest)


def _alias_old_stories(conn: sqlite3.Connection, old: dict[int, int]) -> None:
    """Point every old story id (and the aliases to it) at the new story with most of its items."""
    new = dict(conn.execute("SELECT id, story_id FROM items WHERE story_id IS NOT NULL").fetchall())
    votes: dict[int, Counter[int]] = {}
    for item, story in old.items():
        target = new.get(item)
        if target is not None:
            votes.setdefault(story, Counter())[target] += 1
    mapping = {
        story: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for story, c in votes.items()
    }
    aliases = conn.execute("SELECT old_id, new_id FROM story_aliases").fetchall()
    rows = [(o, mapping[n]) for o, n in aliases if n in mapping]
    rows += [(o, n) for o, n in mapping.items() if o != n]
    conn.execute("DELETE FROM story_aliases WHERE new_id NOT IN (SELECT id FROM stories)")
    conn.executemany(
        "INSERT INTO story_aliases(old_id, new_id) VALUES (?, ?) "
        "ON CONFLICT(old_id) DO UPDATE SET new_id = excluded.new_id",
        rows,
    )
