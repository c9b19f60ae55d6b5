"""Fan-out of engine events to stream subscribers: one queue per stream, never a shared lock.

Engine threads push (under the engine lock, so every queue sees events in seq order); each
stream's coroutine drains its queue in batches. A push only appends to a deque and, when the
consumer sleeps, schedules one wake-up on the event loop: no lock is ever held across I/O.

Price queues are bounded and drop the oldest tick (only the newest price matters). Order and
candle queues never drop: a subscriber that falls MAX_PENDING behind has its stream ended with
RESOURCE_EXHAUSTED, so it reconnects and reconciles instead of silently missing a fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from mmtasks.connector.convert import kline_to_pb, tick_to_pb, update_to_pb
from mmtasks.sim.engine import SimExchange
from mmtasks.sim.models import Kline, OrderUpdate, PriceTick

PRICE_QUEUE = 2_048  # newest ticks kept per price subscriber: bounds a slow reader's lag
MAX_PENDING = 200_000  # order/candle events a subscriber may lag before its stream ends
BATCH = 512  # events taken per wake-up: amortises the wake-up over many writes


class Subscriber:
    """The queue of one stream, filled from any thread, drained by one coroutine."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        symbols: Iterable[str] = (),
        interval: str = "",
        drop_oldest: int | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.symbols = frozenset(symbols)  # empty: every symbol
        self.interval = interval
        self.dropped = 0
        self.end: tuple[grpc.StatusCode, str] | None = None
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._items: deque[Any] = deque(maxlen=drop_oldest)
        self._cap = drop_oldest
        self._max_pending = max_pending
        self._event = asyncio.Event()
        self._waiting = False

    def wants(self, symbol: str) -> bool:
        """Return True when the subscriber streams this symbol."""
        return not self.symbols or symbol in self.symbols

    def push(self, item: Any) -> None:
        """Queue one message (any thread)."""
        items = self._items
        if self._cap is not None and len(items) >= self._cap:
            self.dropped += 1  # the deque drops the oldest itself
        elif self._cap is None and len(items) >= self._max_pending:
            self.close(grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber too slow: reconnect")
            return
        items.append(item)
        if self._waiting:
            self._wake()

    def close(self, code: grpc.StatusCode, reason: str) -> None:
        """End the stream with a status (any thread)."""
        if self.end is None:
            self.end = (code, reason)
        self._wake()

    async def take(self) -> list[Any]:
        """Wait for messages and return up to BATCH of them, [] once the stream must end."""
        items = self._items
        while not items and self.end is None:
            # Clear, then announce, then re-check: a push between the check and the wait
            # sees _waiting and wakes us, so no message can be stranded.
            self._event.clear()
            self._waiting = True
            if items or self.end is not None:
                self._waiting = False
                break
            await self._event.wait()
        if self.end is not None:
            return []
        popleft = items.popleft
        return [popleft() for _ in range(min(len(items), BATCH))]

    def _wake(self) -> None:
        self._waiting = False
        if threading.get_ident() == self._loop_thread:
            self._event.set()
            return
        # A closed loop means the server is gone: nobody left to wake.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._event.set)


class StreamHub:
    """Subscribers of the three streams, registered on the engine only while they exist."""

    def __init__(self, engine: SimExchange) -> None:
        self.engine = engine
        self._subs: dict[str, list[Subscriber]] = {"price": [], "order": [], "kline": []}
        self._handlers: dict[str, Callable[[Any], None]] = {
            "price": self._on_price,
            "order": self._on_order,
            "kline": self._on_kline,
        }

    def subscribe(self, kind: str, sub: Subscriber) -> None:
        """Start delivering events of kind to sub; a price subscriber first gets the last ticks."""
        with self.engine.lock:
            if kind == "price":
                for tick in self.engine.latest_prices():
                    if sub.wants(tick.symbol):
                        sub.push(tick_to_pb(tick))
            subs = self._subs[kind]
            if not subs:
                self.engine.add_listener(kind, self._handlers[kind])
            # Copy on write: publishers iterate the old list without a lock of their own.
            self._subs[kind] = [*subs, sub]

    def unsubscribe(self, kind: str, sub: Subscriber) -> None:
        """Stop delivering to sub."""
        with self.engine.lock:
            subs = [s for s in self._subs[kind] if s is not sub]
            self._subs[kind] = subs
            if not subs:
                self.engine.remove_listener(kind, self._handlers[kind])

    def count(self) -> int:
        """Return the number of open streams."""
        return sum(len(subs) for subs in self._subs.values())

    def close_all(self, code: grpc.StatusCode, reason: str) -> int:
        """End every open stream with a status; return how many."""
        with self.engine.lock:
            subs = [s for kind in self._subs.values() for s in kind]
        for sub in subs:
            sub.close(code, reason)
        return len(subs)

    def _on_price(self, tick: PriceTick) -> None:
        message = None
        for sub in self._subs["price"]:
            if sub.wants(tick.symbol):
                if message is None:
                    message = tick_to_pb(tick)  # built once, shared by every stream
                sub.push(message)

    def _on_order(self, update: OrderUpdate) -> None:
        message = update_to_pb(update)
        for sub in self._subs["order"]:
            sub.push(message)

    def _on_kline(self, kline: Kline) -> None:
        message = None
        for sub in self._subs["kline"]:
            if sub.interval == kline.interval and sub.wants(kline.symbol):
                if message is None:
                    message = kline_to_pb(kline)
                sub.push(message)
