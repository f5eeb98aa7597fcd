"""The SQLite text of each numbered migration (tracked by ``PRAGMA user_version``).

Append new migrations; never edit one that has shipped. Times are INTEGER unix seconds (UTC).
Each step has its PostgreSQL twin in :mod:`bot.storage.migrations.postgresql_steps`.
"""

from __future__ import annotations

SQLITE_STEPS: tuple[str, ...] = (
    # 1: articles, related coverage, providers, topics, images, files, stories, full-text index
    """
    CREATE TABLE providers (
        id      INTEGER PRIMARY KEY,
        key     TEXT NOT NULL UNIQUE,          -- lower-cased domain, else lower-cased name
        name    TEXT NOT NULL,
        domain  TEXT
    );

    -- Every article file's url and every related item's url: one row per canonical url.
    CREATE TABLE items (
        id             INTEGER PRIMARY KEY,
        url            TEXT NOT NULL UNIQUE,
        title          TEXT NOT NULL,
        excerpt        TEXT,
        published_at   INTEGER,                -- unix seconds UTC
        provider_id    INTEGER REFERENCES providers(id),
        quality        INTEGER,
        heat           INTEGER,
        image_url      TEXT,
        type           TEXT,
        category       TEXT,
        body           TEXT,
        is_article     INTEGER NOT NULL DEFAULT 0,   -- 1 when an article file carries this url
        removed        INTEGER NOT NULL DEFAULT 0,   -- withdrawn: stored, hidden from queries
        version_key    TEXT,                   -- "published:mtime" of the winning file version
        first_seen_at  INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        story_id       INTEGER REFERENCES stories(id) ON DELETE SET NULL
    );
    CREATE INDEX items_story ON items(story_id);
    CREATE INDEX items_published ON items(published_at);
    CREATE INDEX items_article_published ON items(is_article, published_at);
    CREATE INDEX items_article_title ON items(title COLLATE NOCASE) WHERE is_article = 1;

    CREATE TABLE topics (
        id             INTEGER PRIMARY KEY,
        key            TEXT NOT NULL UNIQUE,   -- casefolded name
        name           TEXT NOT NULL,
        article_count  INTEGER NOT NULL DEFAULT 0,   -- visible articles, kept current at ingest
        story_count    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE item_topics (
        item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        topic_id  INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        PRIMARY KEY (topic_id, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX item_topics_item ON item_topics(item_id);

    CREATE TABLE images (
        item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        url       TEXT NOT NULL,
        width     INTEGER,
        height    INTEGER,
        PRIMARY KEY (item_id, position)
    ) WITHOUT ROWID;

    -- Per-file bookkeeping: what was read, its hash, and what came of it.
    CREATE TABLE files (
        id           INTEGER PRIMARY KEY,
        path         TEXT NOT NULL UNIQUE,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        digest       TEXT NOT NULL,
        item_id      INTEGER REFERENCES items(id) ON DELETE SET NULL,
        error        TEXT,                     -- NULL when the file loaded
        warnings     TEXT,                     -- newline-separated parser notes
        ingested_at  INTEGER NOT NULL
    );
    CREATE INDEX files_item ON files(item_id);

    -- Related coverage: the file that listed it, the article, the related item.
    -- The union over files is an article's related coverage.
    CREATE TABLE links (
        file_id   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        src_id    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        dst_id    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        PRIMARY KEY (file_id, dst_id)
    ) WITHOUT ROWID;
    CREATE INDEX links_src ON links(src_id, dst_id);
    CREATE INDEX links_dst ON links(dst_id);

    -- Stories: groups of items about one event; aggregate columns kept current at ingest.
    CREATE TABLE stories (
        id                  INTEGER PRIMARY KEY,
        lead_item_id        INTEGER REFERENCES items(id) ON DELETE SET NULL,
        article_count       INTEGER NOT NULL DEFAULT 0,   -- visible (not removed) articles
        item_count          INTEGER NOT NULL DEFAULT 0,
        provider_count      INTEGER NOT NULL DEFAULT 0,
        best_quality        INTEGER,
        max_heat            INTEGER,
        first_published_at  INTEGER,
        last_published_at   INTEGER,
        first_seen_at       INTEGER,
        last_seen_at        INTEGER,
        rank_key            REAL,             -- time-invariant ordering key (see domain.ranking)
        updated_at          INTEGER NOT NULL
    );
    CREATE INDEX stories_rank ON stories(article_count, rank_key);
    CREATE INDEX stories_last_published ON stories(last_published_at);
    CREATE INDEX stories_last_seen ON stories(last_seen_at);

    -- When two stories merge, the absorbed id points at the survivor (digest dedupe, links).
    CREATE TABLE story_aliases (
        old_id  INTEGER PRIMARY KEY,
        new_id  INTEGER NOT NULL
    );

    -- A story's topics (union of its articles' topics), with the story's rank key copied in so
    -- that "top stories in topic T" is one index range scan.
    CREATE TABLE story_topics (
        topic_id  INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        story_id  INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        rank_key  REAL,
        PRIMARY KEY (topic_id, story_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_topics_story ON story_topics(story_id);
    CREATE INDEX story_topics_rank ON story_topics(topic_id, rank_key);

    CREATE VIRTUAL TABLE items_fts USING fts5(
        title, excerpt, content='items', content_rowid='id',
        tokenize="unicode61 remove_diacritics 2", detail=column
    );
    CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
    END;
    CREATE TRIGGER items_fts_au AFTER UPDATE OF title, excerpt ON items
    WHEN old.title IS NOT new.title OR old.excerpt IS NOT new.excerpt BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, excerpt)
        VALUES ('delete', old.id, old.title, old.excerpt);
        INSERT INTO items_fts(rowid, title, excerpt) VALUES (new.id, new.title, new.excerpt);
    END;
    """,
    # 2: digest subscriptions, the delivery ledger, messages sent, stories sent per channel
    """
    CREATE TABLE digest_subscriptions (
        id                INTEGER PRIMARY KEY,
        guild_id          INTEGER NOT NULL,
        channel_id        INTEGER NOT NULL,
        name              TEXT NOT NULL,
        local_time        TEXT NOT NULL,           -- HH:MM, wall clock in ``timezone``
        timezone          TEXT NOT NULL,           -- IANA name
        topics            TEXT NOT NULL DEFAULT '[]',   -- JSON list of topic names
        min_quality       INTEGER,
        max_stories       INTEGER NOT NULL,
        include_keywords  TEXT NOT NULL DEFAULT '[]',   -- JSON list, casefolded
        exclude_keywords  TEXT NOT NULL DEFAULT '[]',
        state             TEXT NOT NULL DEFAULT 'active'
                          CHECK (state IN ('active', 'failing', 'paused')),
        failure_streak    INTEGER NOT NULL DEFAULT 0,   -- consecutive failing days
        last_failed_date  TEXT,                    -- local date of the last failing day
        last_error        TEXT,
        last_run_at       INTEGER,
        last_outcome      TEXT,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL
    );
    CREATE INDEX digest_subscriptions_guild ON digest_subscriptions(guild_id);

    -- The delivery ledger: one row per digest, written (with its message plan) BEFORE posting.
    -- A scheduled digest is unique per (subscription, local date); send-now rows are 'manual'.
    CREATE TABLE digest_runs (
        id               INTEGER PRIMARY KEY,
        subscription_id  INTEGER NOT NULL REFERENCES digest_subscriptions(id) ON DELETE CASCADE,
        local_date       TEXT NOT NULL,            -- YYYY-MM-DD in the subscription's zone
        kind             TEXT NOT NULL DEFAULT 'scheduled' CHECK (kind IN ('scheduled', 'manual')),
        channel_id       INTEGER NOT NULL,
        scheduled_for    INTEGER NOT NULL,
        window_start     INTEGER NOT NULL,
        window_end       INTEGER NOT NULL,
        status           TEXT NOT NULL CHECK (status IN
                         ('planned', 'sending', 'sent', 'empty', 'skipped', 'failed')),
        story_ids        TEXT NOT NULL DEFAULT '[]',    -- JSON, ranked
        plan             TEXT NOT NULL DEFAULT '[]',    -- JSON message payloads
        error            TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX digest_runs_daily ON digest_runs(subscription_id, local_date)
        WHERE kind = 'scheduled';
    CREATE INDEX digest_runs_window ON digest_runs(subscription_id, window_end);
    CREATE INDEX digest_runs_open ON digest_runs(status) WHERE status IN ('planned', 'sending');

    -- Each message id, written as soon as Discord accepted that message.
    CREATE TABLE digest_messages (
        run_id      INTEGER NOT NULL REFERENCES digest_runs(id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        message_id  INTEGER NOT NULL,
        sent_at     INTEGER NOT NULL,
        PRIMARY KEY (run_id, position)
    ) WITHOUT ROWID;

    -- Stories already posted to a channel (cross-day dedupe; merged ids resolve via story_aliases).
    CREATE TABLE digest_sent_stories (
        channel_id  INTEGER NOT NULL,
        story_id    INTEGER NOT NULL,
        sent_at     INTEGER NOT NULL,
        PRIMARY KEY (channel_id, story_id)
    ) WITHOUT ROWID;
    CREATE INDEX digest_sent_recent ON digest_sent_stories(channel_id, sent_at);
    """,
    # 3: "top stories" walks one index in rank order instead of sorting every visible story
    """
    DROP INDEX stories_rank;
    CREATE INDEX stories_rank_visible ON stories(rank_key DESC, id DESC) WHERE article_count > 0;
    """,
    # 4: each file's own version ("published:mtime"), so that a new version of the same
    # file always replaces that file's old one; dates only arbitrate between different files
    """
    ALTER TABLE files ADD COLUMN version_key TEXT;
    UPDATE files SET version_key = (SELECT i.version_key FROM items i WHERE i.id = files.item_id)
        WHERE item_id IS NOT NULL AND error IS NULL;
    """,
    # 5: digest ledger: a scheduled digest is unique per (subscription, fire instant in UTC), not
    # per local date, so a time-zone change across the date line cannot make the next digest a noop
    """
    DROP INDEX digest_runs_daily;
    CREATE UNIQUE INDEX digest_runs_fire ON digest_runs(subscription_id, scheduled_for)
        WHERE kind = 'scheduled';
    CREATE INDEX digest_runs_channel_open ON digest_runs(channel_id)
        WHERE status IN ('planned', 'sending');
    """,
    # 6: story ids are never given twice; story centroids and term statistics for grouping
    # (docs/stories.md); "already sent" remembered by item, so that it survives merges and rebuilds
    """
    -- The last story id ever given and how many stories the grouping holds (N of the idf).
    -- Seeded above every id any table may still hold, so no old id is handed out again.
    CREATE TABLE story_ids (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        last_id  INTEGER NOT NULL,
        held     INTEGER NOT NULL,
        items    INTEGER NOT NULL DEFAULT 0     -- items grouped (N of the item frequency)
    );
    INSERT INTO story_ids(id, last_id, held) SELECT 1, max(
        coalesce((SELECT max(id) FROM stories), 0),
        coalesce((SELECT max(old_id) FROM story_aliases), 0),
        coalesce((SELECT max(new_id) FROM story_aliases), 0),
        coalesce((SELECT max(story_id) FROM digest_sent_stories), 0)), 0;

    -- A story's centroid: its size, squared norm, date span and one weight per term.
    ALTER TABLE stories ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN norm2 REAL NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN span_first INTEGER;
    ALTER TABLE stories ADD COLUMN span_last INTEGER;
    CREATE TABLE story_terms (
        term      TEXT NOT NULL,
        story_id  INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        weight    REAL NOT NULL,
        PRIMARY KEY (term, story_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_terms_story ON story_terms(story_id);

    -- Story and item frequency of each term: how many stories / grouped items hold it.
    CREATE TABLE term_stats (
        term     TEXT PRIMARY KEY,
        stories  INTEGER NOT NULL,
        items    INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Items already posted to a channel: a story counts as sent when it holds one of them, so
    -- "sent" follows the items through merges and rebuilds instead of story ids.
    CREATE TABLE digest_sent_items (
        channel_id  INTEGER NOT NULL,
        item_id     INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        sent_at     INTEGER NOT NULL,
        PRIMARY KEY (channel_id, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX digest_sent_items_recent ON digest_sent_items(channel_id, sent_at);

    -- Work a migration leaves for the code: here, regrouping stories made before centroids
    -- existed (done by the next ingest, or `newsbot stories rebuild`).
    CREATE TABLE pending_tasks (
        name   TEXT PRIMARY KEY,
        since  INTEGER NOT NULL
    );
    INSERT INTO pending_tasks(name, since)
    SELECT 'stories-rebuild', CAST(strftime('%s', 'now') AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM stories);
    CREATE TRIGGER digest_sent_items_ai AFTER INSERT ON digest_sent_stories BEGIN
        INSERT INTO digest_sent_items(channel_id, item_id, sent_at)
        SELECT new.channel_id, i.id, new.sent_at FROM items i WHERE i.story_id = new.story_id
        ON CONFLICT(channel_id, item_id) DO UPDATE SET sent_at = excluded.sent_at;
    END;
    CREATE TRIGGER digest_sent_items_au AFTER UPDATE ON digest_sent_stories BEGIN
        INSERT INTO digest_sent_items(channel_id, item_id, sent_at)
        SELECT new.channel_id, i.id, new.sent_at FROM items i WHERE i.story_id = new.story_id
        ON CONFLICT(channel_id, item_id) DO UPDATE SET sent_at = excluded.sent_at;
    END;
    INSERT OR IGNORE INTO digest_sent_items(channel_id, item_id, sent_at)
    SELECT s.channel_id, i.id, s.sent_at FROM digest_sent_stories s
    JOIN items i ON i.story_id = coalesce(
        (SELECT a.new_id FROM story_aliases a WHERE a.old_id = s.story_id), s.story_id);
    """,
    # 7: sources of every kind (the files table stays, each file row is a file-kind source),
    # feed polling state and validators, and each feed entry's identity (guid -> item)
    """
    CREATE TABLE sources (
        id             INTEGER PRIMARY KEY,
        kind           TEXT NOT NULL CHECK (kind IN ('file', 'feed')),
        locator        TEXT NOT NULL,          -- a file's path, a feed's url
        name           TEXT,
        topics         TEXT NOT NULL DEFAULT '[]',   -- JSON list, given to every entry
        every_minutes  REAL,                   -- NULL: [feeds] every_minutes
        origin         TEXT NOT NULL DEFAULT 'user' CHECK (origin IN ('user', 'config')),
        state          TEXT NOT NULL DEFAULT 'active'
                       CHECK (state IN ('active', 'failing', 'paused', 'retired')),
        etag           TEXT,
        last_modified  TEXT,
        title          TEXT,                   -- the feed's own title
        site_url       TEXT,
        last_fetch_at  INTEGER,
        last_status    INTEGER,                -- HTTP status of the last fetch (NULL: no answer)
        last_ok_at     INTEGER,
        last_items     INTEGER,                -- usable entries in the last fetched document
        next_fetch_at  INTEGER,                -- NULL: due now (active) / never (paused, retired)
        error_streak   INTEGER NOT NULL DEFAULT 0,
        failing_since  INTEGER,
        last_error     TEXT,
        backlog_done   INTEGER NOT NULL DEFAULT 0,   -- 1 once a first document was stored
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        UNIQUE (kind, locator)
    );
    CREATE INDEX sources_due ON sources(kind, next_fetch_at);
    INSERT INTO sources(kind, locator, created_at, updated_at)
        SELECT 'file', path, ingested_at, ingested_at FROM files;
    CREATE TRIGGER files_source_ai AFTER INSERT ON files BEGIN
        INSERT OR IGNORE INTO sources(kind, locator, created_at, updated_at)
        VALUES ('file', new.path, new.ingested_at, new.ingested_at);
    END;
    CREATE TRIGGER files_source_ad AFTER DELETE ON files BEGIN
        DELETE FROM sources WHERE kind = 'file' AND locator = old.path;
    END;

    CREATE TABLE feed_entries (
        source_id  INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        guid       TEXT NOT NULL,              -- the entry's id/guid, else its canonical url
        item_id    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        seen_at    INTEGER NOT NULL,
        PRIMARY KEY (source_id, guid)
    ) WITHOUT ROWID;
    CREATE INDEX feed_entries_item ON feed_entries(item_id);
    """,
    # 8: coordination of several processes (bot/storage/coordination.py): leases and claims
    # (the scheduler leader, digest runs being posted, feeds being polled, process
    # memberships) and the global send pacing. Seconds as floats: leases are sub-second.
    """
    CREATE TABLE leases (
        name         TEXT PRIMARY KEY,        -- 'scheduler', 'run:<id>', 'feed:<id>', 'member:<p>'
        holder       TEXT NOT NULL,           -- host:pid:random
        expires_at   DOUBLE PRECISION NOT NULL,
        token        BIGINT NOT NULL,         -- fencing token: +1 on every change of holder
        acquired_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX leases_holder ON leases(holder, expires_at);
    CREATE TABLE rate_slots (
        name  TEXT PRIMARY KEY,               -- e.g. 'discord-global'
        tat   DOUBLE PRECISION NOT NULL       -- the next free send slot (GCRA)
    );
    """,
    # 9: the grouping's term frequencies per week of the items' dates, so that an item is
    # weighed with the items of a window around its date (docs/stories.md, step 2). The all-time
    # totals cannot be split into weeks: a database with stories is regrouped once (the next
    # ingest or feed poll, or `newsbot stories rebuild`), which fills the new tables.
    """
    DROP TABLE term_stats;
    CREATE TABLE term_buckets (
        term     TEXT NOT NULL,
        bucket   INTEGER NOT NULL,             -- whole weeks since the epoch (UTC); undated: -2^40
        stories  INTEGER NOT NULL,             -- stories that gained the term there, less merges
        items    INTEGER NOT NULL,             -- grouped items of that week holding the term
        PRIMARY KEY (term, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE story_buckets (
        bucket   INTEGER PRIMARY KEY,
        stories  INTEGER NOT NULL,             -- stories started there, less merges
        items    INTEGER NOT NULL              -- items grouped there
    );
    INSERT INTO pending_tasks(name, since)
    SELECT 'stories-rebuild', CAST(strftime('%s', 'now') AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM stories)
    ON CONFLICT(name) DO NOTHING;
    """,
    # 10: nothing on SQLite. PostgreSQL's step turns off its full-text (GIN) index's pending
    # list (FTS5 has none) and adds statistics of its title key for the planner (SQLite's
    # autocomplete names its index: INDEXED BY).
    """
    SELECT 1;
    """,
    # 11: each centroid weight keeps a date inside its story's span (``anchor``: the story's
    # earliest date when the row was written; spans only grow, so it stays inside), so that the
    # candidate search skips the postings of far-off stories without reading their story row
    # (bot/storage/story_store.py). Stories known so far: their earliest date.
    """
    ALTER TABLE story_terms ADD COLUMN anchor INTEGER;
    UPDATE story_terms SET anchor = (SELECT span_first FROM stories s WHERE s.id = story_id);
    """,
    # 12: ``generation`` counts the transactions that changed the grouping state (stories'
    # centroids, term frequencies): a writer keeps what it read of that state from one
    # transaction to the next only while the generation is the one it wrote itself
    # (bot/storage/story_cache.py).
    """
    ALTER TABLE story_ids ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    """,
)
