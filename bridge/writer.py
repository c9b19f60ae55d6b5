"""Write one batch to Redis in a single pipelined round trip, then send the tasks it needs.

Scripts run by SHA (loaded once, reloaded after NOSCRIPT) so a batch costs one round trip.
Events of a symbol must reach its inbox in arrival order, so when an append fails, that event
and every event after it are handed back for retry: a retried event may then appear twice in
the inbox (harmless: the worker applies an order update once, by trade id and cumulative
quantity), but never out of order.

Tasks: at most one wake per symbol and kind per batch, and none when that symbol's price task
is already queued (`on_price` clears its flag before it reads the inbox, so it drains these
events too; this relies on that order in mmtasks/tasks/symbol.py) or for a forming candle.
That keeps a symbol's queue a few tasks deep however fast the connector sends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import redis
from celery import Celery
from redis.typing import EncodableT, FieldT

from mmtasks.decimals import canon
from mmtasks.domain import queue_for
from mmtasks.enqueue import PRICE_PENDING_TTL_S, PRICE_TASK, TASK_FOR_KIND
from mmtasks.messages import CandleEvent, OrderEvent, dump_event
from mmtasks.state.keys import BRIDGE_HEARTBEAT, BRIDGE_REJECTS, INBOX_MAXLEN, keys_for
from mmtasks.state.store import APPEND_LUA
from mmtasks.venue.types import PriceTick

log = logging.getLogger(__name__)

RECONCILE_TASK = "mmtasks.symbol.reconcile"
TICK_LUA = resources.files("bridge").joinpath("tick.lua").read_text()
InboxEvent = OrderEvent | CandleEvent


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@dataclass
class Batch:
    """What the loop handed over since the last write."""

    events: list[InboxEvent] = field(default_factory=list)
    ticks: dict[str, PriceTick] = field(default_factory=dict)
    reconciles: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.ticks or self.reconciles)


def needs_wake(event: InboxEvent) -> bool:
    """Return True when event must wake its symbol's queue (all but forming candles)."""
    return not isinstance(event, CandleEvent) or event.closed


