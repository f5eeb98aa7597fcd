"""The health and metrics HTTP server (aiohttp.web): ``/livez``, ``/readyz``, ``/metrics``.

Started and closed by the composition root when ``[http] listen`` is set. ``/livez`` answers
200 as long as the event loop runs; ``/readyz`` 200 with the JSON body of checks, or 503 naming
the failed ones; ``/metrics`` the Prometheus text format.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.ops.health import Health
from bot.ops.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)


class OpsServer:
    def __init__(self, host: str, port: int, *, health: Health, metrics: Metrics) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/livez", self.livez)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    async def livez(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        readiness = await self.health.readiness()
        if not readiness.ok:
            log.debug("not ready: %s", ", ".join(readiness.failed))
        return web.json_response(readiness.to_dict(), status=200 if readiness.ok else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        body = await self.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            where = f"{self.host}:{self.port}"
            raise OSError(f"[http] listen: cannot listen on {where}: {exc}") from exc
        self.port = self._runner.addresses[0][1]
        log.info(
            "health and metrics on http://%s:%d (/livez, /readyz, /metrics)",
            self.url_host,
            self.port,
        )

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        return f"http://{self.url_host}:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
