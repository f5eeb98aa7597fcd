"""The fetcher against a real local HTTP server: validators, compression, redirects, statuses,
limits; and the address rules (SSRF) with a fake resolver."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import pytest

from bot import __version__
from bot.ingest.feeds import addresses
from bot.ingest.feeds.addresses import BlockedAddress, GuardedResolver, address_rule, check_url
from bot.ingest.feeds.fetch import FeedFetcher, retry_after_seconds, user_agent
from tests.support.feed_server import FeedServer, StaticResolver

BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def fetcher(**kw) -> FeedFetcher:
    kw.setdefault("allow_private", True)  # the test server is on 127.0.0.1
    kw.setdefault("timeout", 5)
    return FeedFetcher(**kw)


async def test_conditional_get_gives_304_and_keeps_validators():
    async with FeedServer() as server, fetcher() as f:
        server.route("/a", body=BODY, etag='"v1"', last_modified="Mon, 03 Jun 2024 08:00:00 GMT")
        first = await f.fetch(server.url("/a"))
        assert first.status == 200 and first.body == BODY and first.etag == '"v1"'
        again = await f.fetch(server.url("/a"), etag=first.etag, last_modified=first.last_modified)
        assert again.not_modified and again.body is None and again.error is None
        assert again.etag == '"v1"'
        seen = server.hits("/a")[-1].headers
        assert seen["If-None-Match"] == '"v1"'
        assert seen["If-Modified-Since"] == "Mon, 03 Jun 2024 08:00:00 GMT"
        assert seen["User-Agent"] == f"newsbot/{__version__}"
        assert "gzip" in seen["Accept-Encoding"] and "deflate" in seen["Accept-Encoding"]


async def test_last_modified_alone_gives_304():
    async with FeedServer() as server, fetcher() as f:
        server.route("/lm", body=BODY, last_modified="Mon, 03 Jun 2024 08:00:00 GMT")
        first = await f.fetch(server.url("/lm"))
        again = await f.fetch(server.url("/lm"), last_modified=first.last_modified)
        assert again.status == 304


def test_user_agent_names_the_contact_url_when_configured():
    assert (
        user_agent("https://bot.example.org") == f"newsbot/{__version__} (+https://bot.example.org)"
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bodies_are_decoded(encoding):
    async with FeedServer() as server, fetcher() as f:
        server.route("/z", body=BODY * 50, encoding=encoding)
        result = await f.fetch(server.url("/z"))
        assert result.body == BODY * 50


async def test_raw_deflate_is_accepted():
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = raw.compress(BODY) + raw.flush()
    async with FeedServer() as server, fetcher() as f:
        server.route("/d", raw_body=data, encoding="deflate")
        assert (await f.fetch(server.url("/d"))).body == BODY


async def test_decompression_bomb_is_stopped_at_the_cap():
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB on the wire
    async with FeedServer() as server, fetcher(max_bytes=1_000_000) as f:
        server.route("/bomb", raw_body=bomb, encoding="gzip")
        result = await f.fetch(server.url("/bomb"))
        assert result.error_kind == "too_large" and result.body is None
        assert "1000000 bytes" in result.error


async def test_oversized_body_is_refused_from_content_length_and_while_streaming():
    async with FeedServer() as server, fetcher(max_bytes=10_000) as f:
        server.route("/big", body=b"x" * 20_000)
        assert (await f.fetch(server.url("/big"))).error_kind == "too_large"
        server.route("/endless", endless=True)
        result = await f.fetch(server.url("/endless"))
        assert result.error_kind == "too_large"


async def test_trickling_server_ends_at_the_total_timeout():
    async with FeedServer() as server, fetcher(timeout=0.3) as f:
        server.route("/slow", body=BODY, trickle=0.05)  # ~4 s for the whole body
        result = await f.fetch(server.url("/slow"))
        assert result.error_kind == "timeout" and "0.3 s" in result.error


async def test_redirects_are_followed_up_to_five_and_permanent_ones_reported():
    async with FeedServer() as server, fetcher() as f:
        for i in range(5):
            server.route(f"/r{i}", status=301, location=f"/r{i + 1}")
        server.route("/r5", body=BODY)
        result = await f.fetch(server.url("/r0"))
        assert result.status == 200 and result.body == BODY
        assert result.moved_to == server.url("/r5")
        server.route("/r5", status=308, location="/r6")
        server.route("/r6", body=BODY)
        result = await f.fetch(server.url("/r0"))
        assert result.error_kind == "redirects" and "more than 5" in result.error


async def test_temporary_redirect_does_not_move_the_feed():
    async with FeedServer() as server, fetcher() as f:
        server.route("/t", status=302, location="/t2")
        server.route("/t2", status=301, location="/t3")
        server.route("/t3", body=BODY)
        result = await f.fetch(server.url("/t"))
        assert result.body == BODY and result.moved_to is None


@pytest.mark.parametrize(
    ("status", "kind"), [(404, "http"), (500, "http"), (410, "gone"), (403, "http")]
)
async def test_error_statuses(status, kind):
    async with FeedServer() as server, fetcher() as f:
        server.route("/e", status=status)
        result = await f.fetch(server.url("/e"))
        assert result.status == status and result.error_kind == kind
        assert str(status) in result.error


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_read(status):
    async with FeedServer() as server, fetcher() as f:
        server.route("/busy", status=status, retry_after="120")
        result = await f.fetch(server.url("/busy"))
        assert result.retry_after == 120


def test_retry_after_http_date():
    now = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 03 Jun 2024 08:10:00 GMT", now) == 600
    assert retry_after_seconds("soon", now) is None


async def test_fetch_outcomes_are_reported_to_the_listener():
    seen = []
    async with FeedServer() as server, fetcher() as f:
        f.on_fetched = lambda status, seconds: seen.append(status)
        server.route("/ok", body=BODY)
        await f.fetch(server.url("/ok"))
        await f.fetch(server.url("/missing"))
    assert seen == ["200", "http"]


async def test_connection_refused_is_a_network_problem():
    async with FeedServer() as server:
        url = server.url("/gone")
    async with fetcher() as f:
        result = await f.fetch(url)
    assert result.error_kind == "network"


# -- address rules -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback address"),
        ("::1", "loopback address"),
        ("10.1.2.3", "private address"),
        ("192.168.0.10", "private address"),
        ("172.16.5.5", "private address"),
        ("169.254.169.254", "link-local address"),
        ("fe80::1", "link-local address"),
        ("224.0.0.1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("240.0.0.1", "reserved address"),
        ("100.64.0.1", "non-public address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("fc00::1", "private address"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_address_rules(address, rule):
    assert address_rule(address) == rule


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://127.0.0.1/feed", "loopback address"),
        ("http://[::1]:8080/feed", "loopback address"),
        ("http://10.0.0.7/feed", "private address"),
        ("http://localhost/feed", "loopback address"),
    ],
)
def test_check_url_refuses_with_the_rule(url, message):
    with pytest.raises(BlockedAddress, match=message):
        check_url(url, allow_private=False)


def test_check_url_allows_names_and_private_when_the_host_says_so():
    check_url("https://example.com/feed", allow_private=False)  # names: the resolver decides
    check_url("http://127.0.0.1/feed", allow_private=True)


async def test_resolver_refuses_a_name_with_any_private_address():
    resolver = GuardedResolver(
        StaticResolver({"mixed.test": ["93.184.216.34", "10.0.0.1"]}), allow_private=False
    )
    with pytest.raises(BlockedAddress, match=r"mixed.test \(10.0.0.1\) is a private address"):
        await resolver.resolve("mixed.test", 80)


async def test_a_name_resolving_to_loopback_is_refused_at_connect():
    resolver = StaticResolver({"feeds.test": ["127.0.0.1"]})
    async with FeedServer() as server, fetcher(allow_private=False, resolver=resolver) as f:
        server.route("/a", body=BODY)
        result = await f.fetch(server.url("/a", host="feeds.test"))
        assert result.error_kind == "blocked" and "loopback address" in result.error
        assert server.requests == []  # refused before any connection was made
        literal = await f.fetch(server.url("/a"))
        assert literal.error_kind == "blocked" and "127.0.0.1 is a loopback" in literal.error


async def test_every_redirect_hop_is_checked(monkeypatch):
    # Treat 127.0.0.1 as public for this test, so the first hop connects to the local server;
    # the redirect then names a host resolving to a private address, refused at that hop.
    real = addresses.address_rule
    monkeypatch.setattr(addresses, "address_rule", lambda a: None if a == "127.0.0.1" else real(a))
    resolver = StaticResolver({"pub.test": ["127.0.0.1"], "intranet.test": ["10.0.0.5"]})
    async with FeedServer() as server, fetcher(allow_private=False, resolver=resolver) as f:
        server.route("/hop", status=302, location="http://intranet.test/admin")
        server.route("/lit", status=302, location="http://169.254.169.254/latest/meta-data")
        server.route("/ok", body=BODY)
        assert (await f.fetch(server.url("/ok", host="pub.test"))).body == BODY
        result = await f.fetch(server.url("/hop", host="pub.test"))
        assert result.error_kind == "blocked" and "10.0.0.5) is a private address" in result.error
        result = await f.fetch(server.url("/lit", host="pub.test"))
        assert result.error_kind == "blocked" and "link-local address" in result.error
        assert "intranet.test" in resolver.asked


async def test_global_and_per_host_limits_hold():
    import asyncio

    resolver = StaticResolver({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with FeedServer() as server, fetcher(concurrency=3, per_host=2, resolver=resolver) as f:
        for i in range(4):
            server.route(f"/s{i}", body=BODY, delay=0.1)
        urls = [server.url(f"/s{i}", host=h) for h in ("a.test", "b.test") for i in range(4)]
        results = await asyncio.gather(*(f.fetch(u) for u in urls))
        assert all(r.body == BODY for r in results)
        assert server.max_total == 3
        assert max(server.max_active.values()) == 2  # never more than per_host on one host