class BatchWriter:
    """Turns batches into Redis writes and Celery tasks (used by one thread only)."""

    def __init__(self, client: redis.Redis, app: Celery) -> None:
        self._r = client
        self._app = app
        self._append_sha = _sha(APPEND_LUA)
        self._tick_sha = _sha(TICK_LUA)
        self._scripts_loaded = False
        self.stats: Counter[str] = Counter()

    def write(
        self, batch: Batch, rejects: dict[str, int], heartbeat: dict[FieldT, EncodableT]
    ) -> Batch:
        """Write batch, reject counts and heartbeat; return the part that must be retried.

        Raises redis errors when the round trip itself failed (nothing known to be written).
        """
        if not self._scripts_loaded:
            self._r.script_load(APPEND_LUA)
            self._r.script_load(TICK_LUA)
            self._scripts_loaded = True
        events, ticks = batch.events, list(batch.ticks.values())
        woken = list(dict.fromkeys(e.symbol for e in events if needs_wake(e)))
        pipe = self._r.pipeline(transaction=False)
        for event in events:
            k = keys_for(event.symbol)
            payload = json.dumps(dump_event(event), separators=(",", ":"))
            pipe.evalsha(self._append_sha, 2, k.seq, k.inbox, INBOX_MAXLEN, payload)
        for tick in ticks:
            k = keys_for(tick.symbol)
            pipe.evalsha(
                self._tick_sha,
                3,
                k.tick,
                k.price_pending,
                k.band,
                canon(tick.price),
                tick.ts_event_ms,
                tick.seq,
                PRICE_PENDING_TTL_S,
            )
        for symbol in woken:  # after the appends and ticks: see covered below
            pipe.exists(keys_for(symbol).price_pending)
        for reason, n in rejects.items():
            pipe.hincrby(BRIDGE_REJECTS, reason, n)
        if heartbeat:
            pipe.hset(BRIDGE_HEARTBEAT, mapping=heartbeat)
        results: list[Any] = pipe.execute(raise_on_error=False) if len(pipe) else []
        self._note_errors(results)

        retry = Batch()
        n_events, n_ticks = len(events), len(ticks)
        failed_at = next(
            (i for i, r in enumerate(results[:n_events]) if isinstance(r, Exception)), n_events
        )
        written, retry.events = events[:failed_at], events[failed_at:]
        price_due: list[str] = []
        for tick, result in zip(ticks, results[n_events : n_events + n_ticks], strict=True):
            if isinstance(result, Exception):
                retry.ticks[tick.symbol] = tick
            elif result:
                price_due.append(tick.symbol)
        # A price task that is queued and not yet started drains the inbox when it runs (it
        # clears the flag first, then reads), so a wake for these events would only pile up
        # behind it: under overload that is what keeps a symbol's queue short.
        pending = results[n_events + n_ticks : n_events + n_ticks + len(woken)]
        covered = {s for s, p in zip(woken, pending, strict=True) if p == 1}
        # A forming candle wakes nobody either: the symbol's next step drains it.
        wakes: list[tuple[str, str]] = list(
            dict.fromkeys((e.symbol, e.kind) for e in written if needs_wake(e))
        )
        self.stats["events_appended"] += len(written)
        self.stats["ticks_written"] += n_ticks - len(retry.ticks)
        self.stats["wakes_covered"] += sum(s in covered for s, _ in wakes)
        retry.reconciles = self._send_tasks(wakes, covered, price_due, batch.reconciles)
        return retry

    def _note_errors(self, results: list[Any]) -> None:
        errors = [r for r in results if isinstance(r, Exception)]
        if not errors:
            return
        if any(isinstance(e, redis.exceptions.NoScriptError) for e in errors):
            self._scripts_loaded = False  # Redis restarted or flushed its scripts
        log.warning(
            "%d of %d redis writes failed, retrying them: %s", len(errors), len(results), errors[0]
        )

    def _send_tasks(
        self,
        wakes: list[tuple[str, str]],
        covered: set[str],
        price: list[str],
        reconciles: list[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """Send wakes, price tasks and reconciles; return the reconciles that failed."""
        if not (wakes or price or reconciles):
            return []
        try:
            with self._app.producer_or_acquire() as producer:
                return self._send_all(producer, wakes, covered, price, reconciles)
        except Exception as exc:  # no broker connection (each send catches its own errors)
            log.warning("cannot reach the broker (%s); tasks of this batch deferred", exc)
            for symbol in price:  # let the next tick claim the flag and send again
                self._r.delete(keys_for(symbol).price_pending)
            return reconciles

    def _send_all(
        self,
        producer: Any,
        wakes: list[tuple[str, str]],
        covered: set[str],
        price: list[str],
        reconciles: list[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        for symbol in price:
            if not self._send(producer, PRICE_TASK, [symbol], symbol):
                self._r.delete(keys_for(symbol).price_pending)  # the next tick retries
                covered.discard(symbol)  # nothing queued will drain its events now
        for symbol, kind in wakes:
            # The events are in the inbox already: a lost wake is covered by the next task
            # or the beat sweeper, so a failed send is logged, not retried.
            if symbol not in covered:
                self._send(producer, TASK_FOR_KIND[kind], [symbol], symbol)
                self.stats["wakes_sent"] += 1
        self.stats["price_tasks_sent"] += len(price)
        return [
            (s, why)
            for s, why in reconciles
            if not self._send(producer, RECONCILE_TASK, [s, why], s)
        ]

    def _send(self, producer: Any, task: str, args: list[str], symbol: str) -> bool:
        try:
            self._app.send_task(
                task, args=args, queue=queue_for(symbol), producer=producer, ignore_result=True
            )
            return True
        except Exception as exc:  # kombu raises many types; the caller decides what to redo
            log.warning("could not send %s for %s: %s", task, symbol, exc)
            return False
