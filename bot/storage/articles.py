"""Writing ingested files into the database: articles, related items, topics, images, links.

Everything here is synchronous and runs on the database writer thread (``Database.run``). One call
of :func:`write_batch` is one transaction; inside it each file is written under its own savepoint,
so one file the database refuses (a value it cannot store, a bug) is rejected with the reason and
the rest of the batch is still written.

Which version of an article wins: a new version of a file always replaces that same file's old
version (an edit may move ``publishedDateTime`` back); between different files carrying the same
url the later ``publishedDateTime`` (then mtime) wins. When a file's url changes, the article of
its old url is hidden (``removed``) unless another file still carries it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.models import Article, ParsedArticle, Provider, RelatedItem, SourceFile
from bot.storage.stories import StoryGrouper

# The path a feed entry's version is recorded under: no file ever has it, so the version rules
# treat a feed copy like a copy from another file.
FEED_ENTRY_PATH = "<feed entry>"
_CHUNK = 500  # sqlite's default limit on host parameters is 32766; stay far below it
MAX_WARNINGS_TEXT = 8_000  # characters of parser notes stored per file
# What one file's values can make the database refuse; anything else (locked, I/O) aborts the batch
_FILE_ERRORS = (
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
    ValueError,
    TypeError,
)


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


def _owned_elsewhere(conn: sqlite3.Connection, item_id: int, version: str, path: str) -> bool:
    """Whether the stored version of ``item_id`` is that of a file other than ``path``."""
    row = conn.execute(
        "SELECT 1 FROM files WHERE item_id = ? AND version_key = ? AND path != ? "
        "AND error IS NULL LIMIT 1",
        (item_id, version, path),
    ).fetchone()
    return row is not None


def _upsert_article(
    conn: sqlite3.Connection,
    lookups: _Lookups,
    article: Article,
    source: SourceFile,
    now: int,
) -> tuple[int, str]:
    """Insert or update one article row; returns (item id, 'new' | 'updated' | 'unchanged').

    A url first stored as a related item becomes an article "first seen" now: digests select by
    first-seen time, and the related row's older time would keep it out of every digest.
    """
    mtime_ns = source.mtime_ns
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
        if (
            is_article
            and old_version is not None
            and version < old_version
            and _owned_elsewhere(conn, item_id, old_version, source.path)
        ):
            return item_id, "unchanged"  # an older copy of an article another file carries
        if not is_article:
            conn.execute(
                "UPDATE items SET title=?, excerpt=?, published_at=?, provider_id=?, quality=?, "
                "heat=?, image_url=?, type=?, category=?, body=?, removed=?, is_article=1, "
                "version_key=?, first_seen_at=?, updated_at=? WHERE id=?",
                (*values, version, now, now, item_id),
            )
            outcome = "new"
        elif tuple(row[3:]) == values:
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
            outcome = "updated"
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


def warnings_text(warnings: Sequence[str], limit: int = MAX_WARNINGS_TEXT) -> str | None:
    """The stored form of a file's parser notes: newline-separated, at most ``limit`` chars."""
    text = "\n".join(warnings)
    if len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        text = text[: cut if cut > 0 else limit] + "\n(more notes not stored)"
    return text or None


def _record_file(
    conn: sqlite3.Connection,
    source: SourceFile,
    item_id: int | None,
    error: str | None,
    warnings: Sequence[str],
    now: int,
    version: str | None = None,
) -> int:
    (file_id,) = conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, item_id, error, warnings, ingested_at, "
        "version_key) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
        "size=excluded.size, mtime_ns=excluded.mtime_ns, digest=excluded.digest, "
        "item_id=coalesce(excluded.item_id, files.item_id), error=excluded.error, "
        "warnings=excluded.warnings, ingested_at=excluded.ingested_at, "
        "version_key=coalesce(excluded.version_key, files.version_key) RETURNING id",
        (
            source.path,
            source.size,
            source.mtime_ns,
            source.digest,
            item_id,
            error,
            warnings_text(warnings),
            now,
            version,
        ),
    ).fetchone()
    return file_id


def _previous_item(conn: sqlite3.Connection, path: str) -> int | None:
    row = conn.execute("SELECT item_id FROM files WHERE path = ?", (path,)).fetchone()
    return None if row is None else row[0]


def _hide_if_orphaned(conn: sqlite3.Connection, item_id: int, path: str) -> bool:
    """The file ``path`` no longer carries ``item_id``: hide that article unless another file
    still carries it (a corrected url must not leave a ghost article behind)."""
    other = conn.execute(
        "SELECT 1 FROM files WHERE item_id = ? AND path != ? LIMIT 1", (item_id, path)
    ).fetchone()
    if other is not None:
        return False
    hidden = conn.execute(
        "UPDATE items SET removed = 1 WHERE id = ? AND is_article = 1 AND removed = 0",
        (item_id,),
    )
    return hidden.rowcount > 0


def _store_reason(err: Exception) -> str:
    return f"could not be stored: {type(err).__name__}: {str(err)[:200]}"


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
            conn.execute("SAVEPOINT newsbot_file")
            try:
                result, links = _write_one(conn, lookups, grouper, source, parsed, now)
            except _FILE_ERRORS as err:
                # this file only: undo its rows, record why, go on with the batch
                conn.execute("ROLLBACK TO newsbot_file")
                conn.execute("RELEASE newsbot_file")
                reason = _store_reason(err)
                _record_file(conn, source, None, reason, (), now)
                outcome.rejected.append((source.path, reason))
                lookups.articles.pop(parsed.article.url, None)
                continue
            conn.execute("RELEASE newsbot_file")
            setattr(outcome, result, getattr(outcome, result) + 1)
            outcome.related += links
            outcome.warnings.extend((source.path, w) for w in parsed.warnings)
        grouper.flush()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcome


def _write_one(
    conn: sqlite3.Connection,
    lookups: _Lookups,
    grouper: StoryGrouper,
    source: SourceFile,
    parsed: ParsedArticle,
    now: int,
) -> tuple[str, int]:
    """One parsed file: article row, file row, related rows, links, story.

    Returns the outcome ('new' | 'updated' | 'unchanged') and the number of links written.
    """
    article = parsed.article
    previous = _previous_item(conn, source.path)
    item_id, result = _upsert_article(conn, lookups, article, source, now)
    lookups.articles[article.url] = item_id
    version = _version_key(article, source.mtime_ns)
    file_id = _record_file(conn, source, item_id, None, parsed.warnings, now, version)
    if (
        previous is not None
        and previous != item_id
        and _hide_if_orphaned(conn, previous, source.path)
    ):
        grouper.refresh_removed([previous])
    related = {r.url: r for r in article.related}
    related_ids = _upsert_related(conn, lookups, related, now) if related else {}
    conn.execute("DELETE FROM links WHERE file_id = ?", (file_id,))
    link_rows = [
        (file_id, item_id, related_ids[r.url], position)
        for position, r in enumerate(article.related)
        if related_ids[r.url] != item_id
    ]
    conn.executemany("INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?)", link_rows)
    if article.removed:
        grouper.refresh_removed([item_id])
    else:
        grouper.add_article(item_id, article, related_ids)
    return result, len(link_rows)


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
        source = SourceFile(FEED_ENTRY_PATH, 0, version_ns, "")
        item_id, result = _upsert_article(conn, lookups, article, source, now)
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
