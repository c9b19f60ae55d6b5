"""Hand validated messages from the event loop to one writer thread, in batches.

Redis and Celery calls block, so the event loop only drops messages into buffers here; a
single writer thread turns each batch into one pipelined round trip and its tasks (see
writer.py). Ticks are conflated in the buffer (the newest per symbol wins); order and candle
events keep their arrival order; a batch that fails to write is retried, never dropped, so a
Redis outage delays order updates but does not lose them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import redis
from celery import Celery
from redis.typing import EncodableT, FieldT

from bridge.rejects import RejectCounter
from bridge.writer import Batch, BatchWriter, InboxEvent, now_ms
from mmtasks.messages import CandleEvent
from mmtasks.venue.types import PriceTick

log = logging.getLogger(__name__)

__all__ = ["Sink", "now_ms"]


class Sink:
    """Buffers filled by the event loop and drained by one writer thread."""

    def __init__(
        self,
        client: redis.Redis,
        app: Celery,
        rejects: RejectCounter,
        heartbeat_interval_s: float = 1.0,
        min_flush_interval_s: float = 0.002,
        forming_candle_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = BatchWriter(client, app)
        self._rejects = rejects
        self._heartbeat_interval_s = heartbeat_interval_s
        self._min_flush_interval_s = min_flush_interval_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending = Batch()
        # Forming candles come with every trade: keep the newest per symbol and let one
        # through per interval (closed candles always pass, in order, and supersede them).
        self._forming: dict[str, CandleEvent] = {}
        self._forming_due: dict[str, float] = {}
        self._forming_interval_s = forming_candle_interval_s
        self._clock = clock
        self._seen: dict[str, int] = {}
        self.received: Counter[str] = Counter()  # messages per stream, counted by the readers
        self._state = "starting"
        self._stopping = False
        self._last_heartbeat = 0.0
        self.leading = True  # False while this bridge stands by (bridge/leader.py)
        self._thread = threading.Thread(target=self._run, name="bridge-sink", daemon=True)

    @property
    def stats(self) -> Counter[str]:
        """Return the writer's counters (events appended, ticks written, tasks sent)."""
        return self._writer.stats

    # -- called from the event loop ---------------------------------------------------------
    def put_tick(self, tick: PriceTick) -> None:
        """Keep tick as its symbol's newest price (older unwritten ticks are conflated away)."""
        with self._lock:
            self._pending.ticks[tick.symbol] = tick
        if not self._wake.is_set():
            self._wake.set()

    def put_ticks(self, ticks: dict[str, PriceTick]) -> None:
        """Keep each tick as its symbol's newest price (ticks maps symbol to its newest tick)."""
        with self._lock:
            self._pending.ticks.update(ticks)
        if not self._wake.is_set():
            self._wake.set()

    def put_event(self, event: InboxEvent) -> None:
        """Queue an order or candle event for its symbol's inbox, after those queued before."""
        with self._lock:
            if isinstance(event, CandleEvent):
                held = self._forming.get(event.symbol)
                if not event.closed:
                    self._forming[event.symbol] = event
                    if self._forming_due.get(event.symbol, 0.0) <= self._clock():
                        self._wake.set()
                    return
                if held is not None and held.open_ms <= event.open_ms:
                    del self._forming[event.symbol]  # the close says it all
            self._pending.events.append(event)
        if not self._wake.is_set():
            self._wake.set()

    def request_reconcile(self, symbols: list[str], reason: str) -> None:
        """Queue a reconcile task for each symbol."""
        with self._lock:
            self._pending.reconciles.extend((s, reason) for s in symbols)
        self._wake.set()

    def saw(self, stream: str, ts_ms: int) -> None:
        """Record that stream delivered a message at ts_ms (for the heartbeat)."""
        self._seen[stream] = ts_ms

    def set_state(self, state: str) -> None:
        """Record the connection state shown in the heartbeat, and write it soon."""
        self._state = state
        self._last_heartbeat = 0.0
        self._wake.set()

    def backlog(self) -> int:
        """Return how many events wait to be written."""
        return len(self._pending.events)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Write what is buffered and stop the writer; return False if it did not finish."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the writer thread ------------------------------------------------------------------
    def _take(self, everything: bool = False) -> Batch:
        now = self._clock()
        with self._lock:
            batch, self._pending = self._pending, Batch()
            due = [s for s in self._forming if everything or self._forming_due.get(s, 0) <= now]
            for symbol in due:
                batch.events.append(self._forming.pop(symbol))
                self._forming_due[symbol] = now + self._forming_interval_s
        return batch

    def _put_back(self, batch: Batch) -> None:
        """Put an unwritten batch in front of what arrived since (events keep their order)."""
        with self._lock:
            newer = self._pending
            batch.events.extend(newer.events)
            batch.ticks.update(newer.ticks)
            batch.reconciles.extend(newer.reconciles)
            self._pending = batch

    def _run(self) -> None:
        failures = 0
        while True:
            self._wake.wait(self._heartbeat_interval_s)
            # Let a batch gather: every write takes the GIL from the stream readers, so
            # fewer, larger writes keep ingest fast; the pause bounds the added latency.
            time.sleep(self._min_flush_interval_s)
            self._wake.clear()
            stopping = self._stopping
            batch = self._take(everything=stopping)
            rejects = self._rejects.take_pending()
            try:
                retry = self._writer.write(batch, rejects, self._heartbeat(stopping))
            except (redis.RedisError, OSError) as exc:
                self._rejects.restore_pending(rejects)
                retry = batch
                log.warning("redis write failed: %s", exc)
            except Exception:  # a bug must not silently stop all writing: log, retry later
                self._rejects.restore_pending(rejects)
                retry = batch
                log.exception("writing a batch failed")
            if not retry:
                failures = 0
                if stopping and not self._pending:
                    return
                continue
            self._put_back(retry)
            failures += 1
            if stopping and failures > 3:
                log.error("stopping with %d events unwritten", len(retry.events))
                return
            time.sleep(min(2.0, 0.05 * 2**failures))

    def _heartbeat(self, final: bool) -> dict[FieldT, EncodableT]:
        if not self.leading:
            return {}  # the heartbeat is the streaming bridge's (bridge/leader.py)
        now = time.monotonic()
        if not final and now - self._last_heartbeat < self._heartbeat_interval_s:
            return {}
        self._last_heartbeat = now
        fields: dict[FieldT, EncodableT] = {}
        fields.update(self._seen)  # one C-level copy: the loop thread may add keys meanwhile
        fields.update(alive_ms=now_ms(), state="stopped" if final else self._state)
        # Running totals, so rates can be read from outside (status pages, benchmarks).
        fields.update({f"{stream}_count": n for stream, n in dict(self.received).items()})
        fields.update(
            events_appended=self.stats["events_appended"],
            price_tasks=self.stats["price_tasks_sent"],
        )
        return fields
