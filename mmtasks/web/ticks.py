"""The symbols' newest prices and candles, read once for every dashboard feed of the process.

Each `/ws` client sends its symbols' price ticks every `WEB_TICK_EVERY_S` (0.5 s). Read by
each client, that was one pipeline of HMGETs per client per tick: with 150 clients and 50
symbols, most of the web process's CPU. The board reads the ticks of every symbol a feed asked
for in one pipeline, at most once per `max_age_s` (half the tick period: a client's tick is then
at most that much older than it was), and every feed takes its values from that one read. The
newest candle of a symbol is read once per new tick, whichever feed asks first.

A read runs as its own task, shielded from the feed that started it: a client that leaves in
the middle (its feed is cancelled) does not cancel the read the others wait on. A read that
fails (Redis down) fails for every feed waiting on it, as each feed's own read did.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio as aioredis

from mmtasks.state.keys import keys_for

Tick = tuple[str | None, str | None]  # (price, ts_event_ms) as stored; None: no tick yet
FORGET_S = 30.0  # a symbol no feed asked for in this long is no longer read


class TickBoard:
    """Ticks and newest candles shared by the feeds of one web process."""

    def __init__(self, r: aioredis.Redis, max_age_s: float) -> None:
        self.r = r
        self.max_age_s = max_age_s
        self.reads = 0  # tick reads made (one pipeline each), for the benchmark and tests
        self._ticks: dict[str, Tick] = {}
        self._asked: dict[str, float] = {}  # symbol -> when a feed last asked for it
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        self._candles: dict[str, tuple[Tick, dict[str, Any] | None]] = {}

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
        """Return the newest stored candle of symbol, read once per tick of it."""
        cached = self._candles.get(symbol)
        if cached is not None and cached[0] == tick:
            return cached[1]
        raw = await self.r.hgetall(keys_for(symbol).candles)
        candle = dict(json.loads(raw[max(raw, key=int)])) if raw else None
        self._candles[symbol] = (tick, candle)
        return candle

    async def _refresh(self) -> None:
        """Wait for the read under way, or start one: one read serves every feed waiting."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read())
            # Retrieved here so that a read whose every waiter left logs no "never retrieved".
            self._reading.add_done_callback(lambda t: t.cancelled() or t.exception())
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
        self.reads += 1
        for symbol, (price, ts) in zip(symbols, replies, strict=True):
            self._ticks[symbol] = (price, ts)
        self._read_at = started
