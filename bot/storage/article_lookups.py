"""The per-batch caches and read-ahead of the article writer (:mod:`bot.storage.article_rows`).

A file's write asks the database a handful of small questions (its previous article, the stored
row of its url, that row's topics and images, the ids of providers and topics, whether its
related urls have rows): a function call each on SQLite, a round trip each on PostgreSQL.
:class:`_Lookups` answers them from what it read ahead for the whole batch in a few queries,
and from what the batch itself wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.models import Article, Provider
from bot.storage.dialect import Connection, one_of

_CHUNK = 500  # sqlite's default limit on host parameters is 32766; stay far below it

_ARTICLE_FIELDS = (
    "title, excerpt, published_at, provider_id, quality, heat, image_url, type, category, "
    "body, removed"
)


_UNKNOWN: Any = object()  # not read ahead: ask the database


class _Lookups:
    """Per-batch caches: providers and topics (both tiny tables), and the ids of article rows
    (related lists mostly name other articles, whose rows a related item never overwrites).

    :meth:`prefetch` reads ahead, in a handful of queries for the whole batch, what writing
    each file would otherwise ask the database one query at a time (its previous article, the
    stored row of its url, that row's topics and images, the batch's providers and topics): a
    round trip each on PostgreSQL. A read-ahead entry stands for the database only until the
    batch writes what it describes, so every write here first drops the entries it changes
    (:meth:`forget_url` and the ``pop`` calls); a file undone by its savepoint drops them all
    (:meth:`forget_all`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.providers: dict[str, int] = {}
        self.topics: dict[str, int] = {}
        self.articles: dict[str, int] = {}
        self.stored_providers: dict[str, tuple[int, str]] = {}  # key -> (id, name) as read
        self.previous: dict[str, int | None] = {}  # file path -> item id of its files row
        self.rows: dict[str, Any] = {}  # url -> items row (None: no row)
        self.item_topics: dict[int, list[int]] = {}
        self.item_images: dict[int, list[tuple]] = {}
        # url -> id of a row that is not an article (None: no row), as read or written here
        self.related: dict[str, int | None] = {}
        # url -> the fields the related upsert compares, as this transaction last wrote them
        # to its (non-article) row: writing the same again would change nothing
        self.related_fields: dict[str, tuple] = {}

    def prefetch(self, files: Sequence[tuple[str, Article]]) -> None:
        """Read ahead for the batch's ``(path, article)`` pairs (see the class docstring)."""
        conn = self.conn
        providers = {
            (p.domain or p.name).casefold()
            for _, a in files
            for p in (a.provider, *(r.provider for r in a.related))
            if p is not None
        }
        for key, provider_id, name in _select_in(
            conn, "SELECT key, id, name FROM providers WHERE key {}", sorted(providers)
        ):
            self.stored_providers[key] = (provider_id, name)
        topics = sorted({t.casefold() for _, a in files for t in a.topics})
        self.topics.update(_select_in(conn, "SELECT key, id FROM topics WHERE key {}", topics))
        paths = [path for path, _ in files]
        self.previous.update(dict.fromkeys(paths))
        self.previous.update(
            _select_in(conn, "SELECT path, item_id FROM files WHERE path {}", paths)
        )
        urls = list(dict.fromkeys(a.url for _, a in files))
        self.rows.update(dict.fromkeys(urls))
        for row in _select_in(
            conn,
            f"SELECT url, id, is_article, version_key, {_ARTICLE_FIELDS} FROM items WHERE url {{}}",
            urls,
        ):
            self.rows[row[0]] = tuple(row[1:])
        related = sorted({r.url for _, a in files for r in a.related} - set(self.rows))
        self.related.update(dict.fromkeys(related))
        for url, item_id, is_article in _select_in(
            conn, "SELECT url, id, is_article FROM items WHERE url {}", related
        ):
            if is_article:
                del self.related[url]
                self.articles[url] = item_id
            else:
                self.related[url] = item_id
        ids = sorted(row[0] for row in self.rows.values() if row is not None)
        self.item_topics.update((i, []) for i in ids)
        self.item_images.update((i, []) for i in ids)
        for item_id, topic_id in _select_in(
            conn,
            "SELECT item_id, topic_id FROM item_topics WHERE item_id {} ORDER BY item_id, topic_id",
            ids,
            "bigint",
        ):
            self.item_topics[item_id].append(topic_id)
        for row in _select_in(
            conn,
            "SELECT item_id, position, url, width, height FROM images WHERE item_id {} "
            "ORDER BY item_id, position",
            ids,
            "bigint",
        ):
            self.item_images[row[0]].append(tuple(row))

    def forget_url(self, url: str) -> None:
        self.rows.pop(url, None)

    def forget_item(self, item_id: int) -> None:
        """The row of ``item_id`` changes (whatever its url)."""
        for url in [u for u, row in self.rows.items() if row is not None and row[0] == item_id]:
            del self.rows[url]

    def forget_all(self) -> None:
        """Statements were undone (a savepoint rolled back): nothing read or written before is
        known to hold any more; ask the database again."""
        for cache in (
            self.providers,
            self.topics,
            self.stored_providers,
            self.previous,
            self.rows,
            self.item_topics,
            self.item_images,
            self.related,
            self.related_fields,
        ):
            cache.clear()

    def provider_id(self, provider: Provider | None) -> int | None:
        if provider is None:
            return None
        key = (provider.domain or provider.name).casefold()
        found = self.providers.get(key)
        if found is None:
            stored = self.stored_providers.pop(key, None)
            if stored is not None and stored[1] == provider.name:
                found = self.providers[key] = stored[0]  # the upsert would change nothing
                return found
            row = self.conn.execute(
                "INSERT INTO providers(key, name, domain) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET name = excluded.name "
                "WHERE providers.name IS DISTINCT FROM excluded.name RETURNING id",
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


def _select_in(conn: Connection, sql: str, keys: Sequence[Any], pg_type: str = "text") -> list[Any]:
    """Rows of ``sql`` (its ``{}`` filled with "is one of", :func:`one_of`) for ``keys``, in
    chunks."""
    rows: list[Any] = []
    for start in range(0, len(keys), _CHUNK):
        condition, params = one_of(conn, keys[start : start + _CHUNK], pg_type)
        rows.extend(conn.execute(sql.format(condition), params).fetchall())
    return rows
