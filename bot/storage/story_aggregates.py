"""The stored aggregates of stories (counts, dates, lead, topics, rank key) and of topics."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from bot.domain.ranking import RankingSettings, rank_key
from bot.storage.dialect import is_postgres


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

    postgres = is_postgres(conn)  # no user functions there: rank keys are set from Python
    if not postgres:
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
        "max(CASE WHEN is_article = 1 THEN heat END) AS max_heat, min(published_at) AS first_pub, "
        "max(published_at) AS last_pub, min(first_seen_at) AS first_seen, "
        "max(first_seen_at) AS last_seen "
        f"FROM items WHERE story_id IN {dirty} AND removed = 0 GROUP BY story_id) AS a "
        "WHERE stories.id = a.story_id"
    )
    conn.execute(
        "UPDATE stories SET lead_item_id = (SELECT i.id FROM items i "
        "WHERE i.story_id = stories.id AND i.removed = 0 ORDER BY i.is_article DESC, "
        "i.quality IS NULL, i.quality DESC, i.published_at IS NULL, i.published_at, i.id "
        "LIMIT 1)"
        + (
            ""
            if postgres
            else ", rank_key = CASE WHEN article_count > 0 THEN newsbot_rank_key("
            "best_quality, max_heat, provider_count, last_published_at) END"
        )
        + f" WHERE id IN {dirty}"
    )
    if postgres:
        conn.executemany(
            "UPDATE stories SET rank_key = ? WHERE id = ?",
            [
                (key(*r[1:]), r[0])
                for r in conn.execute(
                    "SELECT id, best_quality, max_heat, provider_count, last_published_at "
                    f"FROM stories WHERE id IN {dirty} AND article_count > 0"
                ).fetchall()
            ],
        )
    conn.execute(f"DELETE FROM story_topics WHERE story_id IN {dirty}")
    conn.execute(
        "INSERT INTO story_topics(topic_id, story_id, rank_key) "
        "SELECT DISTINCT t.topic_id, i.story_id, s.rank_key FROM items i "
        "JOIN item_topics t ON t.item_id = i.id JOIN stories s ON s.id = i.story_id "
        f"WHERE i.story_id IN {dirty} AND i.removed = 0 ON CONFLICT DO NOTHING"
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
