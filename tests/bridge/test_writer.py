"""The batch writer on real Redis: one round trip, wakes only where needed, retries in order."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis as redis_lib

from bridge.writer import Batch, BatchWriter
from mmtasks.domain import OrderStatus, Side
from mmtasks.messages import OrderEvent
from mmtasks.state.keys import keys_for
from mmtasks.venue import PriceTick
from tests.bridge.conftest import inbox, queued_tasks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]
A, B = "AAAUSDT", "BBBUSDT"
NOW_MS = 1_800_000_000_000


def order(symbol: str, order_id: str) -> OrderEvent:
    return OrderEvent(
        symbol=symbol,
        order_id=order_id,
        client_order_id="",
        side=Side.BUY,
        status=OrderStatus.NEW,
        price=Decimal(1),
        quantity=Decimal(1),
        executed_qty=Decimal(0),
        avg_price=Decimal(0),
        ts_event_ms=NOW_MS,
    )


@pytest.fixture
def writer(redis_url: str) -> BatchWriter:
    from mmtasks.celery import app

    return BatchWriter(redis_lib.Redis.from_url(redis_url), app)


def test_events_are_appended_with_seq_and_each_symbol_woken_once(
    writer: BatchWriter, redis_client: redis_lib.Redis
) -> None:
    batch = Batch(events=[order(A, "a1"), order(B, "b1"), order(A, "a2")])

    retry = writer.write(batch, {}, {})

    assert not retry
    assert [(seq, e["order_id"]) for seq, e in inbox(redis_client, A)] == [(1, "a1"), (2, "a2")]
    assert queued_tasks(redis_client, A.lower()) == [("mmtasks.symbol.on_order", [A])]
    assert queued_tasks(redis_client, B.lower()) == [("mmtasks.symbol.on_order", [B])]


def test_a_pending_price_task_drains_new_events_so_no_wake_is_sent(
    writer: BatchWriter, redis_client: redis_lib.Redis
) -> None:
    tick = PriceTick(A, Decimal("101"), NOW_MS, 9)
    writer.write(Batch(ticks={A: tick}), {}, {})  # sends the price task, sets the flag

    writer.write(Batch(events=[order(A, "a1")], ticks={A: tick}), {}, {})

    assert queued_tasks(redis_client, A.lower()) == [("mmtasks.symbol.on_price", [A])]
    assert len(inbox(redis_client, A)) == 1
    assert redis_client.hgetall(keys_for(A).tick) == {
        "price": "101",
        "ts_event_ms": str(NOW_MS),
        "seq": "9",
    }


def test_after_redis_lost_its_scripts_the_batch_is_retried_whole_and_in_order(
    writer: BatchWriter, redis_client: redis_lib.Redis
) -> None:
    writer.write(Batch(events=[order(A, "a1")]), {}, {})
    redis_client.script_flush()  # as after a Redis restart

    retry = writer.write(Batch(events=[order(A, "a2"), order(A, "a3")]), {"oversized": 1}, {})
    assert [e.order_id for e in retry.events] == ["a2", "a3"]  # type: ignore[union-attr]
    assert not writer.write(retry, {}, {})

    assert [(seq, e["order_id"]) for seq, e in inbox(redis_client, A)] == [
        (1, "a1"),
        (2, "a2"),
        (3, "a3"),
    ]
    assert redis_client.hget("mm:bridge:rejects", "oversized") == "1"
