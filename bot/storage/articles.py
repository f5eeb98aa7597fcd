"""Writing ingested files into the database: articles, related items, topics, images, links.

Everything here is synchronous and runs on the database thread (``Database.run``). One call of
:func:`write_batch` is one transaction: either every file of the batch is recorded, or none is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.models import Article, ParsedArticle, Provider, RelatedItem, SourceFile
from bot.storage.stories import StoryGrouper

_CHUNK = 500  # sqlite's default limit on host parameters is 32766; stay far below it


@dataclass(slots=True)
class BatchOutcome:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    related: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KnownFile:
    size: int
    mtime_ns: int
    digest: str
    error: str | None


def known_files(conn: sqlite3.Connection) -> dict[str, KnownFile]:
    """What the database remembers of every file it has read, by path."""
    rows = conn.execute("SELECT path, size, mtime_ns, digest, error FROM files")
    return {
        path: KnownFile(size, mtime, digest, error) for path, size, mtime, digest, error in rows
    }


def touch_files(conn: sqlite3.Connection, files: Sequence[SourceFile]) -> None:
    """Record a new size/mtime for files whose content hash did not change."""
    if not files:
        return
    conn.executemany(
        "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
        [(f.size, f.mtime_ns, f.path) for f in files],
    )


def _ts(dt) -> int | None:
    return None if dt is None else int(dt.timestamp())


def _version_key(article: Article, mtime_ns: int) -> str:
    return f"{_ts(article.published_at):012d}:{mtime_ns:020d}"


class _Lookups:
    """Per-batch caches: providers and topics (both tiny tables), and the ids of article rows
    (related lists mostly name other articles, whose rows a related item never overwrites)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.providers: dict[str, int] = {}
        self.topics: dict[str, int] = {}
        self.articles: dict[str, int] = {}

    def provider_id(self, provider: Provider | None) -> int | None:
        if provider is None:
            return None
        key = (provider.domain or provider.name).casefold()
        found = self.providers.get(key)
        if found is None:
            row = self.conn.execute(
                "INSERT INTO providers(key, name, domain) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET name = excluded.name "
                "WHERE providers.name IS NOT excluded.name RETURNING id",
                (key, provider.name, provider.domain),
            ).fetchone()
            if row is None:
                row = self.conn.execute("SELECT id FROM providers WHERE key = ?", (key,)).fetchone()
            found = self.providers[key] = row[0]
        return found

    def topic_id(self, name: str) -> int:
        key = name.casefold()
        found = self.topics.get(key)
        if found is None:
            row = self.conn.execute(
                "INSERT INTO topics(key, name) VALUES (?, ?) "
                "ON CONFLICT(key) DO NOTHING RETURNING id",
                (key, name),
            ).fetchone()
            if row is None:
                row = self.conn.execute("SELECT id FROM topics WHERE key = ?", (key,)).fetchone()
            found = self.topics[key] = row[0]
        return found


_ARTICLE_FIELDS = (
    "title, excerpt, published_at, provider_id, quality, heat, image_url, type, category, "
    "body, removed"
)


def _upsert_article(
    conn: sqlite3.Connection, lookups: _Lookups, article: Article, mtime_ns: int, now: int
) -> tuple[int, str]:
    """Insert or update one article row; returns (item id, 'new' | 'updated' | 'unchanged')."""
    values = (
        article.title,
        article.excerpt,
        _ts(article.published_at),
        lookups.provider_id(article.provider),
        article.quality,
        article.heat,
        article.image_url,
        article.type,
        article.category,
        article.body or None,
        int(article.removed),
    )
    version = _version_key(article, mtime_ns)
    row = conn.execute(
        f"SELECT id, is_article, version_key, {_ARTICLE_FIELDS} FROM items WHERE url = ?",
        (article.url,),
    ).fetchone()
    if row is None:
        (item_id,) = conn.execute(
            f"INSERT INTO items(url, {_ARTICLE_FIELDS}, is_article, version_key, first_seen_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?) RETURNING id",
            (article.url, *values, version, now, now),
        ).fetchone()
        outcome = "new"
    else:
        item_id, is_article, old_version = row[0], row[1], row[2]
        if is_article and old_version is not None and version < old_version:
            return item_id, "unchanged"  # an older copy of an article we already have
        if is_article and tuple(row[3:]) == values:
            if version != old_version:
                conn.execute("UPDATE items SET version_key = ? WHERE id = ?", (version, item_id))
            outcome = "unchanged"
        else:
            conn.execute(
                "UPDATE items SET title=?, excerpt=?, published_at=?, provider_id=?, quality=?, "
                "heat=?, image_url=?, type=?, category=?, body=?, removed=?, is_article=1, "
                "version_key=?, updated_at=? WHERE id=?",
                (*values, version, now, item_id),
            )
            outcome = "updated" if is_article else "new"
    _replace_topics_and_images(conn, lookups, item_id, article)
    return item_id, outcome


