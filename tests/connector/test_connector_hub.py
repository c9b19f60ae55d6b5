"""The stream hub in process: price queues drop the oldest, order queues never drop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from decimal import Decimal

import grpc
import pytest

from mmtasks.connector.hub import StreamHub, Subscriber
from mmtasks.connector.service import ExchangeServicer
from mmtasks.domain import Side
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.sim import SimConfig, SimExchange, SimVenue
from mmtasks.venue import OrderRequest
from tests.kit.poll import eventually

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


class AttachingVenue:
    """A network venue whose subscribe waits until the test lets it finish; it records its calls."""

    blocking = True  # the servicer asks it from a venue thread, as it does a real exchange

    def __init__(self) -> None:
        self.listening: set[tuple[str, object]] = set()
        self.calls: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def subscribe(
        self, stream: str, listener: object, *, symbols: object = (), interval: str = "1m"
    ) -> None:
        self.entered.set()
        assert self.release.wait(5), "the test never let subscribe finish"
        self.listening.add((stream, listener))
        self.calls.append("subscribe")

    def unsubscribe(self, stream: str, listener: object) -> None:
        self.listening.discard((stream, listener))
        self.calls.append("unsubscribe")


@pytest.mark.parametrize("when", ["before", "while the venue attaches it"])
def test_a_subscriber_unsubscribed_before_its_subscribe_ends_is_left_attached_to_nothing(
    when: str,
) -> None:
    async def scenario() -> tuple[int, set[tuple[str, object]]]:
        venue = AttachingVenue()
        hub = StreamHub(venue)  # type: ignore[arg-type]
        sub = Subscriber(asyncio.get_running_loop())
        if when == "before":
            hub.unsubscribe("order", sub)
        subscribing = threading.Thread(target=hub.subscribe, args=("order", sub))
        subscribing.start()
        if when != "before":
            await asyncio.to_thread(venue.entered.wait, 5)
            hub.unsubscribe("order", sub)
        venue.release.set()
        await asyncio.to_thread(subscribing.join, 5)
        return hub.count(), venue.listening

    count, listening = asyncio.run(asyncio.wait_for(scenario(), 10))

    assert (count, listening) == (0, set())


class StreamContext:
    """The servicer context of one server stream, as far as opening it goes."""

    async def send_initial_metadata(self, metadata: object) -> None:
        return None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AssertionError(f"the stream was aborted: {code} {details}")


def test_a_stream_whose_client_leaves_while_it_subscribes_leaves_no_listener_behind() -> None:
    # The bridge ends a session while its streams open (a drop, a timeout): the RPC is
    # cancelled while the venue thread subscribes. That subscriber must not stay listening.
    async def scenario() -> tuple[AttachingVenue, StreamHub]:
        venue = AttachingVenue()
        hub = StreamHub(venue)  # type: ignore[arg-type]
        servicer = ExchangeServicer(venue, hub)  # type: ignore[arg-type]
        stream = servicer.SubscribeOrders(pb.SubscribeOrdersRequest(), StreamContext())
        opening = asyncio.ensure_future(anext(stream))
        await asyncio.to_thread(venue.entered.wait, 5)
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        venue.release.set()
        return venue, hub

    venue, hub = asyncio.run(asyncio.wait_for(scenario(), 10))

    # The venue thread's subscribe ends after the client left: it undoes itself there.
    eventually(lambda: venue.calls[-2:] == ["subscribe", "unsubscribe"], timeout_s=5)
    assert (hub.count(), venue.listening) == (0, set())
