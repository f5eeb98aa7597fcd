"""The gateway websocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, dispatches.

Sharding as Discord does it: a session that identified with ``shard: [id, count]`` gets the
guilds with ``(guild_id >> 22) % count == id`` only (READY, GUILD_CREATE, and every dispatch
about one guild, e.g. INTERACTION_CREATE); an unsharded session gets every guild.

Frames are plain JSON text frames. discord.py asks for ``compress=zlib-stream`` in the query string
but only decompresses binary frames, so text frames are accepted as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from .payloads import guild_create_payload, member_payload, ready_payload
from .world import World

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

_REPLAY_LIMIT = 1000
_CLOSE_REPLY_S = 2.0  # how long a close waits for the client's close frame
_GOING_AWAY = b"Discord double shutting down."


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def shard_id(guild_id: int, shard_count: int) -> int:
    """The shard that serves ``guild_id`` (Discord's formula)."""
    return (guild_id >> 22) % shard_count


class GatewaySession:
    """One identified session; it outlives a connection so that RESUME can replay missed events."""

    def __init__(self, session_id: str, shard: list[int] | None) -> None:
        self.id = session_id
        self.shard = shard
        self.seq = 0
        self.ws: web.WebSocketResponse | None = None
        self.sent: deque[tuple[int, str]] = deque(maxlen=_REPLAY_LIMIT)
        self.ready = False
        self._lock = asyncio.Lock()

    def serves(self, guild_id: int) -> bool:
        """Whether this session's shard serves ``guild_id`` (an unsharded one serves all)."""
        if not self.shard:
            return True
        shard, count = self.shard
        return shard_id(guild_id, count) == shard

    async def dispatch(self, event: str, data: Any) -> None:
        async with self._lock:
            self.seq += 1
            frame = _dumps({"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data})
            self.sent.append((self.seq, frame))
            ws = self.ws
            if ws is not None and not ws.closed:
                try:
                    await ws.send_str(frame)
                except ConnectionError:
                    log.debug("session %s lost its connection; %s kept for RESUME", self.id, event)

    async def attach(self, ws: web.WebSocketResponse, *, replay_after: int) -> None:
        """Bind a resumed connection and replay what it missed, before any newer dispatch."""
        async with self._lock:
            self.ws = ws
            for frame_seq, frame in list(self.sent):
                if frame_seq > replay_after:
                    await ws.send_str(frame)


class Gateway:
    """Serves ``/gateway``; owned by :class:`DiscordDouble`."""

    def __init__(
        self,
        world: World,
        *,
        token: str | None,
        heartbeat_interval_ms: int,
        gateway_url: Callable[[], str],
        on_event: Callable[[], None],
    ) -> None:
        self.world = world
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._gateway_url = gateway_url
        self._on_event = on_event
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[web.WebSocketResponse] = set()
        self.received: list[dict[str, Any]] = []  # client->server payloads, token redacted
        self.connect_queries: list[dict[str, str]] = []  # e.g. {"v": "10", "encoding": "json"}
        self.close_codes: list[int | None] = []
        self.ready_count = 0
        self.heartbeats = 0
        self.closing = False  # shutting down: every socket, even one opened now, is closed

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.ready]

    def connected_ready_sessions(self) -> list[GatewaySession]:
        return [s for s in self.live_sessions() if s.ws is not None and not s.ws.closed]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # timeout: how long a close waits for the client's close reply before dropping the TCP
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=_CLOSE_REPLY_S)
        await ws.prepare(request)
        self.connections.add(ws)
        self.connect_queries.append(dict(request.query))
        session: GatewaySession | None = None
        try:
            if self.closing:  # a client that reconnected while the double shuts down
                await ws.close(code=1001, message=_GOING_AWAY)
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["discord-double"]}
            await ws.send_str(_dumps({"op": OP_HELLO, "d": hello, "s": None, "t": None}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                payload = json.loads(msg.data)
                self._record(payload)
                session = await self._on_payload(ws, payload, session)
        finally:
            self.connections.discard(ws)
            self.close_codes.append(ws.close_code)
            if session is not None and session.ws is ws:
                session.ws = None
                if ws.close_code in (1000, 1001):  # a clean close ends the session
                    self.sessions.pop(session.id, None)
            self._on_event()
        return ws

    def _record(self, payload: dict[str, Any]) -> None:
        data = payload.get("d")
        if isinstance(data, dict) and "token" in data:
            payload = {**payload, "d": {**data, "token": "<redacted>"}}
        self.received.append(payload)
        self._on_event()

    async def _on_payload(
        self, ws: web.WebSocketResponse, payload: dict[str, Any], session: GatewaySession | None
    ) -> GatewaySession | None:
        op, data = payload.get("op"), payload.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            await ws.send_str(_dumps({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
        elif op == OP_IDENTIFY:
            if session is not None:
                await ws.close(code=4005, message=b"Already authenticated.")
            elif not self._token_ok(data.get("token")):
                await ws.close(code=4004, message=b"Authentication failed.")
            else:
                return await self._identify(ws, data)
        elif op == OP_RESUME:
            return await self._resume(ws, data)
        elif op == OP_REQUEST_GUILD_MEMBERS:
            await self._send_member_chunk(session, data)
        elif op not in (3, 4):  # presence and voice state updates are accepted and ignored
            await ws.close(code=4001, message=b"Unknown opcode.")
        return session

    def _token_ok(self, token: str | None) -> bool:
        return self.token is None or token == self.token

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession:
        session = GatewaySession(secrets.token_hex(16), data.get("shard"))
        session.ws = ws
        self.sessions[session.id] = session
        guilds = [g for g in self.world.guilds if session.serves(g.id)]
        ready = ready_payload(
            self.world,
            session_id=session.id,
            resume_gateway_url=self._gateway_url(),
            shard=session.shard,
            guilds=guilds,
        )
        await session.dispatch("READY", ready)
        for guild in guilds:
            await session.dispatch("GUILD_CREATE", guild_create_payload(guild))
        session.ready = True
        self.ready_count += 1
        self._on_event()
        return session

    async def _resume(
        self, ws: web.WebSocketResponse, data: dict[str, Any]
    ) -> GatewaySession | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or not self._token_ok(data.get("token")):
            await ws.send_str(_dumps({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None}))
            return None
        await session.attach(ws, replay_after=int(data.get("seq") or 0))
        await session.dispatch("RESUMED", {"_trace": ["discord-double"]})
        self._on_event()
        return session

    async def _send_member_chunk(
        self, session: GatewaySession | None, data: dict[str, Any]
    ) -> None:
        if session is None:
            return
        guild = self.world.find_guild(int(data["guild_id"]))
        members = [member_payload(m) for m in guild.members] if guild else []
        chunk = {
            "guild_id": data["guild_id"],
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "presences": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def send_op(self, op: int, data: Any) -> int:
        """Send a non-dispatch op (7 RECONNECT, 9 INVALID_SESSION) to every connected session."""
        sessions = self.connected_ready_sessions()
        frame = _dumps({"op": op, "d": data, "s": None, "t": None})
        for session in sessions:
            assert session.ws is not None
            await session.ws.send_str(frame)
            if op == OP_INVALID_SESSION and not data:
                self.sessions.pop(session.id, None)
        return len(sessions)

    async def close_sessions(self, code: int, message: bytes = b"") -> int:
        """Close every connected, identified session's socket with ``code`` (e.g. 4004
        Authentication failed, as when the bot's token is revoked while it runs)."""
        sessions = self.connected_ready_sessions()
        for session in sessions:
            assert session.ws is not None
            self.sessions.pop(session.id, None)
            await session.ws.close(code=code, message=message)
        return len(sessions)

    async def close(self) -> None:
        """Close every live socket with a close frame (1001 going away), all at once, so that
        each client notices at once (rather than at its next missed heartbeat ack, a minute
        later); a socket whose client does not answer the close within ``_CLOSE_REPLY_S`` has
        its TCP connection dropped, which the client notices as well. Sockets opened while
        closing (a client reconnecting at once) are closed the same way."""
        self.closing = True
        while self.connections:
            await asyncio.gather(
                *(ws.close(code=1001, message=_GOING_AWAY) for ws in list(self.connections)),
                return_exceptions=True,
            )
            # a socket whose handler did not end yet leaves the set when it does
            for ws in list(self.connections):
                if ws.closed:
                    self.connections.discard(ws)
