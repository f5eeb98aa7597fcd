"""Incremental story grouping at ingest (SQLite side), and the stored story aggregates.

The algorithm is ``bot.domain.stories.StoryEngine``; :class:`SqliteStore`
(:mod:`bot.storage.story_store`) keeps its state in the database, written through on every
change inside the ingest transaction: ``stories`` (size, ``norm2``, ``span_first``/
``span_last``), ``story_terms`` (one centroid weight per term and story), ``term_buckets`` /
``story_buckets`` (story and item frequencies per week, ``bot.storage.term_stats``) and
``story_ids`` (the last id given and the number of stories held). The next batch, or a re-run
after a crash, therefore reads exactly the state an uninterrupted run would have: the result does
not depend on batch sizes.

For each new article A (see ``docs/stories.md``):

1. A is grouped like any item: it joins the story whose centroid it is most similar to (stories
   holding items of A's ``related`` list count as linked: a lower bar), or starts a new one;
2. each entry of A's ``related`` list published within the window of A and not yet in a story is
   grouped the same way, with A's story as the linked one; an entry already in another story
   lets the two stories merge when their centroids agree (at the linked bar);
3. merged stories leave an alias (``story_aliases``), and story ids are never given again.

An item keeps the story it has (an edited article is not regrouped; ``newsbot stories rebuild``
regroups everything). Aggregates (counts, best quality, dates, lead, topics, ``rank_key``) are
recomputed for the touched stories once per batch in :meth:`StoryGrouper.flush`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from bot.domain.models import Article
from bot.domain.ranking import RankingSettings
from bot.domain.stories import (
    Buckets,
    StoryEngine,
    StorySettings,
    idf_window,
    item_tokens,
    terms_of,
)
from bot.storage.dialect import lock_stories, one_of, plain_rows
from bot.storage.story_aggregates import refresh_stories
from bot.storage.story_cache import GroupingCache
from bot.storage.story_store import SqliteStore, _dt

__all__ = ["SqliteStore", "StoryGrouper"]


class StoryGrouper:
    """Groups the articles of one ingest batch (``write_batch``) into stories."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        now: int,
        settings: StorySettings | None = None,
        ranking: RankingSettings | None = None,
        cache: GroupingCache | None = None,
    ) -> None:
        lock_stories(conn)  # grouping is serialised across processes (dialect.lock_stories)
        self.conn = conn
        self.now = now
        self.cache = cache  # what the writer's previous transaction left exact (story_cache)
        self.settings = settings or StorySettings()
        self.ranking = ranking or RankingSettings()
        self.reset()

    def reset(self) -> None:
        """Forget every cached read and pending count: after a rollback undid grouping that
        had begun, they may hold what the database no longer does. Only safe when nothing
        grouped earlier in the transaction is still pending (see ``write_batch``)."""
        self.store = SqliteStore(self.conn, self.now, self.cache)
        self.engine = StoryEngine(self.store, self.settings)
        self.dirty = self.store.touched
        self.entered = 0  # groupings begun since (add_item_group calls)

    def read_ahead(self, articles: Sequence[Article]) -> None:
        """PostgreSQL: read the term frequencies of every item the batch will group in a few
        queries, not one query per item (a round trip each there; SQLite reads as it goes)."""
        if not self.store._read_ahead:
            return
        settings = self.settings
        by_window: dict[Buckets, set[str]] = {}  # the frequencies are read per IDF window
        memo = self.engine.tokens

        def want(title: str, excerpt: str | None, at: datetime | None) -> None:
            tokens = memo.get((title, excerpt))
            if tokens is None:
                tokens = memo[(title, excerpt)] = item_tokens(title, excerpt)
            by_window.setdefault(idf_window(at, settings), set()).update(terms_of(tokens, settings))

        reach = settings.window
        for a in articles:
            want(a.title, a.excerpt, a.published_at)
            for r in a.related:
                # only an entry within the article's window can be grouped with it
                # (add_item_group); one that is already in a story is not regrouped either, but
                # that is known only once its row is read
                if r.published_at is None or abs(r.published_at - a.published_at) <= reach:
                    want(r.title, r.excerpt, r.published_at)
        for window in sorted(by_window, key=lambda w: (w is None, w or (0, 0))):
            self.store.item_dfs(sorted(by_window[window]), window)
            self.store.stories(window)

    def add_article(self, item_id: int, article: Article, related_ids: Mapping[str, int]) -> int:
        """Group an article and the entries of its related list; the article's story."""
        related = list(dict.fromkeys(related_ids[r.url] for r in article.related))
        return self.add_item_group(item_id, [r for r in related if r != item_id])

    def add_item_group(self, item_id: int, related: Sequence[int]) -> int:
        """Group an item and then the items it lists as related, in that order."""
        self.entered += 1
        rows = {}
        heads = []
        condition, params = one_of(self.conn, [item_id, *related], "bigint")
        # texts only of the items without a story: no other can be grouped here
        for r in plain_rows(
            self.conn,
            "SELECT i.id, i.story_id, CASE WHEN i.story_id IS NULL THEN i.title END, "
            "CASE WHEN i.story_id IS NULL THEN i.excerpt END, i.published_at, s.norm2, s.size, "
            "s.span_first, s.span_last FROM items i LEFT JOIN stories s ON s.id = i.story_id "
            f"WHERE i.id {condition}",
            params,
        ):
            rows[r[0]] = r[1:5]
            if r[1] is not None:
                heads.append((r[1], *r[5:]))
        self.store.remember_stories((item, row[0]) for item, row in rows.items())
        self.store.remember_heads(heads)
        _, title, excerpt, published = rows[item_id]
        at = _dt(published)
        linked = {rows[r][0] for r in related if rows[r][0] is not None}
        story = self.engine.add(item_id, title or "", excerpt, at, linked)
        window = self.settings.window
        for rid in related:
            _, r_title, r_excerpt, r_published = rows[rid]
            r_at = _dt(r_published)
            if r_at is not None and at is not None and abs(r_at - at) > window:
                continue
            story = self.store.story_of(item_id) or story
            other = self.store.story_of(rid)
            if other is None:
                self.engine.add(rid, r_title or "", r_excerpt, r_at, {story})
            elif other != story:
                self.engine.try_merge(story, other, linked=True)
        self.dirty.add(self.store.story_of(item_id) or story)
        return self.store.story_of(item_id) or story

    def refresh_removed(self, item_ids: Iterable[int]) -> None:
        for item_id in item_ids:
            story = self.store.story_of(item_id)
            if story is not None:
                self.dirty.add(story)

    # -- aggregates -------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the pending term statistics; recompute the aggregates of the touched stories."""
        self.store.write_stats()
        if self.dirty:
            refresh_stories(self.conn, sorted(self.dirty), self.now, self.ranking)
        self.dirty.clear()
