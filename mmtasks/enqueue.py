"""How events enter a symbol: append to its inbox, then wake its queue.

The inbox append (with its seq) happens before the task is sent, so a lost or duplicated
task message never loses or doubles an event: any later step drains everything after the
cursor. Prices are conflated: only the newest tick is kept and at most one price task waits.
"""

from __future__ import annotations

from decimal import Decimal

import redis
from celery import Celery

from mmtasks.decimals import canon
from mmtasks.domain import queue_for
from mmtasks.messages import CandleEvent, CommandEvent, OrderEvent, dump_event
from mmtasks.state.store import SymbolStore

TASK_FOR_KIND = {
    "order": "mmtasks.symbol.on_order",
    "candle": "mmtasks.symbol.on_candle",
    "command": "mmtasks.symbol.on_command",
}
PRICE_TASK = "mmtasks.symbol.on_price"
PRICE_PENDING_TTL_S = 60  # a lost price task frees the flag after this, so prices resume


def wake(app: Celery, symbol: str, task: str = "mmtasks.symbol.drain") -> None:
    """Send a task naming symbol to the symbol's own queue."""
    app.send_task(task, args=[symbol], queue=queue_for(symbol))


# append_event and publish_tick serve only tests and benchmarks, which now use the bridge's
# own writer through tests/kit/feed.py; they stay until tests/risk and tests/signal_fleet
# import them from there, then go.


def append_event(
    client: redis.Redis, app: Celery, event: OrderEvent | CandleEvent | CommandEvent
) -> int:
    """Append event to its symbol's inbox, wake the symbol, and return the event's seq."""
    seq = SymbolStore(client, event.symbol).append(dump_event(event))
    wake(app, event.symbol, TASK_FOR_KIND[event.kind])
    return seq


def publish_tick(
    client: redis.Redis, app: Celery, symbol: str, price: Decimal, ts_event_ms: int, seq: int
) -> bool:
    """Store the newest tick; send a price task only if none is pending. Return True if sent."""
    store = SymbolStore(client, symbol)
    pipe = client.pipeline(transaction=False)
    pipe.hset(
        store.keys.tick,
        mapping={"price": canon(price), "ts_event_ms": str(ts_event_ms), "seq": str(seq)},
    )
    pipe.set(store.keys.price_pending, "1", nx=True, ex=PRICE_PENDING_TTL_S)
    _, sent = pipe.execute()
    if sent:
        wake(app, symbol, PRICE_TASK)
    return bool(sent)
