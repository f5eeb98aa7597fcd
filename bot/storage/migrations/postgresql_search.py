"""Step 10 of the PostgreSQL migrations (:mod:`bot.storage.migrations.postgresql_steps`):
search and autocomplete planned from real estimates. SQLite's step 10 does nothing.

(a) The full-text index without a pending list. With GIN's default fastupdate, new rows'
entries wait in a list that every search scans in full (up to gin_pending_list_limit,
4 MB) until a vacuum merges them, and the planner, counting it, turns to a sequential
scan of items; a plain ANALYZE does not merge it. Off: each write updates the index at
once. The entries already pending are merged here.
(b) Statistics of the autocomplete key, lower(title) in byte ("C") order. The expression
index items_article_title keeps its statistics in the expression's own (the database's)
collation, so the planner cannot use them for a "C" range and guesses 0.5 % of the rows:
a prefix that a tenth of the titles share ("micro") was then read in full and sorted
instead of walked in index order up to the 25th title.
(c) newsbot_text_matches(q, wanted, newest, articles, first_id, last_id): the ids of the
``wanted`` newest (else oldest) items matching q, among the ids first_id..last_id (the
caller's min(id) and max(id)), without the planner's gamble between the GIN index (a
bitmap of every match in the table, then a sort) and items_pkey in id order (filtering
row by row up to the wanted-th match: the whole table when the estimate was wrong, e.g.
two words that are common alone but never together). It asks windows of ids from the
newest (oldest) on, each planned for its own values (EXECUTE): the first 4,096 ids wide,
planned freely (at worst its 4,096 rows are read), then eight times wider each time and
only as a bitmap (the GIN index ANDed with the window of items_pkey), so the rows read
are the window's matches, never the rest of the table.
"""

from __future__ import annotations

SEARCH_PLANNING = """
    ALTER INDEX items_search SET (fastupdate = off);
    SELECT gin_clean_pending_list('items_search'::regclass);
    CREATE STATISTICS items_title_key ON ((lower(title) COLLATE "C")) FROM items;
    ANALYZE items;

    CREATE FUNCTION newsbot_text_matches(q tsquery, wanted integer, newest boolean,
                                         articles boolean, first_id bigint, last_id bigint)
        RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_indexscan = on AS $$
    DECLARE
        edge bigint := CASE WHEN newest THEN last_id ELSE first_id END;
        width bigint := 4096;
        got bigint := 0;
        n bigint;
        sql text := 'SELECT id FROM items WHERE search_doc @@ $1 AND id BETWEEN $2 AND $3'
            || CASE WHEN articles THEN ' AND is_article = 1 AND removed = 0' ELSE '' END
            || ' ORDER BY id' || CASE WHEN newest THEN ' DESC' ELSE '' END || ' LIMIT $4';
    BEGIN
        IF last_id IS NULL OR wanted < 1 THEN
            RETURN;
        END IF;
        LOOP
            IF newest THEN
                RETURN QUERY EXECUTE sql USING q, edge - width + 1, edge, wanted - got;
                edge := edge - width;
            ELSE
                RETURN QUERY EXECUTE sql USING q, edge, edge + width - 1, wanted - got;
                edge := edge + width;
            END IF;
            GET DIAGNOSTICS n = ROW_COUNT;
            got := got + n;
            EXIT WHEN got >= wanted OR edge < first_id OR edge > last_id;
            width := width * 8;
            PERFORM set_config('enable_indexscan', 'off', true);  -- until the function returns
        END LOOP;
    END $$;
"""
