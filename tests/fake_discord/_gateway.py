"""The gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME with replay, drops, shards.

How discord.py picks the URL (``gateway.py`` / ``client.py`` / ``shard.py`` in 2.7.1): a
plain ``Client`` never asks ``GET /gateway/bot``; its first connection (and every
re-IDENTIFY after INVALID_SESSION) goes to ``DiscordWebSocket.DEFAULT_GATEWAY``. An
``AutoShardedClient`` without a shard count asks ``GET /gateway/bot`` for the count and URL.
READY's ``resume_gateway_url`` replaces it for every RESUME, so the fake hands
out its own ``/resume`` URL there and a test can see which URL each
connection used.  Frames are text JSON, or zlib-stream binary when the
client asks ``compress=zlib-stream`` (discord.py does unless zstd is present).

Sharding as Discord does it: an IDENTIFY with ``shard: [id, count]`` opens that shard's
session; READY lists, and the gateway sends, only the events of the guilds whose
``(guild_id >> 22) % count`` is the shard's id (events of no guild go to shard 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ._models import JSON
from ._state import FakeState

OnSent = Callable[[], None] | None
GUILD_MESSAGES_INTENT = 1 << 9


@dataclass
class Handshake:
    """One IDENTIFY or RESUME the bot sent, and how the fake answered it."""

    op: str
    at: float
    session_id: str | None
    path: str
    payload: JSON
    accepted: bool = True
    replayed: int = 0


@dataclass(eq=False)
class _Conn:
    """One websocket connection with an ordered outbound queue."""

    ws: web.WebSocketResponse
    request: web.Request
    compress: bool
    queue: asyncio.Queue[tuple[JSON, OnSent] | None] = field(default_factory=asyncio.Queue)
    zlib_ctx: Any = field(default_factory=zlib.compressobj)

    def send(self, payload: JSON, on_sent: OnSent = None) -> None:
        """Queues a frame; the writer task sends frames in order."""
        self.queue.put_nowait((payload, on_sent))

    async def writer(self) -> None:
        """Sends queued frames until the queue yields None or the socket dies."""
        while (item := await self.queue.get()) is not None:
            payload, on_sent = item
            text = json.dumps(payload)
            try:
                if self.compress:
                    data = self.zlib_ctx.compress(text.encode()) + self.zlib_ctx.flush(
                        zlib.Z_SYNC_FLUSH
                    )
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            if on_sent is not None:
                on_sent()

    async def drop(self, code: int) -> None:
        """Closes with ``code``; 1006 means: cut TCP with no close frame at all."""
        self.queue.put_nowait(None)
        if code == 1006:
            transport = self.request.transport
            if transport is not None:
                transport.abort()
            return
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(self.ws.close(code=code), 2.0)


@dataclass(eq=False)
class _Session:
    id: str
    shard: tuple[int, int] | None = None
    """``(id, count)`` when the bot identified as a shard."""
    seq: int = 0
    events: list[tuple[int, str, JSON, OnSent]] = field(default_factory=list)
    conn: _Conn | None = None
    ready_sent: bool = False


class Gateway:
    """Serves the websocket and keeps one resumable session per IDENTIFY."""

    def __init__(self, state: FakeState, ws_base: Callable[[], str]) -> None:
        self.state = state
        self.ws_base = ws_base
        self.sessions: dict[str, _Session] = {}
        self.current: _Session | None = None
        """The session identified or resumed last (every shard's, when the bot has one)."""
        self.shards: dict[int, _Session] = {}
        self.connections: list[str] = []
        self.handshakes: list[Handshake] = []
        self.heartbeats = 0
        self.last_drop_at = 0.0
        #: Intents of the last accepted IDENTIFY (None before any).
        self.intents: int | None = None
        self._conns: set[_Conn] = set()
        state.dispatch = self.dispatch
        state.is_ready = lambda: self.current is not None

    # --- test-side operations -----------------------------------------------

    def dispatch(self, event: str, data: JSON, on_sent: OnSent = None) -> None:
        """Sends an event on the session of its guild's shard, or keeps it for the RESUME
        replay."""
        session = self._session_for(event, data)
        if session is None:
            return
        if event.startswith("MESSAGE_") and not (self.intents or 0) & GUILD_MESSAGES_INTENT:
            return  # Discord only sends guild message events with the GUILD_MESSAGES intent.
        self._send(session, event, data, on_sent)

    def shard_of(self, guild_id: int) -> int:
        """The shard Discord gives a guild's events, for the bot's current shard count."""
        count = self._shard_count()
        return (guild_id >> 22) % count if count else 0

    def _shard_count(self) -> int:
        return next((s.shard[1] for s in self.shards.values() if s.shard is not None), 0)

    def _session_for(self, event: str, data: JSON) -> _Session | None:
        if not self.shards:
            return self.current
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        if guild_id is None and event.startswith("GUILD_") and isinstance(data, dict):
            guild_id = data.get("id")
        return self.shards.get(self.shard_of(int(guild_id)) if guild_id is not None else 0)

    def _send(self, session: _Session, event: str, data: JSON, on_sent: OnSent) -> None:
        session.seq += 1
        session.events.append((session.seq, event, data, on_sent))
        if session.conn is not None:
            session.conn.send({"op": 0, "t": event, "s": session.seq, "d": data}, on_sent)

    async def drop(self, code: int, *, invalidate: bool) -> None:
        """Closes the live connection; with ``invalidate`` the session cannot resume."""
        self.last_drop_at = time.monotonic()
        session = self.current
        if session is None or session.conn is None:
            return
        conn, session.conn = session.conn, None
        if invalidate:
            self.sessions.pop(session.id, None)
        await conn.drop(code)

    def send_op(self, op: int, data: Any) -> None:
        """Sends a non-dispatch opcode (7 RECONNECT, 9 INVALID_SESSION...) right now."""
        if self.current is not None and self.current.conn is not None:
            self.current.conn.send({"op": op, "d": data, "s": None, "t": None})

    def ready(self) -> bool:
        """Whether READY and every GUILD_CREATE went out on the current session (on every
        shard's, when the bot has shards)."""
        if self.shards:
            sessions = self.shards.values()
            return len(self.shards) == self._shard_count() and all(s.ready_sent for s in sessions)
        return self.current is not None and self.current.ready_sent

    async def close_all(self) -> None:
        """Closes every socket (server shutdown)."""
        for conn in list(self._conns):
            await conn.drop(1001)

    # --- the websocket handler ----------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for the gateway URL(s)."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=404, text="gateway: websocket expected")
        await ws.prepare(request)
        compress = (
            request.query.get("compress") == "zlib-stream" and self.state.config.gateway_compression
        )
        conn = _Conn(ws, request, compress)
        self._conns.add(conn)
        self.connections.append(request.path_qs)
        self.state.signal.pulse()
        writer = asyncio.create_task(conn.writer())
        conn.send({"op": 10, "d": {"heartbeat_interval": self.state.config.heartbeat_interval_ms}})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_frame(conn, request.path, json.loads(msg.data))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            for session in self.sessions.values():
                if session.conn is conn:
                    session.conn = None
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 1.0)
        return ws

    async def _on_frame(self, conn: _Conn, path: str, frame: JSON) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            self.heartbeats += 1
            conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, path, data or {})
        elif op == 6:
            self._resume(conn, path, data or {})

    async def _identify(self, conn: _Conn, path: str, data: JSON) -> None:
        shake = Handshake("IDENTIFY", time.monotonic(), None, path, data)
        self.handshakes.append(shake)
        if data.get("token") != self.state.config.bot_token:
            shake.accepted = False
            self.state.signal.pulse()
            await conn.drop(4004)
            return
        self.intents = int(data.get("intents") or 0)
        shard = _shard(data.get("shard"))
        if shard is not None and shard[1] != self._shard_count():
            self.shards.clear()  # a new shard count: the bot starts every shard again
        old = self.current if shard is None else self.shards.get(shard[0])
        if old is not None and old.conn is not None and old.conn is not conn:
            await old.conn.drop(4000)
        session = _Session(secrets.token_hex(16), shard, conn=conn)
        shake.session_id = session.id
        self.sessions[session.id] = session
        self.current = session
        if shard is not None:
            self.shards[shard[0]] = session
        state = self.state
        guilds = [g for g in state.guilds if shard is None or (g.id >> 22) % shard[1] == shard[0]]
        ready: JSON = {
            "v": 10,
            "user": {**state.bot_user.to_json(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": f"{self.ws_base()}resume",
            "application": {"id": str(state.application_id), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "user_settings": {},
            "auth": {},
        }
        if "shard" in data:
            ready["shard"] = data["shard"]

        def mark_ready() -> None:
            session.ready_sent = True
            state.signal.pulse()

        self._send(session, "READY", ready, None if guilds else mark_ready)
        for index, guild in enumerate(guilds):
            last = index == len(guilds) - 1
            self._send(session, "GUILD_CREATE", guild.to_json(), mark_ready if last else None)
        state.signal.pulse()

    def _resume(self, conn: _Conn, path: str, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        shake = Handshake("RESUME", time.monotonic(), data.get("session_id"), path, data)
        self.handshakes.append(shake)
        if session is None or data.get("token") != self.state.config.bot_token:
            shake.accepted = False
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            self.state.signal.pulse()
            return
        session.conn = conn
        self.current = session
        if session.shard is not None:
            self.shards[session.shard[0]] = session
        since = int(data.get("seq") or 0)
        for seq, event, payload, on_sent in session.events:
            if seq > since:
                conn.send({"op": 0, "t": event, "s": seq, "d": payload}, on_sent)
                shake.replayed += 1
        session.seq += 1
        conn.send({"op": 0, "t": "RESUMED", "s": session.seq, "d": {}})
        self.state.signal.pulse()


def _shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard: [id, count]``, or None when the bot is not sharded."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None
