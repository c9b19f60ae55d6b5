"""The three streams, health, dropping streams and a graceful stop, on a live feed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import grpc
import pytest
from connector_helpers import StreamCollector, eventually, start_connector, stop_connector
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mmtasks.connector.client import ExchangeClient
from mmtasks.connector.sim_client import SimControlClient
from mmtasks.domain import OrderStatus
from mmtasks.errors import ValidationError
from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.pb.mm.v1 import exchange_pb2_grpc as pb_grpc
from mmtasks.venue import OrderUpdate
from mmtasks.venue.codec import kline_from_pb, tick_from_pb, update_from_pb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

D = Decimal


@pytest.fixture(scope="module")
def connector_args() -> list[str]:
    return ["--feed", "random", "--tick-ms", "5", "--seed", "3", "--symbols", "BTCUSDT,ETHUSDT"]


@pytest.fixture
def streams(stub: pb_grpc.ExchangeServiceStub) -> Iterator[list[StreamCollector]]:
    """Collectors opened by a test; cancelled after it."""
    opened: list[StreamCollector] = []
    yield opened
    for collector in opened:
        collector.cancel()


def test_prices_arrive_in_order_per_symbol(
    stub: pb_grpc.ExchangeServiceStub, streams: list[StreamCollector]
) -> None:
    prices = StreamCollector(stub.SubscribePrice(pb.SubscribePriceRequest()))
    streams.append(prices)

    eventually(lambda: _at_least(prices, 200, "ETHUSDT"), timeout_s=10)

    views = [tick_from_pb(m) for m in prices.messages]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        seqs = [v.seq for v in views if v.symbol == symbol]
        assert seqs == sorted(set(seqs)), f"{symbol} seqs not strictly increasing"
        assert all(v.price > 0 and v.price % D("0.01") == 0 for v in views)


def test_price_batches_deliver_every_symbols_ticks_in_seq_order(
    stub: pb_grpc.ExchangeServiceStub, streams: list[StreamCollector]
) -> None:
    batches = StreamCollector(stub.SubscribePriceBatches(pb.SubscribePriceRequest()))
    streams.append(batches)

    def ticks() -> list[pb.PriceTick]:
        return [t for batch in list(batches.messages) for t in batch.ticks]

    def enough() -> bool:
        got = ticks()
        return all(sum(t.symbol == s for t in got) >= 200 for s in ("BTCUSDT", "ETHUSDT"))

    eventually(enough, timeout_s=10)

    assert all(len(batch.ticks) > 0 for batch in batches.messages)
    views = [tick_from_pb(t) for t in ticks()]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        seqs = [v.seq for v in views if v.symbol == symbol]
        # Strictly increasing and gap-free: a reader that keeps up misses no tick.
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{symbol} seqs out of order"


def test_a_price_batch_subscription_streams_only_its_symbols(
    stub: pb_grpc.ExchangeServiceStub, streams: list[StreamCollector]
) -> None:
    request = pb.SubscribePriceRequest(symbols=["ETHUSDT"])
    batches = StreamCollector(stub.SubscribePriceBatches(request))
    streams.append(batches)

    eventually(lambda: _at_least_in_batches(batches, 20, "ETHUSDT"))

    assert {t.symbol for batch in batches.messages for t in batch.ticks} == {"ETHUSDT"}


def _at_least_in_batches(collector: StreamCollector, count: int, symbol: str) -> bool:
    return sum(t.symbol == symbol for b in list(collector.messages) for t in b.ticks) >= count


def _at_least(collector: StreamCollector, count: int, symbol: str) -> bool:
    return sum(m.symbol == symbol for m in collector.messages) >= count


def test_a_price_subscription_streams_only_its_symbols(
    stub: pb_grpc.ExchangeServiceStub, streams: list[StreamCollector]
) -> None:
    prices = StreamCollector(stub.SubscribePrice(pb.SubscribePriceRequest(symbols=["ETHUSDT"])))
    streams.append(prices)

    eventually(lambda: _at_least(prices, 20, "ETHUSDT"))

    assert {m.symbol for m in prices.messages} == {"ETHUSDT"}


def test_an_order_update_arrives_for_each_fill_with_cumulative_qty(
    stub: pb_grpc.ExchangeServiceStub,
    client: ExchangeClient,
    control: SimControlClient,
    streams: list[StreamCollector],
) -> None:
    updates = StreamCollector(stub.SubscribeOrders(pb.SubscribeOrdersRequest()))
    streams.append(updates)
    eventually(lambda: _subscribed(client, control, updates), timeout_s=15)
    order, _ = client.place_order("BTCUSDT", "BUY", "10000", "0.03", "strFill1")

    control.fill_order("BTCUSDT", client_order_id="strFill1", quantity="0.01")
    control.fill_order("BTCUSDT", client_order_id="strFill1")

    def ours() -> list[tuple[OrderStatus, Decimal, Decimal | None]]:
        views = [update_from_pb(m) for m in updates.messages]
        mine = [v for v in views if v.order.client_order_id == "strFill1"]
        assert len(mine) == 3
        assert [v.seq for v in mine] == sorted({v.seq for v in mine})
        return [
            (v.order.status, v.order.executed_qty, v.last_trade.quantity if v.last_trade else None)
            for v in mine
        ]

    assert eventually(ours) == [
        (OrderStatus.NEW, D(0), None),
        (OrderStatus.PARTIALLY_FILLED, D("0.01"), D("0.01")),
        (OrderStatus.FILLED, D("0.03"), D("0.02")),
    ]
    assert client.get_order("BTCUSDT", order_id=order.order_id) is not None


def _subscribed(
    client: ExchangeClient, control: SimControlClient, updates: StreamCollector
) -> bool:
    # The stream is live once an update of a probe order shows up on it.
    probe = f"strProbe{len(updates.messages)}{time.monotonic_ns() % 10**6}"
    client.place_order("ETHUSDT", "BUY", "500", "0.01", probe)
    client.cancel_order("ETHUSDT", client_order_id=probe)
    return bool(eventually(lambda: _has(updates, probe), timeout_s=1))


def _has(updates: StreamCollector, client_order_id: str) -> bool:
    return any(m.order.client_order_id == client_order_id for m in updates.messages)


def test_klines_stream_forming_and_closed_candles_and_history(
    stub: pb_grpc.ExchangeServiceStub, client: ExchangeClient, streams: list[StreamCollector]
) -> None:
    request = pb.SubscribeKlinesRequest(symbols=["BTCUSDT"], interval="1s")
    candles = StreamCollector(stub.SubscribeKlines(request))
    streams.append(candles)

    def closed_one() -> bool:
        return any(m.closed for m in candles.messages)

    eventually(closed_one, timeout_s=5)

    views = [kline_from_pb(m) for m in candles.messages]
    assert {(v.symbol, v.interval) for v in views} == {("BTCUSDT", "1s")}
    assert any(not v.closed for v in views)
    closed = next(v for v in views if v.closed)
    assert (
        closed.low
        <= min(closed.open, closed.close)
        <= max(closed.open, closed.close)
        <= closed.high
    )
    assert closed.close_ms - closed.open_ms == 999
    history = eventually(lambda: _non_empty(client.klines("BTCUSDT", "1s", limit=10)))
    assert all(k.closed for k in history)
    assert [k.open_ms for k in history] == sorted(k.open_ms for k in history)


def _non_empty(items: list[object]) -> list[object]:
    assert items
    return items


@pytest.mark.parametrize("service", ["", "mm.v1.ExchangeService"])
def test_health_is_serving(connector: str, service: str) -> None:
    with grpc.insecure_channel(connector) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )

    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_drop_streams_ends_them_unavailable_and_clients_can_reconnect(
    stub: pb_grpc.ExchangeServiceStub,
    client: ExchangeClient,
    control: SimControlClient,
    streams: list[StreamCollector],
) -> None:
    prices = StreamCollector(stub.SubscribePrice(pb.SubscribePriceRequest()))
    orders = StreamCollector(stub.SubscribeOrders(pb.SubscribeOrdersRequest()))
    streams.extend([prices, orders])
    eventually(lambda: _at_least(prices, 1, "BTCUSDT"))
    eventually(lambda: _subscribed(client, control, orders), timeout_s=15)

    dropped = control.drop_streams()

    assert dropped >= 2
    assert prices.ended.wait(5) and orders.ended.wait(5)
    assert (prices.code, orders.code) == (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    again = StreamCollector(stub.SubscribePrice(pb.SubscribePriceRequest()))
    streams.append(again)
    eventually(lambda: _at_least(again, 5, "BTCUSDT"))


def test_sigterm_ends_streams_and_exits_zero() -> None:
    proc, addr = start_connector(["--feed", "random", "--tick-ms", "10"])
    with grpc.insecure_channel(addr) as channel:
        prices = StreamCollector(
            pb_grpc.ExchangeServiceStub(channel).SubscribePrice(pb.SubscribePriceRequest())
        )
        eventually(lambda: _at_least(prices, 1, "BTCUSDT"))
        started = time.monotonic()

        code = stop_connector(proc)

        assert code == 0
        assert time.monotonic() - started < 5
        assert prices.ended.wait(5)
        assert prices.code is grpc.StatusCode.UNAVAILABLE


def test_the_client_venue_streams_order_updates_as_venue_types(
    client: ExchangeClient, control: SimControlClient
) -> None:
    got: list[OrderUpdate] = []
    client.subscribe("order", got.append, symbols=["ETHUSDT"])
    try:
        client.place_order("BTCUSDT", "BUY", "10000", "0.001", "vsOther1")  # another symbol
        client.place_order("ETHUSDT", "BUY", "100", "0.1", "vsEth1")
        control.fill_order("ETHUSDT", client_order_id="vsEth1")

        updates = eventually(lambda: _two(got))
    finally:
        client.unsubscribe("order", got.append)

    assert [(u.order.client_order_id, u.order.status) for u in updates] == [
        ("vsEth1", OrderStatus.NEW),
        ("vsEth1", OrderStatus.FILLED),
    ]
    assert updates[1].last_trade is not None
    assert (updates[1].last_trade.price, updates[1].last_trade.quantity) == (D(100), D("0.1"))


def _two(got: list[OrderUpdate]) -> list[OrderUpdate]:
    assert len(got) >= 2
    return got[:2]


def test_the_client_venue_refuses_a_stream_of_an_unknown_interval(client: ExchangeClient) -> None:
    with pytest.raises(ValidationError, match="interval must be one of"):
        client.subscribe("kline", lambda _: None, interval="7m")
