"""The symbols' newest prices and candles, read once for every dashboard feed of the process.

Each `/ws` client sends its symbols' price ticks every `WEB_TICK_EVERY_S` (0.5 s). Read by
each client, that was one pipeline of HMGETs per client per tick: with 150 clients and 50
symbols, most of the web process's CPU. The board reads, in one pipeline, the tick of every
symbol a feed asked for in the last `FORGET_S`, and every feed takes its values from that read
while it is at most `max_age_s` old (half the tick period: a client's tick is then at most that
much older than it was); a symbol asked for the first time is read at once. The newest candle
of a symbol is read once per tick of it and at most `max_age_s` ago (a candle also changes
while the tick does not: the kline stream closes it), by whichever feed asks first; the feeds
asking meanwhile wait for that read.

A read runs as its own task, shielded from the feed that started it: a client that leaves in
the middle (its feed is cancelled) does not cancel the read the others wait on. A read that
fails (Redis down) fails for every feed waiting on it, as each feed's own read did, and the
next ask reads again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis.asyncio as aioredis

from mmtasks.state.keys import keys_for

Tick = tuple[str | None, str | None]  # (price, ts_event_ms) as stored; None: no tick yet
FORGET_S = 30.0  # a symbol no feed asked for in this long is no longer read

T = TypeVar("T")


def _task(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Return work started as a task whose failure is retrieved even when every feed waiting on
    it has left (asyncio would log "exception was never retrieved")."""
    task = asyncio.create_task(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task


class TickBoard:
    """Ticks and newest candles shared by the feeds of one web process."""

    def __init__(self, r: aioredis.Redis, max_age_s: float) -> None:
        self.r = r
        self.max_age_s = max_age_s
        self._ticks: dict[str, Tick] = {}
        self._asked: dict[str, float] = {}  # symbol -> when a feed last asked for it
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        # symbol -> (the tick it was read at, when, the read): a read under way is shared too
        self._candles: dict[str, tuple[Tick, float, asyncio.Task[dict[str, Any] | None]]] = {}

    async def ticks(self, symbols: list[str]) -> dict[str, Tick]:
        """Return each symbol's newest (price, ts_event_ms), read at most max_age_s ago."""
        now = time.monotonic()
        for symbol in symbols:
            self._asked[symbol] = now
        for _ in range(2):  # a read already under way may not hold a symbol asked after it began
            fresh = now - self._read_at <= self.max_age_s
            if fresh and all(symbol in self._ticks for symbol in symbols):
                break
            await self._refresh()
        return {symbol: self._ticks.get(symbol, (None, None)) for symbol in symbols}

    async def newest_candle(self, symbol: str, tick: Tick) -> dict[str, Any] | None:
        """Return the newest stored candle of symbol, read at this tick of it and at most
        max_age_s ago (or by the read under way)."""
        cached, now = self._candles.get(symbol), time.monotonic()
        stale = cached is not None and cached[2].done() and now - cached[1] > self.max_age_s
        if cached is None or cached[0] != tick or stale:  # a read still under way is joined
            read = _task(self._read_candle(symbol))
            cached = self._candles[symbol] = (tick, now, read)
            read.add_done_callback(lambda t: self._forget_failed(symbol, t))
        return await asyncio.shield(cached[2])

    async def _read_candle(self, symbol: str) -> dict[str, Any] | None:
        raw = await self.r.hgetall(keys_for(symbol).candles)
        return dict(json.loads(raw[max(raw, key=int)])) if raw else None

    def _forget_failed(self, symbol: str, read: asyncio.Task[Any]) -> None:
        """Let the next ask read again after a failed candle read."""
        cached = self._candles.get(symbol)
        if cached is not None and cached[2] is read and (read.cancelled() or read.exception()):
            del self._candles[symbol]

    async def _refresh(self) -> None:
        """Wait for the read under way, or start one: one read serves every feed waiting."""
        if self._reading is None or self._reading.done():
            self._reading = _task(self._read())
        await asyncio.shield(self._reading)

    async def _read(self) -> None:
        started = time.monotonic()
        for symbol in [s for s, at in self._asked.items() if started - at > FORGET_S]:
            del self._asked[symbol]
            self._ticks.pop(symbol, None)
            self._candles.pop(symbol, None)
        symbols = list(self._asked)
        pipe = self.r.pipeline(transaction=False)
        for symbol in symbols:
            pipe.hmget(keys_for(symbol).tick, ["price", "ts_event_ms"])
        replies = await pipe.execute()
        for symbol, (price, ts) in zip(symbols, replies, strict=True):
            self._ticks[symbol] = (price, ts)
        self._read_at = started
