"""DiscordDouble: a local Discord API (REST + gateway) for driving the real discord.py client.

The REST pipeline for every request under ``/api/v10``: read the body, apply an injected fault if
one matches, apply the global rate limit, check the bot token, route to a handler, record the
request, write the reply (``Content-Type: application/json`` exactly), then wake the waiters.
Handlers are synchronous and never sleep, so the double adds no latency of its own.
"""

# Every wait in this test API is bounded by an explicit ``timeout`` argument, by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .gateway import OP_INVALID_SESSION, OP_RECONNECT, Gateway, GatewaySession
from .inject import InteractionInjector
from .interactions import InteractionApi, InteractionHandle
from .limits import GlobalLimiter
from .payloads import SnowflakeFactory, error_body, rate_limit_body
from .records import ApiRequest, DoubleStats, Fault, RecordedRequest, Reply
from .rest import RestApi
from .waiters import Waiters
from .world import Member, World, default_world

log = logging.getLogger(__name__)

__all__ = ["ApiRequest", "DiscordDouble", "DoubleStats", "Fault", "RecordedRequest", "Reply"]

_RECORDED_HEADERS = ("Authorization", "Content-Type", "User-Agent", "X-Audit-Log-Reason")
# Interaction callbacks and interaction webhooks are not bound to the global limit nor bot auth.
_INTERACTION_PATH = re.compile(r"^/(interactions|webhooks)/")


Handler = Callable[[ApiRequest], Reply]


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


