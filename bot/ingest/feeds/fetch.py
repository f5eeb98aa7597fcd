"""Fetching feeds over HTTP as a good citizen, and safely.

* conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the stored validators): a 304
  returns no body and costs no parsing;
* ``Accept-Encoding: gzip, deflate``, decompressed here with a bound on the output, so that the
  size cap holds while streaming (compressed bytes) AND after decompression (a "zip bomb");
* a User-Agent naming newsbot and its version (and the host's contact url when configured);
* one total timeout for the whole fetch, redirects included (a server trickling bytes ends there);
* at most :data:`MAX_REDIRECTS` redirects, followed here so that every hop's url is checked by the
  address rules (and every connection's resolved address by :class:`GuardedResolver`);
* a global concurrency limit and a per-host one (the per-host slot is taken first, so one slow
  host never holds the global slots others need);
* ``Retry-After`` read on 429 and 503.

The fetcher reports every outcome to ``on_fetched(status, seconds)`` when set: the one place where
metrics hook in (``status`` is the HTTP status as text, or the error kind).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from bot import __version__
from bot.ingest.feeds.addresses import BlockedAddress, GuardedResolver, check_url

__all__ = ["MAX_REDIRECTS", "FeedFetcher", "FetchResult", "user_agent"]

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})

FetchListener = Callable[[str, float], None]


def user_agent(contact_url: str = "") -> str:
    base = f"newsbot/{__version__}"
    return f"{base} (+{contact_url})" if contact_url else base


@dataclass(slots=True)
class FetchResult:
    url: str  # the url asked for
    final_url: str  # after redirects
    status: int | None = None  # the last HTTP status, None when no answer
    body: bytes | None = None  # 200 only
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # a permanent redirect's target: the feed's new url
    retry_after: int | None = None  # seconds, from a 429/503
    error_kind: str | None = None  # None on 200 and 304
    error: str | None = None
    seconds: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _TooLarge(Exception):
    pass


def retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int((when - now).total_seconds()))


class _Decoder:
    """Content-Encoding decoding with a cap on the decoded size."""

    def __init__(self, encoding: str, cap: int) -> None:
        encoding = encoding.strip().lower()
        self.cap = cap
        self.size = 0
        self.parts: list[bytes] = []
        self.raw_deflate = False
        if encoding in ("gzip", "x-gzip"):
            self.z: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.z = zlib.decompressobj()
            self.raw_deflate = True  # some servers send raw deflate: retried on the first error
        elif encoding in ("", "identity"):
            self.z = None
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self.first = True

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise _TooLarge()
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self.z is None:
            self._add(chunk)
            return
        try:
            data = self.z.decompress(chunk, self.cap - self.size + 1)
        except zlib.error:
            if not (self.raw_deflate and self.first):
                raise
            self.z = zlib.decompressobj(-zlib.MAX_WBITS)
            data = self.z.decompress(chunk, self.cap - self.size + 1)
        self.first = False
        self._add(data)
        while self.z.unconsumed_tail:
            self._add(self.z.decompress(self.z.unconsumed_tail, self.cap - self.size + 1))

    def result(self) -> bytes:
        if self.z is not None:
            self._add(self.z.flush())
        return b"".join(self.parts)


class FeedFetcher:
    """An aiohttp session with the safety rules; use as ``async with FeedFetcher(...) as f``."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        max_bytes: int = 10_000_000,
        concurrency: int = 20,
        per_host: int = 2,
        allow_private: bool = False,
        contact_url: str = "",
        resolver: AbstractResolver | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.per_host = per_host
        self.allow_private = allow_private
        self.user_agent = user_agent(contact_url)
        self._resolver = resolver
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._session: aiohttp.ClientSession | None = None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_fetched: FetchListener | None = None

    async def __aenter__(self) -> FeedFetcher:
        base = self._resolver or aiohttp.ThreadedResolver()
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(base, allow_private=self.allow_private),
            limit=0,  # the semaphores here are the limits
            limit_per_host=0,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            trust_env=False,  # no proxy from the environment: it would bypass the address rules
            timeout=aiohttp.ClientTimeout(total=None),
            headers={"User-Agent": self.user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return slot

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch one feed; never raises for network or server problems (see ``error``)."""
        result = FetchResult(url=url, final_url=url)
        started = time.perf_counter()
        try:
            async with self._host_slot(url), self._global:
                started = time.perf_counter()
                async with asyncio.timeout(self.timeout):
                    await self._fetch(result, etag, last_modified)
        except TimeoutError:
            self._fail(result, "timeout", f"no complete answer within {self.timeout:g} s")
        except BlockedAddress as exc:
            self._fail(result, "blocked", str(exc))
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                self._fail(result, "blocked", str(exc.os_error))
            else:
                self._fail(result, "network", f"cannot connect: {exc.os_error or exc}")
        except _TooLarge:
            self._fail(result, "too_large", f"the feed is larger than {self.max_bytes} bytes")
        except zlib.error as exc:
            self._fail(result, "bad_encoding", f"cannot decompress the body: {exc}")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            self._fail(result, "network", f"{type(exc).__name__}: {exc}")
        result.seconds = time.perf_counter() - started
        if self.on_fetched is not None:
            self.on_fetched(
                str(result.status) if result.error_kind is None else result.error_kind,
                result.seconds,
            )
        return result

    @staticmethod
    def _fail(result: FetchResult, kind: str, message: str) -> None:
        result.error_kind = kind
        result.error = message
        result.body = None

    async def _fetch(self, result: FetchResult, etag: str | None, modified: str | None) -> None:
        assert self._session is not None, "use the fetcher as an async context manager"
        url = result.url
        permanent = True
        for hop in range(MAX_REDIRECTS + 1):
            check_url(url, allow_private=self.allow_private)
            headers = {"Accept-Encoding": "gzip, deflate", "Accept": _ACCEPT}
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            async with self._session.get(url, headers=headers, allow_redirects=False) as resp:
                result.status = resp.status
                result.final_url = url
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        self._fail(result, "http", f"HTTP {resp.status} without a Location header")
                        return
                    permanent = permanent and resp.status in _PERMANENT
                    url = urljoin(url, location)
                    if permanent:
                        result.moved_to = url
                    if hop == MAX_REDIRECTS:
                        break
                    continue
                if resp.status == 304:
                    result.etag = resp.headers.get("ETag") or etag
                    result.last_modified = resp.headers.get("Last-Modified") or modified
                    return
                if resp.status != 200:
                    if resp.status in (429, 503):
                        result.retry_after = retry_after_seconds(
                            resp.headers.get("Retry-After"), self.clock()
                        )
                    kind = "gone" if resp.status == 410 else "http"
                    self._fail(result, kind, f"HTTP {resp.status} {resp.reason or ''}".strip())
                    return
                declared = resp.content_length
                if declared is not None and declared > self.max_bytes:
                    raise _TooLarge()
                decoder = _Decoder(resp.headers.get("Content-Encoding", ""), self.max_bytes)
                raw = 0
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    raw += len(chunk)
                    if raw > self.max_bytes:
                        raise _TooLarge()
                    decoder.feed(chunk)
                result.body = decoder.result()
                result.content_type = resp.headers.get("Content-Type")
                result.etag = resp.headers.get("ETag")
                result.last_modified = resp.headers.get("Last-Modified")
                return
        self._fail(result, "redirects", f"more than {MAX_REDIRECTS} redirects")


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
