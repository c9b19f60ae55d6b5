"""The stream hub in process: price queues drop the oldest, order queues never drop."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import grpc
import pytest

from mmtasks.connector.hub import StreamHub, Subscriber
from mmtasks.domain import Side
from mmtasks.sim import SimConfig, SimExchange, SimVenue
from mmtasks.venue import OrderRequest

pytestmark = pytest.mark.timeout(10)

D = Decimal


def exchange() -> SimExchange:
    return SimExchange(SimConfig(symbols=("BTCUSDT", "ETHUSDT"), id_prefix=""))


def test_a_price_subscriber_gets_the_last_ticks_then_every_new_one_in_order() -> None:
    async def scenario() -> list[tuple[str, int]]:
        engine = exchange()
        hub = StreamHub(SimVenue(engine))
        sub = Subscriber(asyncio.get_running_loop(), symbols=["ETHUSDT"], drop_oldest=100)
        hub.subscribe("price", sub)
        feeder = threading.Thread(
            target=lambda: [engine.apply_price("ETHUSDT", D(2000 + i)) for i in range(1, 51)]
        )
        feeder.start()
        got: list[tuple[str, int]] = []
        while len(got) < 51:
            got += [(m.symbol, m.seq) for m in await sub.take()]
        feeder.join()
        return got

    got = asyncio.run(asyncio.wait_for(scenario(), 10))

    assert got == [("ETHUSDT", seq) for seq in range(51)]


def test_a_slow_price_subscriber_keeps_only_the_newest_ticks() -> None:
    async def scenario() -> tuple[list[int], int]:
        engine = exchange()
        hub = StreamHub(SimVenue(engine))
        sub = Subscriber(asyncio.get_running_loop(), symbols=["BTCUSDT"], drop_oldest=5)
        hub.subscribe("price", sub)
        for i in range(1, 21):
            engine.apply_price("BTCUSDT", D(30000 + i))
        return [m.seq for m in await sub.take()], sub.dropped

    seqs, dropped = asyncio.run(asyncio.wait_for(scenario(), 10))

    assert seqs == [16, 17, 18, 19, 20]
    assert dropped == 16  # the start tick and the first 15


def test_an_order_subscriber_too_far_behind_is_ended_not_silently_skipped() -> None:
    async def scenario() -> tuple[list[object], tuple[grpc.StatusCode, str] | None]:
        engine = exchange()
        hub = StreamHub(SimVenue(engine))
        sub = Subscriber(asyncio.get_running_loop(), max_pending=3)
        hub.subscribe("order", sub)
        for i in range(5):
            engine.place_order(OrderRequest("BTCUSDT", Side.BUY, D("0.001"), D(20000), f"h{i}"))
        return await sub.take(), sub.end

    batch, end = asyncio.run(asyncio.wait_for(scenario(), 10))

    assert batch == []
    assert end is not None and end[0] is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_unsubscribing_detaches_the_listener_from_the_venue() -> None:
    async def scenario() -> int:
        engine = exchange()
        hub = StreamHub(SimVenue(engine))
        sub = Subscriber(asyncio.get_running_loop())
        hub.subscribe("order", sub)
        hub.unsubscribe("order", sub)
        engine.place_order(OrderRequest("BTCUSDT", Side.BUY, D("0.001"), D(20000), "gone1"))
        return hub.count()

    assert asyncio.run(scenario()) == 0
