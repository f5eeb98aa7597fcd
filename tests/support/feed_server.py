"""A local feed server for tests and benchmarks: real HTTP on 127.0.0.1, port 0.

    async with FeedServer() as server:
        server.route("/a.xml", body=RSS, etag='"v1"')
        url = server.url("/a.xml")

Each route serves a body with real headers and validators (ETag, Last-Modified; a matching
``If-None-Match`` / ``If-Modified-Since`` gets 304), optional gzip/deflate, a status (404, 410, 429
with Retry-After, 500...), a redirect, a trickle (bytes with pauses) or an endless body. Every
request is recorded with its headers.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    encoding: str | None = None  # "gzip" | "deflate": compress the body
    location: str | None = None  # with a 3xx status
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float | None = None  # seconds between 1-byte chunks
    endless: bool = False  # stream zeros forever
    raw_body: bytes | None = None  # sent as is (already compressed), with ``encoding``
    delay: float = 0.0  # seconds before answering


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.record = True
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.active: dict[str, int] = {}  # requests being answered, by Host header
        self.max_active: dict[str, int] = {}
        self.max_total = 0

    def route(self, path: str, **kw) -> Route:
        route = self.routes[path] = Route(**kw)
        return route

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def __aenter__(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host", "").split(":")[0]
        self.active[host] = self.active.get(host, 0) + 1
        self.max_active[host] = max(self.max_active.get(host, 0), self.active[host])
        self.max_total = max(self.max_total, sum(self.active.values()))
        try:
            return await self._answer(request)
        finally:
            self.active[host] -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.record:
            self.requests.append(Seen(path, dict(request.headers)))
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="no such feed")
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.location:
            headers["Location"] = route.location
        if route.retry_after:
            headers["Retry-After"] = route.retry_after
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.status != 200:
            return web.Response(status=route.status, headers=headers, text="status")
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (route.etag and inm == route.etag) or (
            not route.etag and route.last_modified and ims == route.last_modified
        ):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = route.content_type
        if route.endless or route.trickle is not None:
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            try:
                if route.endless:
                    chunk = b"<" * 65536
                    while True:
                        await response.write(chunk)
                else:
                    for byte in route.body:
                        await response.write(bytes([byte]))
                        await asyncio.sleep(route.trickle or 0)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        body = route.body
        if route.raw_body is not None:
            body = route.raw_body
            headers["Content-Encoding"] = route.encoding or "gzip"
        elif route.encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif route.encoding == "deflate":
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        return web.Response(body=body, headers=headers)


class StaticResolver(AbstractResolver):
    """A fake DNS: names -> fixed addresses (unknown names fail to resolve)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        addresses = self.table.get(host)
        if not addresses:
            raise OSError(f"cannot resolve {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None
