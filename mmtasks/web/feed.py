"""`/ws`: a snapshot of the fleet, then every event after it by stream id, then live events,
throttled price ticks and fresh status.

Messages are JSON `{"type": ..., "data": ...}`; those taken from the events stream also carry
`"id"` (the stream id), so a client that reconnects with `?after=<last id seen>` gets every
event it missed, once and in order. On connect: `status` (the fleet view, with `stream_id`,
the newest event it reflects), then `history` (the events up to it; only without `after`), then
the events after `after` or `stream_id`. Event types map to `orders`, `trade_event`,
`position`, `risk` and `status` (see events_reader.MESSAGE_TYPES); `kline` carries price ticks
(and the newest candle of the symbol the client subscribed to with
`{"type": "subscribe", "symbol": "BTCUSDT"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

import redis.asyncio as aioredis
from starlette.websockets import WebSocket, WebSocketDisconnect

from mmtasks.state.keys import EVENTS
from mmtasks.web.broadcast import EventBroadcast, follow, id_tuple, newest_id
from mmtasks.web.events_reader import message_of, recent_events
from mmtasks.web.sources import Sources
from mmtasks.web.ticks import Tick, TickBoard
from mmtasks.web.view_cache import ViewCache

log = logging.getLogger(__name__)

STREAM_ID = re.compile(r"^\d+-\d+$")
LAGGING = 1013  # WebSocket close code "try again later": the client fell behind the stream
STATUS_EVERY_S = 2.0
DIRTY_STATUS_AGE_S = 0.2  # after an event, a status at most this old is sent
RESUME_SCAN = 1  # the oldest kept entry, to tell a client that its `after` was trimmed away


class Feed:
    """One client's connection."""

    def __init__(
        self,
        ws: WebSocket,
        sources: Sources,
        view: ViewCache,
        broadcast: EventBroadcast,
        board: TickBoard,
    ) -> None:
        self.ws = ws
        self.sources = sources
        self.r: aioredis.Redis = sources.aredis
        self.view = view
        self.broadcast = broadcast
        self.board = board
        self.symbols: list[str] = []
        self.subscribed: str | None = None
        self.dirty = False
        self._send_lock = asyncio.Lock()
        self._ticks: dict[str, Tick] = {}  # what this client was sent last, by symbol

    async def send(self, kind: str, data: Any, entry_id: str | None = None) -> None:
        message = {"type": kind, "data": data} | ({"id": entry_id} if entry_id else {})
        async with self._send_lock:
            await self.ws.send_text(json.dumps(message, separators=(",", ":"), default=str))

    async def send_status(self, max_age_s: float | None = None) -> dict[str, Any]:
        view = await self.view.get(max_age_s)
        self.symbols = [e["symbol"] for e in view["symbols"]]
        await self.send("status", view)
        return view

    async def run(self, after: str | None) -> None:
        snapshot_id = await newest_id(self.r)
        view = await self.view.get()
        self.symbols = [e["symbol"] for e in view["symbols"]]
        await self.send("status", view | {"stream_id": snapshot_id})
        if after is None:
            history = await asyncio.to_thread(recent_events, self.sources.redis, upto=snapshot_id)
            await self.send("history", {"events": history, "upto": snapshot_id})
        else:
            await self._check_resume(after)
        tasks = [
            asyncio.create_task(self._events(after or snapshot_id)),
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._receive()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
                    log.warning("feed closed: %s: %s", type(exc).__name__, exc)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def _check_resume(self, after: str) -> None:
        """Say so when events after `after` were already trimmed from the capped stream."""
        oldest = await self.r.xrange(EVENTS, count=RESUME_SCAN)
        if oldest and id_tuple(str(oldest[0][0])) > id_tuple(after) and after != "0-0":
            await self.send("history", {"gap": True, "after": after, "oldest": str(oldest[0][0])})

    async def _events(self, cursor: str) -> None:
        """Send every event after cursor (broadcast.follow); a client that fell too far
        behind is closed, and resumes from its last id (feed.js)."""
        if not await follow(self.r, self.broadcast, cursor, self._send_entry):
            async with self._send_lock:
                await self.ws.close(code=LAGGING, reason="too far behind; reconnect with after")

    async def _send_entry(self, entry_id: str, fields: dict[str, Any]) -> None:
        message = message_of(entry_id, fields)
        await self.send(message["type"], message["data"], entry_id)
        self.dirty = True

    async def _ticker(self) -> None:
        every_s = self.sources.web.tick_every_s
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(every_s)
            await self._send_ticks()
            now = time.monotonic()
            if self.dirty or now - last_status >= STATUS_EVERY_S:
                max_age = DIRTY_STATUS_AGE_S if self.dirty else None
                self.dirty = False
                await self.send_status(max_age)
                last_status = now

    async def _send_ticks(self) -> None:
        """Send the ticks that changed since this client's last (read once for every client:
        web/ticks.py)."""
        if not self.symbols:
            return
        for symbol, tick in (await self.board.ticks(list(self.symbols))).items():
            price, ts = tick
            if price is None or self._ticks.get(symbol) == tick:
                continue
            self._ticks[symbol] = tick
            data: dict[str, Any] = {"symbol": symbol, "price": price, "ts_event_ms": int(ts or 0)}
            if symbol == self.subscribed:
                candle = await self.board.newest_candle(symbol, tick)
                if candle is not None:
                    data["candle"] = candle
            await self.send("kline", data)

    async def _receive(self) -> None:
        while True:
            text = await self.ws.receive_text()
            try:
                message = json.loads(text)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "subscribe":
                symbol = message.get("symbol")
                self.subscribed = symbol if isinstance(symbol, str) else None
                self._ticks.pop(self.subscribed or "", None)


async def feed_endpoint(ws: WebSocket) -> None:
    """Serve one WebSocket client until it leaves."""
    state = ws.app.state
    after = ws.query_params.get("after")
    await ws.accept()  # then close with a reason the client can read, not a bare 403
    if after is not None and not STREAM_ID.match(after):
        await ws.close(code=1008, reason="after must be a stream id like 1700000000000-0")
        return
    feed = Feed(ws, state.sources, state.view, state.broadcast, state.ticks)
    with contextlib.suppress(WebSocketDisconnect):
        await feed.run(after)