class DiscordDouble:
    """A local Discord API double on 127.0.0.1 (ephemeral port).

    ``async with DiscordDouble() as double:`` starts it; point discord.py at ``double.api_base``
    and ``double.gateway_url`` (see :func:`point_discord_at`).
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        token: str | None = None,
        global_limit_per_s: float | None = None,
        channel_message_limit: tuple[int, float] | None = None,
        enforce_permissions: bool = True,
        interaction_deadline_s: float | None = None,
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        """
        token: if set, REST calls and IDENTIFY must use it (401 / close 4004 otherwise).
        global_limit_per_s: e.g. 50; excess requests get a global 429 (interaction routes exempt).
        channel_message_limit: (limit, per_seconds), e.g. (5, 5.0) for POST /channels/{id}/messages;
            every reply on that route then carries X-RateLimit-* headers.
        enforce_permissions: channel posts check the bot's permissions (403 50001/50013).
        interaction_deadline_s: callbacks later than this after injection get 404 10062
            (Discord allows 3 s).
        """
        self.world = world or default_world()
        self.token = token
        self.enforce_permissions = enforce_permissions
        self.interaction_deadline_s = interaction_deadline_s
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self.stats = DoubleStats()
        self.messages: dict[int, dict[str, Any]] = {}  # every message by id, latest version
        self.snowflake = SnowflakeFactory()
        self._faults: list[Fault] = []
        self._global = GlobalLimiter(global_limit_per_s) if global_limit_per_s else None
        self._waiters = Waiters()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.gateway = Gateway(
            self.world,
            token=token,
            heartbeat_interval_ms=heartbeat_interval_ms,
            gateway_url=lambda: self.gateway_url,
            on_event=self._waiters.notify,
        )
        self.rest = RestApi(self, channel_message_limit)
        self.interactions = InteractionApi(self)
        self.injector = InteractionInjector(self)
        self._routes: dict[str, list[tuple[re.Pattern[str], Handler]]] = {}
        for method, template, handler in [*self.rest.routes(), *self.interactions.routes()]:
            self._routes.setdefault(method, []).append((_compile(template), handler))

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> DiscordDouble:
        self.gateway.closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("*", r"/api/v{version:\d+}/{tail:.*}", self._handle_api)
        app.router.add_route("*", "/{tail:.*}", self._handle_api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        # A deep backlog: a digest fan-out opens hundreds of connections at once.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop listening first (a client told to go away reconnects at once; it must find the
        port closed, not a socket that the shutdown then drops without a close frame), then
        close every live gateway socket with a close frame, then stop the server."""
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
            await self.gateway.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordDouble:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DiscordDouble is not started")
        return self._port

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- gateway -------------------------------------------------------------------------------

    async def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until a connected session got READY and all its GUILD_CREATEs."""
        await self._waiters.wait(
            lambda: True if self.gateway.connected_ready_sessions() else None,
            timeout,
            lambda: "no client completed IDENTIFY (is discord.py pointed at the double?)",
        )

    async def dispatch(
        self, event: str, data: Any, *, guild_id: int | None = None, timeout: float = 5.0
    ) -> int:
        """Send a dispatch (``op 0``) to every connected, identified session (waiting up to
        ``timeout`` for one, e.g. while a client resumes); returns how many got it. With
        ``guild_id``, only to the sessions whose shard serves that guild, as Discord does."""
        if not self._serving(guild_id):
            await self._waiters.wait(
                lambda: True if self._serving(guild_id) else None,
                timeout,
                lambda: f"no connected session serves guild {guild_id}",
            )
        sessions = self._serving(guild_id)
        for session in sessions:
            await session.dispatch(event, data)
        return len(sessions)

    def _serving(self, guild_id: int | None) -> list[GatewaySession]:
        sessions = self.gateway.connected_ready_sessions()
        return [s for s in sessions if guild_id is None or s.serves(guild_id)]

    async def reconnect_clients(self) -> int:
        """Send op 7 RECONNECT; discord.py reconnects to resume_gateway_url and RESUMEs."""
        return await self.gateway.send_op(OP_RECONNECT, None)

    async def invalidate_sessions(self, *, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION; with resumable=False the client must IDENTIFY again."""
        return await self.gateway.send_op(OP_INVALID_SESSION, resumable)

    async def close_gateway(
        self, code: int = 4004, message: bytes = b"Authentication failed."
    ) -> int:
        """Close the clients' gateway sockets with ``code``; 4004 is what Discord sends when the
        token was revoked (discord.py does not reconnect after it)."""
        return await self.gateway.close_sessions(code, message)

    async def wait_for_gateway(
        self, op: int, *, count: int = 1, timeout: float = 5.0
    ) -> list[dict]:
        """Wait until the client sent ``count`` payloads with this op (2 IDENTIFY, 6 RESUME...)."""

        def check() -> list[dict] | None:
            found = [p for p in self.gateway.received if p.get("op") == op]
            return found if len(found) >= count else None

        return await self._waiters.wait(
            check, timeout, lambda: f"client sent fewer than {count} gateway op {op} payloads"
        )

    # -- interactions --------------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | list[dict[str, Any]] | None = None,
        *,
        user: Member | int | str | None = None,
        guild_id: int | None = None,
        channel_id: int | str | None = None,
        permissions: int | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Inject ``/name [subcommand] options`` (INTERACTION_CREATE type 2).

        ``options`` maps option names to values: option types come from the synced command
        (else from the Python value); Member/Channel/Role values, or member/channel/role names
        for options typed so by the synced schema, are sent with ``resolved`` data. A list is
        sent as raw option dicts. ``subcommand`` is "sub" or "group sub". ``user`` is a world
        Member, user id or username (default: the first non-bot member); ``channel_id`` a channel
        id or name (default: the guild's first channel). ``permissions`` overrides the member's
        computed channel permissions (a bitfield).
        """
        return await self.injector.command(
            name, options, user=user, guild_id=guild_id, channel_id=channel_id,
            permissions=permissions, subcommand=subcommand, locale=locale,
        )  # fmt: skip

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        user: Member | int | str | None = None,
        guild_id: int | None = None,
        channel_id: int | str | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Inject an autocomplete request (type 4); ``options[focused]`` is what the user typed."""
        return await self.injector.command(
            name, options, focused=focused, user=user, guild_id=guild_id,
            channel_id=channel_id, subcommand=subcommand, locale=locale,
        )  # fmt: skip

    async def component(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        user: Member | int | str | None = None,
        values: list[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Press a button, or choose select ``values`` (type 3), on the latest message holding
        ``custom_id`` (or on ``message_id``); the message is sent along as Discord does."""
        return await self.injector.component(
            custom_id, message_id=message_id, user=user, values=values,
            permissions=permissions, locale=locale,
        )  # fmt: skip

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands last synced (globally, or for ``guild_id``)."""
        return list(self.rest.commands.get(guild_id, []))

    # -- recording -----------------------------------------------------------------------------

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages posted with POST /channels/{id}/messages (latest versions, oldest first)."""
        return [self.messages[m] for m in self.rest.channel_message_ids.get(int(channel_id), [])]

    def mark(self) -> int:
        """The current request count, for ``wait_for(..., since=mark)``."""
        return len(self.requests)

    async def wait_for(
        self, method: str, path_regex: str, *, count: int = 1, timeout: float = 5.0, since: int = 0
    ) -> list[RecordedRequest]:
        """Wait until at least ``count`` recorded requests (from index ``since``) match.

        ``method`` may be "*"; ``path_regex`` is searched in the path,
        e.g. r"/channels/\\d+/messages".
        Returns all matching requests seen so far.
        """
        pattern = re.compile(path_regex)
        matches: list[RecordedRequest] = []
        position = since

        def check() -> list[RecordedRequest] | None:
            nonlocal position
            while position < len(self.requests):
                req = self.requests[position]
                position += 1
                if method in ("*", req.method) and pattern.search(req.path):
                    matches.append(req)
            return list(matches) if len(matches) >= count else None

        def describe() -> str:
            recent = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:])
            return (
                f"timed out waiting for {count} x {method} {path_regex} (saw {len(matches)});"
                f" last requests:\n  {recent or '(none)'}"
            )

        return await self._waiters.wait(check, timeout, describe)

    async def wait_until(self, check: Callable[[], Any], *, timeout: float = 5.0) -> Any:
        """Wait until ``check()`` returns non-None, re-checked after every request/gateway event."""
        return await self._waiters.wait(check, timeout, lambda: f"timed out waiting for {check}")

    # -- fault injection -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        json_body: Any = None,
        *,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer matching requests with ``status`` (``times`` times; None = until cleared).

        Default bodies: 403 Missing Permissions (50013), 404 Unknown Channel (10003),
        429 ``{"retry_after": 0.05, "global": false}``; pass e.g. ``payloads.MISSING_ACCESS``.
        429 replies always carry ``Via`` (discord.py treats a 429 without it as a Cloudflare ban)
        and ``Retry-After``.
        """
        body = error_body(status) if json_body is None else json_body
        fault = Fault(method, re.compile(path_regex), status, body, times, dict(headers or {}))
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- internals used by the route modules ----------------------------------------------------

    def notify(self) -> None:
        self._waiters.notify()

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        routed = "version" in request.match_info  # outside /api/v{n}/ nothing is routed
        path = "/" + request.match_info["tail"] if routed else request.path
        body, files = await _read_body(request)
        api_request = ApiRequest(request.method, path, {}, request.query, body, files)
        reply = self._respond(api_request, request.headers.get("Authorization"), routed=routed)
        record = RecordedRequest(
            request.method,
            path,
            body,
            {k: request.headers[k] for k in _RECORDED_HEADERS if k in request.headers},
            reply.status,
            dict(request.query),
            reply.body,
        )
        self.requests.append(record)
        if reply.status == 404 and reply.headers and "X-Double-Unhandled" in reply.headers:
            self.unhandled.append(record)
            log.warning("discord double: unhandled route %s %s", request.method, path)
        response = _to_response(reply)
        # Flush the reply before waking waiters, so a test reacting to it cannot overtake it.
        await response.prepare(request)
        await response.write_eof()
        self._waiters.notify()
        return response

    def _respond(self, req: ApiRequest, authorization: str | None, *, routed: bool) -> Reply:
        self.stats.requests += 1
        if not routed:
            return self._unhandled(req)
        for fault in self._faults:
            if fault.take(req.method, req.path):
                self.stats.faults_served += 1
                return self._error_reply(fault.status, fault.body, fault.headers)
        exempt = _INTERACTION_PATH.match(req.path) is not None
        if self._global is not None and not exempt:
            retry_after = self._global.retry_after(asyncio.get_running_loop().time())
            if retry_after is not None:
                self.stats.global_rate_limited += 1
                body = rate_limit_body(retry_after, is_global=True)
                return self._error_reply(429, body, {"X-RateLimit-Global": "true"})
        if self.token is not None and not exempt and authorization != f"Bot {self.token}":
            return Reply(401, error_body(401))
        for pattern, handler in self._routes.get(req.method, ()):
            match = pattern.match(req.path)
            if match is not None:
                reply = handler(req._replace(params=match.groupdict()))
                if reply.status == 429:
                    self.stats.rate_limited += 1
                return reply
        return self._unhandled(req)

    def _unhandled(self, req: ApiRequest) -> Reply:
        self.stats.unhandled += 1
        body = {"message": f"Discord double: no route for {req.method} {req.path}", "code": 10000}
        return Reply(404, body, {"X-Double-Unhandled": "1"})

    def _error_reply(self, status: int, body: Any, headers: Mapping[str, str]) -> Reply:
        headers = dict(headers)
        if status == 429:
            self.stats.rate_limited += 1
            retry_after = float(body.get("retry_after", 0)) if isinstance(body, dict) else 0.0
            is_global = isinstance(body, dict) and bool(body.get("global"))
            headers.setdefault("Via", "1.1 google")
            headers.setdefault("Retry-After", str(max(1, round(retry_after + 0.5))))
            headers.setdefault("X-RateLimit-Scope", "global" if is_global else "user")
            if is_global:
                headers.setdefault("X-RateLimit-Global", "true")
        return Reply(status, body, headers)

    def rate_limited_reply(self, retry_after: float, headers: Mapping[str, str]) -> Reply:
        """A per-bucket 429 (used by route handlers)."""
        return self._error_reply(429, rate_limit_body(retry_after), headers)


async def _read_body(request: web.Request) -> tuple[Any, dict[str, int]]:
    if not request.body_exists:
        return None, {}
    content_type = request.content_type
    if content_type == "multipart/form-data":
        form = await request.post()
        files: dict[str, int] = {}
        payload: Any = None
        for key, value in form.items():
            if key == "payload_json":
                payload = json.loads(value if isinstance(value, str) else value.file.read())
            elif hasattr(value, "file"):
                files[value.filename] = len(value.file.read())
        return payload, files
    raw = await request.read()
    if not raw:
        return None, {}
    if content_type == "application/json":
        return json.loads(raw), {}
    return raw.decode("utf-8", "replace"), {}


def _to_response(reply: Reply) -> web.Response:
    headers = dict(reply.headers or {})
    headers.pop("X-Double-Unhandled", None)
    if reply.status == 204 or reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    headers["Content-Type"] = "application/json"  # exactly; discord.py compares the header verbatim
    body = json.dumps(reply.body, separators=(",", ":")).encode()
    return web.Response(status=reply.status, body=body, headers=headers)