def _replace_topics_and_images(
    conn: sqlite3.Connection, lookups: _Lookups, item_id: int, article: Article
) -> None:
    topic_ids = sorted({lookups.topic_id(t) for t in article.topics})
    old_topics = [
        r[0]
        for r in conn.execute(
            "SELECT topic_id FROM item_topics WHERE item_id = ? ORDER BY topic_id", (item_id,)
        )
    ]
    if old_topics != topic_ids:
        conn.execute("DELETE FROM item_topics WHERE item_id = ?", (item_id,))
        conn.executemany(
            "INSERT INTO item_topics(item_id, topic_id) VALUES (?, ?)",
            [(item_id, t) for t in topic_ids],
        )
    images = [(item_id, i, im.url, im.width, im.height) for i, im in enumerate(article.images)]
    old_images = [
        tuple(r)
        for r in conn.execute(
            "SELECT item_id, position, url, width, height FROM images WHERE item_id = ? "
            "ORDER BY position",
            (item_id,),
        )
    ]
    if old_images != images:
        conn.execute("DELETE FROM images WHERE item_id = ?", (item_id,))
        conn.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?)", images)


def _upsert_related(
    conn: sqlite3.Connection, lookups: _Lookups, items: dict[str, RelatedItem], now: int
) -> dict[str, int]:
    """Insert related items as rows (an existing article row is never overwritten); url -> id."""
    ids: dict[str, int] = {}
    unknown = []
    for url in items:
        known = lookups.articles.get(url)
        if known is None:
            unknown.append(url)
        else:
            ids[url] = known
    for url, (item_id, is_article) in _rows_for_urls(conn, unknown).items():
        if is_article:
            ids[url] = lookups.articles[url] = item_id
    rows = [
        (
            url,
            r.title,
            r.excerpt,
            _ts(r.published_at),
            lookups.provider_id(r.provider),
            r.quality,
            r.image_url,
            r.type,
            now,
            now,
        )
        for url, r in items.items()
        if url not in ids
    ]
    if not rows:
        return ids
    conn.executemany(
        "INSERT INTO items(url, title, excerpt, published_at, provider_id, quality, image_url, "
        "type, first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(url) DO UPDATE SET title=excluded.title, excerpt=excluded.excerpt, "
        "published_at=excluded.published_at, provider_id=excluded.provider_id, "
        "quality=excluded.quality, image_url=excluded.image_url, type=excluded.type, "
        "updated_at=excluded.updated_at "
        "WHERE items.is_article = 0 AND (items.title IS NOT excluded.title "
        "OR items.excerpt IS NOT excluded.excerpt OR items.quality IS NOT excluded.quality "
        "OR items.published_at IS NOT excluded.published_at "
        "OR items.provider_id IS NOT excluded.provider_id "
        "OR items.image_url IS NOT excluded.image_url)",
        rows,
    )
    ids.update(ids_for_urls(conn, [row[0] for row in rows]))
    return ids


