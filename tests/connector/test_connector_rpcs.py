"""Every ExchangeService RPC through ExchangeClient against a real connector process."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.connector.client import ExchangeClient
from mmtasks.connector.sim_client import SimControlClient
from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import OrderNotFoundError, ValidationError
from mmtasks.venue import CancelRequest, OrderRequest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

D = Decimal


def test_symbol_info_has_the_rules(client: ExchangeClient) -> None:
    info = client.symbol_info("BTCUSDT")

    assert (info.base_asset, info.quote_asset) == ("BTC", "USDT")
    assert (info.tick_size, info.step_size, info.min_qty, info.min_notional) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D(5),
    )
    assert (info.price_precision, info.qty_precision) == (2, 5)
    assert (info.maker_fee_rate, info.taker_fee_rate) == (D("0.0002"), D("0.0004"))


def test_latest_price_is_the_start_price_before_any_tick(client: ExchangeClient) -> None:
    tick = client.latest_price("SOLUSDT")

    assert (tick.symbol, tick.price, tick.seq) == ("SOLUSDT", D(100), 0)


def test_place_get_and_cancel_an_order(client: ExchangeClient) -> None:
    placed, duplicate = client.place_order("ETHUSDT", Side.BUY, D("1900"), D("0.5"), "rpcA1")

    fetched = client.get_order("ETHUSDT", client_order_id="rpcA1")
    canceled = client.cancel_order("ETHUSDT", order_id=placed.order_id)

    assert not duplicate
    assert (placed.status, placed.price, placed.quantity) == (OrderStatus.NEW, D(1900), D("0.5"))
    assert fetched == placed
    assert canceled.status is OrderStatus.CANCELED
    gone = client.get_order("ETHUSDT", order_id=placed.order_id)
    assert gone is not None and gone.status is OrderStatus.CANCELED


def test_duplicate_client_order_id_returns_the_same_order(client: ExchangeClient) -> None:
    first, _ = client.place_order("BTCUSDT", "BUY", "20000", "0.001", "rpcDup1")

    again, duplicate = client.place_order("BTCUSDT", "BUY", "20000", "0.001", "rpcDup1")

    assert duplicate
    assert again == first
    assert [
        o.order_id for o in client.open_orders("BTCUSDT") if o.client_order_id == "rpcDup1"
    ] == [first.order_id]


def test_post_only_that_would_cross_comes_back_rejected(client: ExchangeClient) -> None:
    order, _ = client.place_order("BTCUSDT", "SELL", "29000", "0.001", "rpcPO1", post_only=True)

    assert order.status is OrderStatus.REJECTED
    assert "would cross" in order.reject_reason


def test_open_orders_of_all_symbols(client: ExchangeClient) -> None:
    client.place_order("SOLUSDT", "BUY", "90", "1", "rpcOpen1")
    client.place_order("ETHUSDT", "SELL", "2100", "0.01", "rpcOpen2")

    ids = {o.client_order_id for o in client.open_orders()}

    assert {"rpcOpen1", "rpcOpen2"} <= ids
    assert all(o.symbol == "SOLUSDT" for o in client.open_orders("SOLUSDT"))


def test_cancel_all_with_a_prefix(client: ExchangeClient) -> None:
    for i in range(3):
        client.place_order("SOLUSDT", "BUY", f"8{i}", "1", f"rpcCA{i}")
    client.place_order("SOLUSDT", "BUY", "70", "1", "rpcKeep1")

    canceled = client.cancel_all("SOLUSDT", "rpcCA")

    assert sorted(o.client_order_id for o in canceled) == ["rpcCA0", "rpcCA1", "rpcCA2"]
    assert all(o.status is OrderStatus.CANCELED for o in canceled)
    assert "rpcKeep1" in {o.client_order_id for o in client.open_orders("SOLUSDT")}


def test_a_fill_shows_in_trades_positions_and_account(
    client: ExchangeClient, control: SimControlClient
) -> None:
    before = client.account()
    order, _ = client.place_order("ETHUSDT", "BUY", "1990", "2", "rpcFill1")
    since = order.created_ms

    control.inject_price("ETHUSDT", "1990")

    trades = [
        t for t in client.trades("ETHUSDT", since_ms=since) if t.client_order_id == "rpcFill1"
    ]
    assert [(t.price, t.quantity, t.fee, t.is_maker, t.side) for t in trades] == [
        (D(1990), D(2), D("0.796"), True, Side.BUY)  # 1990 x 2 x 0.0002
    ]
    position = client.positions("ETHUSDT")[0]
    assert (position.quantity, position.entry_price, position.mark_price) == (
        D(2),
        D(1990),
        D(1990),
    )
    after = client.account()
    assert after.fees - before.fees == D("0.796")
    assert after.balances[0].free == before.balances[0].free - D("0.796")
    assert {p.symbol for p in client.positions()} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_batch_place_and_batch_cancel(client: ExchangeClient) -> None:
    results = client.batch_place(
        [
            OrderRequest(
                "BTCUSDT", "BUY", price="21000", quantity="0.001", client_order_id="rpcB1"
            ),
            OrderRequest(
                "BTCUSDT", "BUY", price="21000.001", quantity="0.001", client_order_id="rpcB2"
            ),  # off tick
            OrderRequest(
                "BTCUSDT", "BUY", price="21000", quantity="0.001", client_order_id="rpcB1"
            ),  # duplicate
        ]
    )

    assert results[0].order is not None and not results[0].duplicate
    assert isinstance(results[1].error, ValidationError)
    assert "tick size" in str(results[1].error)
    assert results[2].order == results[0].order and results[2].duplicate

    canceled = client.batch_cancel(
        [CancelRequest("BTCUSDT", client_order_id="rpcB1"), CancelRequest("BTCUSDT", order_id="no")]
    )

    assert canceled[0].order is not None and canceled[0].order.status is OrderStatus.CANCELED
    assert isinstance(canceled[1].error, OrderNotFoundError)


def test_cancel_of_a_finished_order_is_order_not_found(
    client: ExchangeClient, control: SimControlClient
) -> None:
    client.place_order("SOLUSDT", "SELL", "150", "1", "rpcDone1")
    control.fill_order("SOLUSDT", client_order_id="rpcDone1")

    with pytest.raises(OrderNotFoundError, match="already FILLED"):
        client.cancel_order("SOLUSDT", client_order_id="rpcDone1")


def test_get_order_of_an_unknown_order_is_none(client: ExchangeClient) -> None:
    assert client.get_order("BTCUSDT", order_id="does-not-exist") is None


def test_klines_and_trades_answer_with_empty_lists_when_nothing_happened(
    client: ExchangeClient,
) -> None:
    assert client.klines("BTCUSDT", "1h", limit=5) == []
    assert client.trades("BTCUSDT", since_ms=2**62) == []


def test_market_and_ioc_orders(client: ExchangeClient) -> None:
    market, _ = client.place_order("SOLUSDT", "BUY", "", "2", "rpcMkt1", order_type="MARKET")
    ioc, _ = client.place_order("SOLUSDT", "BUY", "50", "1", "rpcIoc1", time_in_force="IOC")

    assert (market.status, market.executed_qty) == (OrderStatus.FILLED, D(2))
    assert (ioc.status, ioc.executed_qty) == (OrderStatus.EXPIRED, D(0))
