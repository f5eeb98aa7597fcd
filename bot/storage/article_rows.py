"""Article rows: the upsert of an article's own row, its topics and images, and its related items.

Synchronous functions of a connection (either dialect, :mod:`bot.storage.dialect`) inside the
caller's transaction; used by :mod:`bot.storage.articles` for files and for feed entries alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.models import Article, RelatedItem, SourceFile
from bot.storage.article_lookups import _ARTICLE_FIELDS, _CHUNK, _UNKNOWN, _Lookups
from bot.storage.dialect import Connection, insert_rows, one_of


def _ts(dt) -> int | None:
    return None if dt is None else int(dt.timestamp())


def _version_key(article: Article, mtime_ns: int) -> str:
    return f"{_ts(article.published_at):012d}:{mtime_ns:020d}"


def _owned_elsewhere(conn: Connection, item_id: int, version: str, path: str) -> bool:
    """Whether the stored version of ``item_id`` is that of a file other than ``path``."""
    row = conn.execute(
        "SELECT 1 FROM files WHERE item_id = ? AND version_key = ? AND path != ? "
        "AND error IS NULL LIMIT 1",
        (item_id, version, path),
    ).fetchone()
    return row is not None


def _upsert_article(
    conn: Connection,
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
    row = lookups.rows.pop(article.url, _UNKNOWN)  # this call may write the row: forget it
    if row is _UNKNOWN and article.url in lookups.related:
        related_id = lookups.related[article.url]
        row = None if related_id is None else (related_id, 0, None)  # all a related row needs
    lookups.related.pop(article.url, None)  # an article's row from now on
    lookups.related_fields.pop(article.url, None)
    if row is _UNKNOWN:
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
        _replace_topics_and_images(conn, lookups, item_id, article, new_row=True)
        return item_id, "new"
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
            # only articles have topics and images: none stored for this row
            _replace_topics_and_images(conn, lookups, item_id, article, new_row=True)
            return item_id, "new"
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
    conn: Connection, lookups: _Lookups, item_id: int, article: Article, *, new_row: bool = False
) -> None:
    """Store the article's topics and images where they differ from the stored ones (none for
    a ``new_row``: a row just inserted has none to read)."""
    topic_ids = sorted({lookups.topic_id(t) for t in article.topics})
    old_topics = [] if new_row else lookups.item_topics.pop(item_id, None)
    if old_topics is None:
        old_topics = [
            r[0]
            for r in conn.execute(
                "SELECT topic_id FROM item_topics WHERE item_id = ? ORDER BY topic_id", (item_id,)
            )
        ]
    if old_topics != topic_ids:
        conn.execute("DELETE FROM item_topics WHERE item_id = ?", (item_id,))
        insert_rows(
            conn,
            "INSERT INTO item_topics(item_id, topic_id)",
            ("bigint", "bigint"),
            [(item_id, t) for t in topic_ids],
        )
    images = [(item_id, i, im.url, im.width, im.height) for i, im in enumerate(article.images)]
    old_images = [] if new_row else lookups.item_images.pop(item_id, None)
    if old_images is None:
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
        insert_rows(
            conn,
            "INSERT INTO images(item_id, position, url, width, height)",
            ("bigint", "integer", "text", "integer", "integer"),
            images,
        )


_RELATED_TYPES = (
    "text", "text", "text", "bigint", "bigint", "integer", "text", "text", "bigint", "bigint"
)  # fmt: skip


def _upsert_related(
    conn: Connection, lookups: _Lookups, items: dict[str, RelatedItem], now: int
) -> dict[str, int]:
    """Insert related items as rows (an existing article row is never overwritten); url -> id.

    A related row this transaction already wrote with the same compared fields (title, excerpt,
    date, provider, quality, image: what the upsert's ``WHERE`` compares) is not written again:
    the upsert would change nothing (a corpus lists the same entries in many related lists)."""
    ids: dict[str, int] = {}
    unknown = []
    stored: dict[str, int] = {}  # related rows already there: the upsert keeps their ids
    fields = lookups.related_fields
    rows = []
    for url, r in items.items():
        known = lookups.articles.get(url)
        if known is not None:
            ids[url] = known
            continue
        row = (
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
        related_id = lookups.related.get(url)
        if related_id is not None and fields.get(url) == row[1:7]:
            ids[url] = related_id  # as written before in this transaction: nothing to change
            continue
        lookups.forget_url(url)  # its row may be written below
        if url not in lookups.related:
            unknown.append(url)
        elif related_id is not None:
            stored[url] = related_id
        rows.append(row)
    for url, (item_id, is_article) in _rows_for_urls(conn, unknown).items():
        if is_article:
            ids[url] = lookups.articles[url] = item_id
        else:
            stored[url] = item_id
    rows = [row for row in rows if row[0] not in ids]
    if not rows:
        return ids
    written = insert_rows(
        conn,
        "INSERT INTO items(url, title, excerpt, published_at, provider_id, quality, image_url, "
        "type, first_seen_at, updated_at)",
        _RELATED_TYPES,
        rows,
        "ON CONFLICT(url) DO UPDATE SET title=excluded.title, excerpt=excluded.excerpt, "
        "published_at=excluded.published_at, provider_id=excluded.provider_id, "
        "quality=excluded.quality, image_url=excluded.image_url, type=excluded.type, "
        "updated_at=excluded.updated_at "
        "WHERE items.is_article = 0 AND (items.title IS DISTINCT FROM excluded.title "
        "OR items.excerpt IS DISTINCT FROM excluded.excerpt "
        "OR items.quality IS DISTINCT FROM excluded.quality "
        "OR items.published_at IS DISTINCT FROM excluded.published_at "
        "OR items.provider_id IS DISTINCT FROM excluded.provider_id "
        "OR items.image_url IS DISTINCT FROM excluded.image_url)",
        returning="url, id",
    )
    ids.update(stored)
    lookups.related.update(stored)
    for url, item_id in written or ():  # rows inserted, or related rows updated
        ids[url] = lookups.related[url] = item_id
    # SQLite returns nothing (an executemany); PostgreSQL leaves out the rows the upsert did
    # not change, among them any another process made an article meanwhile: read what they are
    for url, (item_id, is_article) in _rows_for_urls(
        conn, [row[0] for row in rows if row[0] not in ids]
    ).items():
        ids[url] = item_id
        if is_article:
            lookups.articles[url] = item_id
            lookups.related.pop(url, None)
        else:
            lookups.related[url] = item_id
    for row in rows:
        if lookups.related.get(row[0]) is not None:
            # a row that is not an article holds these fields now (the upsert wrote them, or
            # they were equal already): the same fields again need no statement
            fields[row[0]] = row[1:7]
    return ids


def _rows_for_urls(conn: Connection, urls: Sequence[str]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(urls), _CHUNK):
        condition, params = one_of(conn, urls[start : start + _CHUNK], "text")
        for url, item_id, is_article in conn.execute(
            f"SELECT url, id, is_article FROM items WHERE url {condition}", params
        ):
            found[url] = (item_id, is_article)
    return found