def _rows_for_urls(conn: sqlite3.Connection, urls: Sequence[str]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for url, item_id, is_article in conn.execute(
            f"SELECT url, id, is_article FROM items WHERE url IN ({marks})", chunk
        ):
            found[url] = (item_id, is_article)
    return found


def ids_for_urls(conn: sqlite3.Connection, urls: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        ids.update(conn.execute(f"SELECT url, id FROM items WHERE url IN ({marks})", chunk))
    return ids


def _record_file(
    conn: sqlite3.Connection,
    source: SourceFile,
    item_id: int | None,
    error: str | None,
    warnings: Sequence[str],
    now: int,
) -> int:
    (file_id,) = conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, item_id, error, warnings, ingested_at) "
        "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
        "mtime_ns=excluded.mtime_ns, digest=excluded.digest, "
        "item_id=coalesce(excluded.item_id, files.item_id), error=excluded.error, "
        "warnings=excluded.warnings, ingested_at=excluded.ingested_at RETURNING id",
        (
            source.path,
            source.size,
            source.mtime_ns,
            source.digest,
            item_id,
            error,
            "\n".join(warnings) or None,
            now,
        ),
    ).fetchone()
    return file_id


def write_batch(
    conn: sqlite3.Connection,
    entries: Sequence[tuple[SourceFile, ParsedArticle | None, str | None]],
    now: int,
    grouper_factory=StoryGrouper,
) -> BatchOutcome:
    """Record one batch of read files in a single transaction and regroup the touched stories.

    ``entries`` are (file, parsed article or None, error or None). A rejected file is recorded
    with its reason; the article it produced before (if any) is kept, so nothing is lost.
    """
    outcome = BatchOutcome()
    lookups = _Lookups(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Each file is completed (article, related rows, links, story) before the next starts, so
        # the result does not depend on where batch boundaries fall: a re-run after a crash ends
        # with the same content as an uninterrupted run.
        grouper = grouper_factory(conn, now)
        for source, parsed, error in entries:
            if parsed is None:
                reason = error or "unreadable"
                _record_file(conn, source, None, reason, (), now)
                outcome.rejected.append((source.path, reason))
                continue
            article = parsed.article
            item_id, result = _upsert_article(conn, lookups, article, source.mtime_ns, now)
            lookups.articles[article.url] = item_id
            setattr(outcome, result, getattr(outcome, result) + 1)
            file_id = _record_file(conn, source, item_id, None, parsed.warnings, now)
            outcome.warnings.extend((source.path, w) for w in parsed.warnings)
            related = {r.url: r for r in article.related}
            related_ids = _upsert_related(conn, lookups, related, now) if related else {}
            conn.execute("DELETE FROM links WHERE file_id = ?", (file_id,))
            link_rows = [
                (file_id, item_id, related_ids[r.url], position)
                for position, r in enumerate(article.related)
                if related_ids[r.url] != item_id
            ]
            conn.executemany("INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?)", link_rows)
            outcome.related += len(link_rows)
            if article.removed:
                grouper.refresh_removed([item_id])
            else:
                grouper.add_article(item_id, article, related_ids)
        grouper.flush()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcome


def store_articles(
    conn: sqlite3.Connection,
    articles: Sequence[tuple[Article, int, int | None]],
    now: int,
    grouper_factory=StoryGrouper,
) -> tuple[BatchOutcome, list[tuple[int, str]]]:
    """Upsert articles that come from a source other than a file (a feed), and group them.

    The same article upsert and story grouping as :func:`write_batch`, without a file row or a
    related list; the CALLER owns the transaction (so that a source's own bookkeeping commits
    with its articles). Each entry is ``(article, version_ns, first_seen_at or None)``: a newly
    stored article gets ``first_seen_at`` when given (a feed's old backlog), else ``now``.
    Returns the counts and ``(item id, 'new' | 'updated' | 'unchanged')`` per article.
    """
    outcome = BatchOutcome()
    lookups = _Lookups(conn)
    grouper = grouper_factory(conn, now)
    results: list[tuple[int, str]] = []
    for article, version_ns, seen_at in articles:
        item_id, result = _upsert_article(conn, lookups, article, version_ns, now)
        if result == "new" and seen_at is not None and seen_at < now:
            conn.execute(
                "UPDATE items SET first_seen_at = min(first_seen_at, ?) WHERE id = ?",
                (seen_at, item_id),
            )
        lookups.articles[article.url] = item_id
        setattr(outcome, result, getattr(outcome, result) + 1)
        results.append((item_id, result))
        if article.removed:
            grouper.refresh_removed([item_id])
        elif result != "unchanged":
            grouper.add_article(item_id, article, {})
    grouper.flush()
    return outcome, results
