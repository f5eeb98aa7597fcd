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
        # story -> (earliest, latest) published; every change in this batch goes through here
        self._spans: dict[int, tuple[datetime | None, datetime | None]] = {}

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
        span = self._spans.get(story)
        if span is None:
            lo, hi = self.conn.execute(
                "SELECT min(published_at), max(published_at) FROM items WHERE story_id = ?",
                (story,),
            ).fetchone()
            span = self._spans[story] = (_dt(lo), _dt(hi))
        return span

    def _widen(self, story: int, lo: datetime | None, hi: datetime | None) -> None:
        old_lo, old_hi = self._span(story)
        self._spans[story] = (
            lo if old_lo is None else old_lo if lo is None else min(lo, old_lo),
            hi if old_hi is None else old_hi if hi is None else max(hi, old_hi),
        )

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
            self._widen(story, *other_span)
            return story
        return self._merge(story, other)

    def _size(self, story: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM items WHERE story_id = ?", (story,)
        ).fetchone()[0]

    def _merge(self, a: int, b: int) -> int:
        keep, gone = (a, b) if (self._size(a), -a) >= (self._size(b), -b) else (b, a)
        self._widen(keep, *self._span(gone))
        self._spans.pop(gone, None)
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
    """Recompute the stored aggregates, lead, topics and rank key of the given stories.

    Set-based: a handful of statements for the whole batch, whatever its size.
    """

    def key(best_quality, max_heat, providers, latest):
        return rank_key(
            best_quality=best_quality,
            max_heat=max_heat,
            providers=providers,
            latest_at=latest,
            settings=ranking,
        )

    conn.create_function("newsbot_rank_key", 4, key, deterministic=True)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dirty_stories(id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM dirty_stories")
    conn.executemany("INSERT INTO dirty_stories(id) VALUES (?)", [(s,) for s in story_ids])
    dirty = "(SELECT id FROM dirty_stories)"
    topics = {
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT topic_id FROM story_topics WHERE story_id IN {dirty}"
        )
    }
    conn.execute(
        "UPDATE stories SET article_count = 0, item_count = 0, provider_count = 0, "
        f"rank_key = NULL, updated_at = ? WHERE id IN {dirty}",
        (now,),
    )
    conn.execute(
        "UPDATE stories SET article_count = a.articles, item_count = a.items, "
        "provider_count = a.providers, best_quality = a.best_q, max_heat = a.max_heat, "
        "first_published_at = a.first_pub, last_published_at = a.last_pub, "
        "first_seen_at = a.first_seen, last_seen_at = a.last_seen FROM ("
        "SELECT story_id, coalesce(sum(is_article), 0) AS articles, count(*) AS items, "
        "count(DISTINCT provider_id) AS providers, max(quality) AS best_q, "
        "max(CASE WHEN is_article THEN heat END) AS max_heat, min(published_at) AS first_pub, "
        "max(published_at) AS last_pub, min(first_seen_at) AS first_seen, "
        "max(first_seen_at) AS last_seen "
        f"FROM items WHERE story_id IN {dirty} AND removed = 0 GROUP BY story_id) AS a "
        "WHERE stories.id = a.story_id"
    )
    conn.execute(
        "UPDATE stories SET lead_item_id = (SELECT i.id FROM items i "
        "WHERE i.story_id = stories.id AND i.removed = 0 ORDER BY i.is_article DESC, "
        "i.quality IS NULL, i.quality DESC, i.published_at IS NULL, i.published_at, i.id "
        "LIMIT 1), rank_key = CASE WHEN article_count > 0 THEN newsbot_rank_key("
        f"best_quality, max_heat, provider_count, last_published_at) END WHERE id IN {dirty}"
    )
    conn.execute(f"DELETE FROM story_topics WHERE story_id IN {dirty}")
    conn.execute(
        "INSERT OR IGNORE INTO story_topics(topic_id, story_id, rank_key) "
        "SELECT DISTINCT t.topic_id, i.story_id, s.rank_key FROM items i "
        "JOIN item_topics t ON t.item_id = i.id JOIN stories s ON s.id = i.story_id "
        f"WHERE i.story_id IN {dirty} AND i.removed = 0"
    )
    topics.update(
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT topic_id FROM story_topics WHERE story_id IN {dirty}"
        )
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
