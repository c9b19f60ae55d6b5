"""Fan-out of venue events to stream subscribers: one queue per stream, never a shared lock.

Each subscriber is one listener on the venue (`Venue.subscribe`), which calls it in seq order
from the venue's thread; each stream's coroutine drains its queue in batches. A push only
appends to a deque and, when the consumer sleeps, schedules one wake-up on the event loop: no
lock is ever held across I/O.

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

from mmtasks.venue.codec import kline_to_pb, tick_to_pb, update_to_pb
from mmtasks.venue.port import Listener, Venue
from mmtasks.venue.types import Stream

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
        self.interval = interval or "1m"
        self.dropped = 0
        self.end: tuple[grpc.StatusCode, str] | None = None
        self.detached = False  # set by the hub's unsubscribe: a subscribe under way then lets go
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


ENCODERS: dict[Stream, Callable[[Any], Any]] = {
    "price": tick_to_pb,
    "order": update_to_pb,
    "kline": kline_to_pb,
}


class StreamHub:
    """The open streams of one venue: each subscriber listens to the venue while it exists."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self._lock = threading.Lock()
        self._subs: dict[Subscriber, tuple[Stream, Listener]] = {}
        # The venue calls every listener of one event in a row: encode it once, not per stream.
        self._encoded: dict[Stream, tuple[object, Any]] = {k: (None, None) for k in ENCODERS}

    def subscribe(self, kind: Stream, sub: Subscriber) -> None:
        """Start delivering events of kind to sub; a price subscriber first gets the last ticks.

        An unsubscribe may come first, or while the venue is being asked (the stream's client
        left while this ran on a venue thread): then sub ends attached to nothing, never left
        listening with nobody to read it.
        """
        listener = self._listener(kind, sub)
        with self._lock:
            if sub.detached:
                return
            self._subs[sub] = (kind, listener)
        try:
            self.venue.subscribe(kind, listener, symbols=sub.symbols, interval=sub.interval)
        except BaseException:
            with self._lock:
                self._subs.pop(sub, None)
            raise
        with self._lock:
            detached = sub not in self._subs
        if detached:  # unsubscribed before the venue had the listener: take it back there
            self.venue.unsubscribe(kind, listener)

    def unsubscribe(self, kind: Stream, sub: Subscriber) -> None:
        """Stop delivering to sub, for good: a subscribe of sub still under way attaches nothing."""
        with self._lock:
            sub.detached = True
            entry = self._subs.pop(sub, None)
        if entry is not None:
            self.venue.unsubscribe(*entry)

    def count(self) -> int:
        """Return the number of open streams."""
        return len(self._subs)

    def close_all(self, code: grpc.StatusCode, reason: str) -> int:
        """End every open stream with a status; return how many."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.close(code, reason)
        return len(subs)

    def _listener(self, kind: Stream, sub: Subscriber) -> Listener:
        encode = ENCODERS[kind]
        encoded = self._encoded
        push = sub.push

        def listener(event: object) -> None:
            last, message = encoded[kind]
            if last is not event:
                message = encode(event)
                encoded[kind] = (event, message)
            push(message)

        return listener
