"""Incremental story grouping at ingest, and the stored story aggregates.

For each new or changed article A (see ``docs/stories.md`` for the method and thresholds):

1. A gets the story of its row if it has one (its url may already be coverage of another story),
   else a new story;
2. each item of A's ``related`` list joins A's story when ``same_story(A, item, linked=True)``;
3. items found by full-text search on A's most distinctive title words, published within the
   story window around A, join when ``same_story(A, item, linked=False)``;
4. joining an item that already belongs to another story merges the two stories (the larger one
   survives; the absorbed id is kept in ``story_aliases`` so that digests never resend it).

Stories only grow or merge; they never split. Aggregates (counts, best quality, dates, lead, topics,
``rank_key``) are recomputed for the touched stories once per batch in :meth:`StoryGrouper.flush`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from bot.domain.models import Article
from bot.domain.ranking import RankingSettings, rank_key
from bot.domain.stories import StoryDoc, StorySettings, query_tokens, same_story, span_ok
from bot.domain.text import GENERIC

CANDIDATE_LIMIT = 400  # in-window items sharing a search term; a safety cap


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _fts_query(tokens: Iterable[str]) -> str | None:
    words = [t.replace('"', "") for t in tokens if t]
    if not words:
        return None
    return "title : (" + " OR ".join(f'"{w}"*' for w in words) + ")"


class StoryGrouper:
    def __init__(
        self,
        conn: sqlite3.Connection,
        now: int,
        settings: StorySettings | None = None,
        ranking: RankingSettings | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.settings = settings or StorySettings()
        self.ranking = ranking or RankingSettings()
        self.window = int(self.settings.window.total_seconds())
        self.dirty: set[int] = set()
        self._docs: dict[tuple, StoryDoc] = {}

    # -- grouping ---------------------------------------------------------------------------
    def add_article(self, item_id: int, article: Article, related_ids: Mapping[str, int]) -> int:
        doc = StoryDoc.of(article.title, article.excerpt, article.published_at)
        story = self._story_of(item_id)
        if story is None:
            story = self._new_story(item_id)
        self.dirty.add(story)
        window = self.settings.window
        for r in article.related:
            other = related_ids.get(r.url)
            if other is None or other == item_id:
                continue
            # cheap date test first: most related items fall outside the window
            if r.published_at is not None and abs(r.published_at - article.published_at) > window:
                continue
            if same_story(
                doc,
                self._doc(r.title, r.excerpt, r.published_at),
                linked=True,
                settings=self.settings,
            ):
                story = self._join(story, other)
        for other, cand in self._candidates(item_id, doc):
            if same_story(doc, cand, linked=False, settings=self.settings):
                story = self._join(story, other)
        return story

    def _doc(self, title: str, excerpt: str | None, published: datetime | None) -> StoryDoc:
        """StoryDoc of an item, cached: the same coverage is listed by many articles."""
        key = (title, excerpt, published)
        doc = self._docs.get(key)
        if doc is None:
            if len(self._docs) > 50_000:
                self._docs.clear()
            doc = self._docs[key] = StoryDoc.of(title, excerpt, published)
        return doc

    def refresh_removed(self, item_ids: Iterable[int]) -> None:
        for item_id in item_ids:
            story = self._story_of(item_id)
            if story is not None:
                self.dirty.add(story)

    def _story_of(self, item_id: int) -> int | None:
        row = self.conn.execute("SELECT story_id FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else row[0]

    def _new_story(self, item_id: int) -> int:
        (story,) = self.conn.execute(
            "INSERT INTO stories(lead_item_id, updated_at) VALUES (?, ?) RETURNING id",
            (item_id, self.now),
        ).fetchone()
        self.conn.execute("UPDATE items SET story_id = ? WHERE id = ?", (story, item_id))
        return story

    def _candidates(self, item_id: int, doc: StoryDoc) -> list[tuple[int, StoryDoc]]:
        # Only title words: an unlinked pair must share a distinctive title word (same_story).
        query = _fts_query(query_tokens(doc, min(8, len(doc.title_tokens - GENERIC))))
        if query is None or doc.published_at is None:
            return []
        ts = int(doc.published_at.timestamp())
        rows = self.conn.execute(
            "SELECT i.id, i.title, i.excerpt, i.published_at FROM items_fts f "
            "JOIN items i ON i.id = f.rowid "
            "WHERE items_fts MATCH ? AND i.published_at BETWEEN ? AND ? AND i.id != ? "
            "AND i.removed = 0 LIMIT ?",
            (query, ts - self.window, ts + self.window, item_id, CANDIDATE_LIMIT),
        ).fetchall()
        return [(rid, self._doc(title, excerpt, _dt(pub))) for rid, title, excerpt, pub in rows]

    def _span(self, story: int) -> tuple[datetime | None, datetime | None]:
        lo, hi = self.conn.execute(
            "SELECT min(published_at), max(published_at) FROM items WHERE story_id = ?", (story,)
        ).fetchone()
        return _dt(lo), _dt(hi)

    def _join(self, story: int, item_id: int) -> int:
        """Put an item (and the story it belongs to) into ``story``, unless the result would
        span more than ``max_span`` (the guard against chains of daily coverage)."""
        row = self.conn.execute(
            "SELECT story_id, published_at FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        other, published = row
        if other == story:
            return story
        other_span = self._span(other) if other is not None else (_dt(published), _dt(published))
        if not span_ok(*self._span(story), *other_span, settings=self.settings):
            return story
        if other is None:
            self.conn.execute("UPDATE items SET story_id = ? WHERE id = ?", (story, item_id))
            return story
        return self._merge(story, other)

    def _size(self, story: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM items WHERE story_id = ?", (story,)
        ).fetchone()[0]

    def _merge(self, a: int, b: int) -> int:
        keep, gone = (a, b) if (self._size(a), -a) >= (self._size(b), -b) else (b, a)
        conn = self.conn
        conn.execute("UPDATE items SET story_id = ? WHERE story_id = ?", (keep, gone))
        conn.execute("UPDATE story_aliases SET new_id = ? WHERE new_id = ?", (keep, gone))
        conn.execute(
            "INSERT OR REPLACE INTO story_aliases(old_id, new_id) VALUES (?, ?)", (gone, keep)
        )
        conn.execute("DELETE FROM stories WHERE id = ?", (gone,))
        self.dirty.discard(gone)
        self.dirty.add(keep)
        return keep

    # -- aggregates -------------------------------------------------------------------------
    def flush(self) -> None:
        if self.dirty:
            refresh_stories(self.conn, sorted(self.dirty), self.now, self.ranking)
        self.dirty.clear()


def refresh_stories(
    conn: sqlite3.Connection, story_ids: list[int], now: int, ranking: RankingSettings
) -> None:
    """Recompute the stored aggregates, lead, topics and rank key of the given stories."""
    topics: set[int] = set()
    for story in story_ids:
        row = conn.execute(
            "SELECT coalesce(sum(is_article), 0), count(*), count(DISTINCT provider_id), "
            "max(quality), max(CASE WHEN is_article THEN heat END), min(published_at), "
            "max(published_at), min(first_seen_at), max(first_seen_at) "
            "FROM items WHERE story_id = ? AND removed = 0",
            (story,),
        ).fetchone()
        articles, items, providers, best_q, max_heat, first_pub, last_pub, first_seen, last_seen = (
            row
        )
        lead = conn.execute(
            "SELECT id FROM items WHERE story_id = ? AND removed = 0 "
            "ORDER BY is_article DESC, quality IS NULL, quality DESC, published_at IS NULL, "
            "published_at, id LIMIT 1",
            (story,),
        ).fetchone()
        key = (
            rank_key(
                best_quality=best_q,
                max_heat=max_heat,
                providers=providers,
                latest_at=last_pub,
                settings=ranking,
            )
            if articles
            else None
        )
        conn.execute(
            "UPDATE stories SET lead_item_id=?, article_count=?, item_count=?, provider_count=?, "
            "best_quality=?, max_heat=?, first_published_at=?, last_published_at=?, "
            "first_seen_at=?, last_seen_at=?, rank_key=?, updated_at=? WHERE id=?",
            (
                lead[0] if lead else None,
                articles,
                items,
                providers,
                best_q,
                max_heat,
                first_pub,
                last_pub,
                first_seen,
                last_seen,
                key,
                now,
                story,
            ),
        )
        old = {
            r[0]
            for r in conn.execute("SELECT topic_id FROM story_topics WHERE story_id = ?", (story,))
        }
        conn.execute("DELETE FROM story_topics WHERE story_id = ?", (story,))
        conn.execute(
            "INSERT OR IGNORE INTO story_topics(topic_id, story_id, rank_key) "
            "SELECT DISTINCT t.topic_id, ?, ? FROM items i JOIN item_topics t ON t.item_id = i.id "
            "WHERE i.story_id = ? AND i.removed = 0",
            (story, key, story),
        )
        topics.update(old)
        topics.update(
            r[0]
            for r in conn.execute("SELECT topic_id FROM story_topics WHERE story_id = ?", (story,))
        )
    refresh_topic_counts(conn, topics)


def refresh_topic_counts(conn: sqlite3.Connection, topic_ids: Iterable[int]) -> None:
    """Recompute the stored article and story counts of the given topics."""
    conn.executemany(
        "UPDATE topics SET article_count = (SELECT count(*) FROM item_topics t "
        "JOIN items i ON i.id = t.item_id WHERE t.topic_id = topics.id AND i.removed = 0), "
        "story_count = (SELECT count(*) FROM story_topics s JOIN stories st ON st.id = s.story_id "
        "WHERE s.topic_id = topics.id AND st.article_count > 0) WHERE id = ?",
        [(t,) for t in sorted(set(topic_ids))],
    )
