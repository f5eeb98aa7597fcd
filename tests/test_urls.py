"""canonical_url: every normalisation rule and every rejection, table-driven."""

from __future__ import annotations

import re

import pytest

from bot.ingest.urls import TRACKING_PARAMS, canonical_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # already canonical
        ("https://example.com/a/b", "https://example.com/a/b"),
        ("http://example.com/", "http://example.com/"),
        # surrounding whitespace, including Unicode spaces and line separators
        ("  https://example.com/a \n", "https://example.com/a"),
        ("\u00a0https://example.com/a\u2028", "https://example.com/a"),
        ("\u202fhttps://example.com/a\t", "https://example.com/a"),
        # scheme and host lower-cased, path case kept
        ("HTTPS://Example.COM/Path/To", "https://example.com/Path/To"),
        ("Http://WWW.Example.com", "http://www.example.com/"),
        # Unicode host: lower-cased, not converted to punycode
        ("https://BÜCHER.de/x", "https://bücher.de/x"),
        ("https://xn--bcher-kva.de/x", "https://xn--bcher-kva.de/x"),
        # default ports dropped, other ports kept (without leading zeros)
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:0443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("https://example.com:8080/a", "https://example.com:8080/a"),
        ("https://example.com:/a", "https://example.com/a"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("http://[2001:DB8::1]:8080/", "http://[2001:DB8::1]:8080/"),
        ("https://user:pw@Example.com:443/a", "https://user:pw@example.com/a"),
        # fragment dropped
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?x=1#frag?y=2", "https://example.com/a?x=1"),
        ("https://example.com#top", "https://example.com/"),
        # tracking parameters dropped, the others kept in order and spelling
        (
            "https://example.com/a?utm_source=tw&id=3&utm_medium=social",
            "https://example.com/a?id=3",
        ),
        ("https://example.com/a?UTM_Campaign=x&b=2&a=1", "https://example.com/a?b=2&a=1"),
        ("https://example.com/a?fbclid=abc", "https://example.com/a"),
        ("https://example.com/a?gclid=1&dclid=2&msclkid=3&yclid=4", "https://example.com/a"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4&ocid=5", "https://example.com/a"),
        ("https://example.com/a?ref_src=twsrc&q=x", "https://example.com/a?q=x"),
        ("https://example.com/a?ref=home&q=x", "https://example.com/a?ref=home&q=x"),
        ("https://example.com/a?q=a+b&flag&x=", "https://example.com/a?q=a+b&flag&x="),
        # empty query and empty parameters dropped
        ("https://example.com/img.jpg?", "https://example.com/img.jpg"),
        ("https://example.com/a?&&x=1&&", "https://example.com/a?x=1"),
        # trailing slashes: stripped from a path, the root path is "/"
        ("https://example.com/a/", "https://example.com/a"),
        ("https://example.com/a//", "https://example.com/a"),
        ("https://example.com/a/?x=1", "https://example.com/a?x=1"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com?x=1", "https://example.com/?x=1"),
        # odd characters percent-encoded as UTF-8, existing escapes not encoded twice
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/en/\u00a0Clearview-AI", "https://example.com/en/%C2%A0Clearview-AI"),
        ("https://example.com/a\u2028b", "https://example.com/a%E2%80%A8b"),
        ("https://example.com/a\u202fb", "https://example.com/a%E2%80%AFb"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/a\x01b", "https://example.com/a%01b"),
        ('https://example.com/"q"<x>', "https://example.com/%22q%22%3Cx%3E"),
        ("https://example.com/a|b^c`d{e}", "https://example.com/a%7Cb%5Ec%60d%7Be%7D"),
        ("https://example.com/a%20b", "https://example.com/a%20b"),
        ("https://example.com/a%c3%a9", "https://example.com/a%C3%A9"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/a%zz", "https://example.com/a%25zz"),
        (
            "https://example.com/s?q=caf\u00e9 au lait",
            "https://example.com/s?q=caf%C3%A9%20au%20lait",
        ),
        ("https://example.com/s?q=%E2%82%AC", "https://example.com/s?q=%E2%82%AC"),
        # characters a url may carry as they are
        (
            "https://example.com/f:quality(80)/a@b/x;y=1,[2]~!$&'*+",
            "https://example.com/f:quality(80)/a@b/x;y=1,[2]~!$&'*+",
        ),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty url"),
        ("   ", "empty url"),
        ("ftp://example.com/file", "unsupported scheme 'ftp'"),
        ("mailto:someone@example.com", "unsupported scheme 'mailto'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript'"),
        ("data:image/png;base64,AAAA", "unsupported scheme 'data'"),
        ("www.example.com/a", "unsupported scheme"),
        ("//example.com/a", "unsupported scheme"),
        ("/relative/path", "unsupported scheme"),
        ("http:example.com", "missing host"),
        ("https:/example.com/a", "missing host"),
        ("https://", "missing host"),
        ("https:///a/b", "missing host"),
        ("https://:443/a", "missing host"),
        ("https://user@/a", "missing host"),
        ("https://exa mple.com/", "invalid host"),
        ("https://exa<mple.com/", "invalid host"),
        ("https://a:b:c/", "invalid host"),
        ("https://example.com:http/", "invalid port"),
        ("https://example.com:99999/", "invalid port"),
        ("https://[::1/", "invalid host"),
        ("https://[zz]/", "invalid host"),
        ("https://[::1]x/", "invalid host"),
        ("https://example.com/\ud800", "invalid character"),
    ],
)
def test_canonical_url_rejects(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        canonical_url(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "HTTPS://Example.COM:443/a b/?utm_source=x&q=caf\u00e9#f",
        "https://example.com/100%/x%2f?a=%zz",
        "http://[::1]:8080/",
        "https://example.com/en/\u00a0Clearview-AI/",
    ],
)
def test_canonical_url_is_idempotent(raw: str) -> None:
    once = canonical_url(raw)
    assert canonical_url(once) == once


@pytest.mark.parametrize("name", sorted(TRACKING_PARAMS))
def test_every_tracking_param_is_dropped(name: str) -> None:
    assert canonical_url(f"https://example.com/a?keep=1&{name}=x") == "https://example.com/a?keep=1"
