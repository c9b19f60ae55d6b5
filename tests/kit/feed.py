"""Events into a symbol the way the bridge puts them there: through the real `bridge.writer`.

`publish_tick` and `append_event` write one tick or event with the bridge's `BatchWriter` (so
the tick script, the inbox append and the wake rules are production's); `OrderPump` stands in
for the bridge's order path only: the connector's order stream, the bridge's validation
(`order_event_from_pb`) and the same writer.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import grpc
import redis as redis_lib
from celery import Celery

from bridge.convert import order_event_from_pb
from bridge.writer import Batch, BatchWriter
from mmtasks.messages import CandleEvent, CommandEvent, OrderEvent
from mmtasks.venue.types import PriceTick
from tests.kit.poll import eventually

Event = OrderEvent | CandleEvent | CommandEvent
_writers: dict[tuple[int, int], tuple[redis_lib.Redis, Celery, BatchWriter]] = {}


def writer_for(client: redis_lib.Redis, app: Celery) -> BatchWriter:
    """Return the bridge writer of (client, app), made once (it loads its scripts once)."""
    key = (id(client), id(app))
    if key not in _writers or _writers[key][0] is not client:
        _writers[key] = (client, app, BatchWriter(client, app))
    return _writers[key][2]


def write(writer: BatchWriter, batch: Batch) -> None:
    """Write batch as the bridge does, retrying what the writer hands back."""
    for _ in range(20):
        batch = writer.write(batch, {}, {})
        if not batch:
            return
    raise AssertionError(f"the bridge writer kept handing back {batch!r}")


def publish_tick(
    client: redis_lib.Redis, app: Celery, symbol: str, price: Decimal, ts_event_ms: int, seq: int
) -> bool:
    """Store the newest tick; send a price task only if none is pending. Return True if sent."""
    writer = writer_for(client, app)
    sent = writer.stats["price_tasks_sent"]
    write(writer, Batch(ticks={symbol: PriceTick(symbol, price, ts_event_ms, seq)}))
    return writer.stats["price_tasks_sent"] > sent


def append_event(client: redis_lib.Redis, app: Celery, event: Event) -> None:
    """Append event to its symbol's inbox and wake the symbol (unless a price task is due)."""
    write(writer_for(client, app), Batch(events=[event]))  # type: ignore[list-item]


class OrderPump:
    """The bridge's order path: connector order stream -> validation -> the bridge writer."""

    def __init__(self, addr: str, redis_url: str, symbols: set[str]) -> None:
        from mmtasks.celery import app
        from mmtasks.pb.mm.v1 import exchange_pb2, exchange_pb2_grpc

        self.writer = BatchWriter(redis_lib.Redis.from_url(redis_url), app)
        self.symbols = symbols
        self.channel = grpc.insecure_channel(addr)
        self.stub = exchange_pb2_grpc.ExchangeServiceStub(self.channel)
        self._pb = exchange_pb2
        self.appended = 0
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        eventually(self.ready.is_set, timeout_s=10)

    def _run(self) -> None:
        stream = self.stub.SubscribeOrders(self._pb.SubscribeOrdersRequest())
        self._stream = stream
        self.ready.set()
        try:
            for update in stream:
                if update.order.symbol in self.symbols:
                    write(self.writer, Batch(events=[order_event_from_pb(update, self.symbols)]))
                    self.appended += 1
        except grpc.RpcError:
            return

    def close(self) -> None:
        self._stream.cancel()
        self.channel.close()


def order_events(updates: list[Any], symbols: set[str]) -> list[OrderEvent]:
    """Return venue order updates as the bridge validates them off the wire."""
    from mmtasks.venue.codec import update_to_pb

    return [order_event_from_pb(update_to_pb(u), symbols) for u in updates]


def set_price(sim: Any, client: redis_lib.Redis, symbol: str, price: str) -> PriceTick:
    """Move the exchange's price (orders it reaches fill), then tell the symbol, as the bridge."""
    from mmtasks.celery import app

    tick = sim.inject_price(symbol, price)
    publish_tick(client, app, symbol, Decimal(price), tick.ts_event_ms, tick.seq)
    return tick
