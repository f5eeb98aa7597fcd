"""``newsbot feeds ...`` end to end (parser, handler, output) against a local feed server."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import parse
from bot.config import Config, DatabaseConfig, FeedsConfig, FeedSourceConfig, parse_config
from tests.support.feed_server import FeedServer
from tests.support.feeds import Item, rss

DATA = Path(__file__).parent / "data" / "feeds"


async def run(config: Config, *argv: str) -> int:
    _, args = parse(["feeds", *argv])
    return await args.handler(args, config)


@pytest.fixture
def config(db_target: str) -> Config:
    return Config(
        database=DatabaseConfig(db_target),  # each test on SQLite and on PostgreSQL
        feeds=FeedsConfig(allow_private_addresses=True, timeout_seconds=5),
    )


async def test_add_poll_list_remove_with_json(config, capsys):
    async with FeedServer() as server:
        server.route("/f", body=rss([Item("Hello", "https://a.example.com/1")]), etag='"e"')
        server.route("/broken", status=404)
        assert (
            await run(config, "add", server.url("/f"), "--name", "Mine", "--every", "5", "--json")
            == 0
        )
        added = json.loads(capsys.readouterr().out)
        assert added["created"] and added["feed"]["every_minutes"] == 5
        assert await run(config, "add", server.url("/broken")) == 0
        assert "Added feed #2" in capsys.readouterr().out
        assert await run(config, "poll", "--json") == 1  # one feed failed
        report = json.loads(capsys.readouterr().out)
        keys = {
            "feeds",
            "fetched",
            "not_modified",
            "failed",
            "new",
            "updated",
            "unchanged",
            "problems",
        }
        assert keys <= set(report)
        assert (report["feeds"], report["fetched"], report["failed"], report["new"]) == (2, 1, 1, 1)
        assert report["problems"] == [
            {
                "feed": server.url("/broken"),
                "id": 2,
                "kind": "http",
                "message": "HTTP 404 Not Found",
            }
        ]
        assert await run(config, "poll", "1") == 0
        out = capsys.readouterr().out
        assert out.startswith("1 feed: 0 fetched, 1 not modified, 0 failed")
        assert await run(config, "list") == 0
        listing = capsys.readouterr().out
        assert "Mine" in listing and "failing" in listing and "404" in listing
        assert await run(config, "list", "--json") == 0
        feeds = json.loads(capsys.readouterr().out)["feeds"]
        assert [f["state"] for f in feeds] == ["active", "failing"]
        assert feeds[1]["error_streak"] == 1 and feeds[1]["last_status"] == 404
        assert await run(config, "remove", server.url("/broken")) == 0
        assert "Removed feed #2" in capsys.readouterr().out
        assert await run(config, "remove", "99") == 1
        assert "no feed '99'" in capsys.readouterr().err


async def test_bad_url_is_a_friendly_error(config, capsys):
    config = replace(config, feeds=FeedsConfig())
    assert await run(config, "add", "http://192.168.1.1/feed") == 1
    err = capsys.readouterr().err
    assert "private address" in err and "allow_private_addresses" in err
    assert await run(config, "add", "not a url") == 1
    assert "not a usable feed url" in capsys.readouterr().err


async def test_import_and_export(config, capsys, tmp_path):
    assert await run(config, "import", str(DATA / "subscriptions.opml")) == 1  # one refused
    out = capsys.readouterr().out
    assert "3 feeds added, 0 already followed, 1 refused" in out
    assert await run(config, "export") == 0
    opml = capsys.readouterr().out
    assert opml.startswith('<?xml version="1.0"') and opml.count("<outline ") == 3
    (tmp_path / "bad.opml").write_text("<html/>")
    assert await run(config, "import", str(tmp_path / "bad.opml")) == 1
    assert "not an OPML document" in capsys.readouterr().err
    assert await run(config, "import", str(tmp_path / "missing.opml")) == 1
    assert "cannot read" in capsys.readouterr().err


async def test_config_sources_show_up(config, capsys):
    config = replace(
        config,
        feeds=replace(config.feeds, sources=(FeedSourceConfig("https://c.example.com/f", "Cfg"),)),
    )
    assert await run(config, "list", "--json") == 0
    [feed] = json.loads(capsys.readouterr().out)["feeds"]
    assert (feed["url"], feed["name"], feed["origin"]) == (
        "https://c.example.com/f",
        "Cfg",
        "config",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"feeds": {"sources": [{"url": "https://a.example.com/"}, {"name": "x"}]}},
            "c.toml: [[feeds.sources]] #2 url: expected an http(s) url",
        ),
        (
            {"feeds": {"sources": [{"url": "https://a.example.com/", "every_minutes": 0}]}},
            "c.toml: [[feeds.sources]] #1 every_minutes: expected a number from 1",
        ),
        (
            {"feeds": {"sources": [{"url": "https://a.example.com/", "topic": "x"}]}},
            "c.toml: [[feeds.sources]] #1 topic: unknown key",
        ),
        ({"feeds": {"sources": {"url": "x"}}}, "[feeds] sources: expected [[feeds.sources]]"),
        ({"feeds": {"max_bytes": "big"}}, "c.toml: [feeds] max_bytes: expected a number"),
        ({"feeds": {"discord_admins": 1}}, "[feeds] discord_admins: expected true or false"),
    ],
)
def test_config_errors_name_the_key(data, message):
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config(data, source="c.toml")
    assert message in str(info.value)


def test_config_defaults():
    feeds = parse_config({}).feeds
    assert (feeds.every_minutes, feeds.discord_admins, feeds.allow_private_addresses) == (
        15.0,
        False,
        False,
    )
    assert feeds.max_bytes == 10_000_000
    cfg = parse_config(
        {
            "feeds": {
                "sources": [{"url": "https://a.example.com/f", "topics": ["A"], "every_minutes": 5}]
            }
        }
    )
    assert cfg.feeds.sources == (FeedSourceConfig("https://a.example.com/f", None, ("A",), 5.0),)
