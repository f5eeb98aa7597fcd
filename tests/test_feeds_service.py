"""The feed service on a real database and a real local feed server: polling states, back-off,
no flood, identity by guid, story grouping with file articles, hostile feeds, OPML, config."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import FeedSourceConfig
from bot.domain.digest_selection import digest_window
from bot.domain.feeds import MAX_BACKOFF
from bot.services.errors import BadInput, NotFound
from bot.storage.db import migrate
from bot.storage.digest_candidates import candidate_stories
from bot.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from tests.support.digest import Article as FileArticle
from tests.support.digest import ingest
from tests.support.feeds import T0, Item, feed_env, rss

pytestmark = pytest.mark.usefixtures("on_each_backend")  # both backends

DATA = Path(__file__).parent / "data" / "feeds"


async def _items(db, where: str = "1 = 1", params=()):
    return [
        dict(r)
        for r in await db.fetchall(
            f"SELECT id, url, title, first_seen_at, published_at, story_id FROM items "
            f"WHERE is_article = 1 AND {where} ORDER BY id",
            params,
        )
    ]


async def test_add_then_poll_then_304(tmp_path):
    async with feed_env(tmp_path) as env:
        env.server.route(
            "/f", body=rss([Item("Alpha launch", "https://a.example.com/1", T0)]), etag='"1"'
        )
        feed, created = await env.service.add(env.server.url("/f"), topics="World, world,Tech")
        assert created and feed.topics == ("World", "Tech") and feed.next_fetch_at is None
        again, created = await env.service.add(env.server.url("/f"))
        assert not created and again.id == feed.id
        report = await env.service.poll()
        assert (report.feeds, report.fetched, report.new, report.failed) == (1, 1, 1, 0)
        [stored] = await env.service.feeds()
        assert stored.last_status == 200 and stored.last_items == 1 and stored.etag == '"1"'
        assert stored.title == "Test Feed" and stored.state == "active"
        assert stored.next_fetch_at == T0 + timedelta(minutes=15)
        assert (await env.service.poll()).feeds == 0  # not due yet
        env.clock.advance(minutes=15)
        report = await env.service.poll()
        assert (report.not_modified, report.new, report.fetched) == (1, 0, 0)
        assert env.server.hits("/f")[-1].headers["If-None-Match"] == '"1"'
        topics = await env.db.fetchall(
            "SELECT t.name FROM item_topics it JOIN topics t ON t.id = it.topic_id"
        )
        assert sorted(r[0] for r in topics) == ["Tech", "World"]


async def test_changed_feed_counts_new_updated_unchanged(tmp_path):
    async with feed_env(tmp_path) as env:
        env.server.route("/f", body=rss([Item("One thing", "https://a.example.com/1", T0)]))
        feed, _ = await env.service.add(env.server.url("/f"))
        await env.service.poll()
        env.server.route(
            "/f",
            body=rss(
                [
                    Item("One thing, revised", "https://a.example.com/1", T0),
                    Item("Two things", "https://a.example.com/2", T0),
                ]
            ),
        )
        report = await env.service.poll([feed.id])
        assert (report.new, report.updated, report.unchanged) == (1, 1, 0)
        report = await env.service.poll([str(feed.id)])
        assert (report.new, report.updated, report.unchanged) == (0, 0, 2)


async def test_entry_whose_link_changes_updates_the_same_article(tmp_path):
    async with feed_env(tmp_path) as env:
        env.server.route("/f", body=rss([Item("Moving", "https://a.example.com/old", T0, "g-1")]))
        feed, _ = await env.service.add(env.server.url("/f"))
        await env.service.poll()
        [before] = await _items(env.db)
        env.server.route("/f", body=rss([Item("Moving", "https://a.example.com/new", T0, "g-1")]))
        report = await env.service.poll([feed.id])
        assert report.new == 0
        [after] = await _items(env.db)
        assert after["id"] == before["id"] and after["url"] == "https://a.example.com/new"


async def test_backlog_is_stored_but_not_new_for_digests(tmp_path):
    async with feed_env(tmp_path) as env:
        old, fresh = T0 - timedelta(hours=30), T0 - timedelta(hours=3)
        env.server.route(
            "/f",
            body=rss(
                [
                    Item("Ancient quarterly results", "https://a.example.com/old", old),
                    Item("Fresh volcano eruption", "https://a.example.com/fresh", fresh),
                ]
            ),
        )
        feed, _ = await env.service.add(env.server.url("/f"))
        await env.service.poll()
        rows = {r["url"]: r for r in await _items(env.db)}
        # published dates are the feed's own; only first_seen_at marks the backlog as old
        assert rows["https://a.example.com/old"]["published_at"] == int(old.timestamp())
        assert rows["https://a.example.com/old"]["first_seen_at"] == int(old.timestamp())
        assert rows["https://a.example.com/fresh"]["first_seen_at"] == int(T0.timestamp())
        window = digest_window(None, T0 + timedelta(hours=1))
        # a first digest's window reaches ~47 h back for publication: the 30-hour-old backlog
        # entry would be inside it, were it not for its first-seen time
        stories = await env.db.run(candidate_stories, window)
        leads = {s.id for s in stories}
        assert leads == {rows["https://a.example.com/fresh"]["story_id"]}

        # a later fetch: a new old-dated entry IS new (it was not in the feed when added),
        # and an entry seen again is never new again
        env.clock.advance(hours=2)
        env.server.route(
            "/f",
            body=rss(
                [
                    Item("Ancient quarterly results", "https://a.example.com/old", old),
                    Item("Fresh volcano eruption", "https://a.example.com/fresh", fresh),
                    Item("Late arriving harbour report", "https://a.example.com/late", T0),
                ]
            ),
        )
        report = await env.service.poll([feed.id])
        assert report.new == 1
        rows2 = {r["url"]: r for r in await _items(env.db)}
        assert rows2["https://a.example.com/fresh"]["first_seen_at"] == int(T0.timestamp())
        assert rows2["https://a.example.com/late"]["first_seen_at"] == int(env.clock().timestamp())


async def test_feed_item_joins_the_story_of_a_file_article(tmp_path):
    async with feed_env(tmp_path) as env:
        published = T0 - timedelta(hours=2)
        await ingest(env.db, tmp_path / "src", [FileArticle(7, published)], T0 - timedelta(hours=1))
        [file_row] = await _items(env.db)
        env.server.route(
            "/f",
            body=rss([Item(file_row["title"], "https://other.example.com/same-story", published)]),
        )
        await env.service.add(env.server.url("/f"))
        await env.service.poll()
        rows = await _items(env.db)
        assert len(rows) == 2 and rows[0]["story_id"] == rows[1]["story_id"]


async def test_failures_back_off_then_pause_after_seven_days(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bot.services.feeds")
    async with feed_env(tmp_path) as env:
        env.server.route("/f", status=500)
        feed, _ = await env.service.add(env.server.url("/f"))
        delays = []
        for _ in range(4):
            report = await env.service.poll([feed.id])
            assert report.failed == 1 and report.problems[0]["kind"] == "http"
            f = await env.service.find(feed.id)
            delays.append(f.next_fetch_at - env.clock())
        assert delays == [timedelta(minutes=m) for m in (15, 30, 60, 120)]
        assert f.state == "failing" and f.error_streak == 4 and f.last_status == 500
        warnings = [r for r in caplog.records if "is failing" in r.getMessage()]
        assert len(warnings) == 1  # once, at the transition
        for _ in range(12):
            env.clock.now = f.next_fetch_at
            await env.service.poll()
            f = await env.service.find(feed.id)
            if f.state == "paused":
                break
            assert f.next_fetch_at - env.clock() <= timedelta(seconds=MAX_BACKOFF)
        assert f.state == "paused" and "paused after 7 days" in f.last_error
        assert f.next_fetch_at is None
        assert [r for r in caplog.records if "is paused" in r.getMessage()]
        env.clock.advance(days=30)
        assert (await env.service.poll()).feeds == 0  # paused: never due
        env.server.route("/f", body=rss([Item("Back", "https://a.example.com/back", T0)]))
        report = await env.service.poll([feed.id])  # named: polled anyway, and works again
        assert report.fetched == 1
        f = await env.service.find(feed.id)
        assert (f.state, f.error_streak, f.last_error) == ("active", 0, None)


async def test_gone_retires_and_301_moves(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bot.services.feeds")
    async with feed_env(tmp_path) as env:
        env.server.route("/gone", status=410)
        env.server.route("/old", status=301, location="/new")
        env.server.route("/new", body=rss([Item("Moved", "https://a.example.com/m", T0)]))
        gone, _ = await env.service.add(env.server.url("/gone"))
        moved, _ = await env.service.add(env.server.url("/old"))
        report = await env.service.poll()
        kinds = {(p["id"], p["kind"]) for p in report.problems}
        assert (gone.id, "gone") in kinds and (moved.id, "moved") in kinds
        assert (await env.service.find(gone.id)).state == "retired"
        assert (await env.service.find(moved.id)).url == env.server.url("/new")
        assert any("retired" in r.getMessage() for r in caplog.records)
        env.clock.advance(days=1)
        await env.service.poll()
        assert env.server.hits("/old")[-1:] == env.server.hits("/old")[:1]  # asked once only
        assert len(env.server.hits("/gone")) == 1


async def test_retry_after_is_honoured(tmp_path):
    async with feed_env(tmp_path) as env:
        env.server.route("/busy", status=429, retry_after="7200")
        feed, _ = await env.service.add(env.server.url("/busy"))
        await env.service.poll()
        f = await env.service.find(feed.id)
        assert f.next_fetch_at == T0 + timedelta(hours=2) and f.state == "failing"


async def test_hostile_feeds_are_problems_and_the_others_go_on(tmp_path):
    async with feed_env(tmp_path, max_bytes=200_000, timeout_seconds=1) as env:
        import gzip

        env.server.route("/ok", body=rss([Item("Fine story", "https://a.example.com/ok", T0)]))
        env.server.route("/laughs", body=(DATA / "billion-laughs.xml").read_bytes())
        env.server.route("/xxe", body=(DATA / "external-entity.xml").read_bytes())
        env.server.route("/bomb", raw_body=gzip.compress(b" " * 20_000_000), encoding="gzip")
        env.server.route("/endless", endless=True)
        env.server.route("/slow", body=rss([Item("s", "https://a.example.com/s")]), trickle=0.05)
        env.server.route("/html", body=b"<html>hello</html>", content_type="text/html")
        ids = {}
        for path in ("/ok", "/laughs", "/xxe", "/bomb", "/endless", "/slow", "/html"):
            feed, _ = await env.service.add(env.server.url(path))
            ids[feed.id] = path
        report = await env.service.poll()
        assert (report.fetched, report.failed, report.new) == (1, 6, 1)
        kinds = {ids[p["id"]]: p["kind"] for p in report.problems}
        assert kinds == {
            "/laughs": "entity_declarations",
            "/xxe": "entity_declarations",
            "/bomb": "too_large",
            "/endless": "too_large",
            "/slow": "timeout",
            "/html": "not_a_feed",
        }


async def test_private_address_feed_is_refused_when_not_allowed(tmp_path):
    async with feed_env(tmp_path, allow_private_addresses=False) as env:
        with pytest.raises(BadInput, match="loopback address"):
            await env.service.add(env.server.url("/f"))
        with pytest.raises(BadInput, match="only http and https"):
            await env.service.add("gopher://example.com/feed")


async def test_find_and_remove_by_id_or_url(tmp_path):
    async with feed_env(tmp_path) as env:
        feed, _ = await env.service.add(env.server.url("/f"))
        assert (await env.service.find(f"#{feed.id}")).id == feed.id
        assert (await env.service.find(env.server.url("/f") + "/")).id == feed.id
        await env.service.remove(env.server.url("/f"))
        with pytest.raises(NotFound):
            await env.service.find(feed.id)


async def test_opml_import_export_round_trip(tmp_path):
    async with feed_env(tmp_path) as env:
        report = await env.service.import_opml((DATA / "subscriptions.opml").read_bytes())
        assert len(report.added) == 3 and len(report.problems) == 1
        assert report.problems[0]["feed"] == "ftp://files.example.com/feed"
        again = await env.service.import_opml((DATA / "subscriptions.opml").read_bytes())
        assert len(again.existing) == 3 and not again.added
        exported = await env.service.export_opml()
    (tmp_path / "other").mkdir()
    # Into a second database: a SQLite file (the first one is of each backend in turn).
    async with feed_env(tmp_path, target=str(tmp_path / "other" / "feeds.db")) as other:
        imported = await other.service.import_opml(exported.encode())
        got = {(f.url, f.name, f.topics) for f in await other.service.feeds()}
        assert len(imported.added) == 3
        assert ("https://www.example.com/feed.xml", "Example News", ("Tech",)) in got
        assert ("https://json.example.com/feed.json", "JSON", ("Tech", "Web", "JSON")) in got


async def test_config_feeds_are_synced(tmp_path):
    async with feed_env(tmp_path) as env:
        await env.service.add("https://mine.example.com/feed")
        sources = [
            FeedSourceConfig("https://c.example.com/a", "A", ("X",), 30),
            FeedSourceConfig("https://c.example.com/b"),
        ]
        assert await env.service.sync_config(sources) == (2, 0, 0)
        assert await env.service.sync_config(sources) == (0, 0, 0)
        assert await env.service.sync_config(sources[:1]) == (0, 0, 1)
        feeds = {f.url: f for f in await env.service.feeds()}
        assert set(feeds) == {"https://mine.example.com/feed", "https://c.example.com/a"}
        a = feeds["https://c.example.com/a"]
        assert (a.origin, a.name, a.topics, a.every_minutes) == ("config", "A", ("X",), 30)


def test_migration_keeps_existing_files_as_file_sources(tmp_path):
    """SQLite only (a bare SQLite file at schema version 3, in both of the module's variants)."""
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], 1):
        conn.executescript(f"BEGIN;{script}PRAGMA user_version = {number};COMMIT;")
    conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, ingested_at) "
        "VALUES ('/a.md', 1, 1, 'd', 5)"
    )
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT kind, locator FROM sources").fetchall() == [("file", "/a.md")]
    conn.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, ingested_at) "
        "VALUES ('/b.md', 1, 1, 'd', 6)"
    )
    conn.execute("DELETE FROM files WHERE path = '/a.md'")
    assert conn.execute("SELECT locator FROM sources").fetchall() == [("/b.md",)]
