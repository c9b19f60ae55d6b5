"""Matching: crossing fills, partial fills, IOC, market orders, post-only, reduce-only."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.sim import SimExchange
from mmtasks.venue import OrderRequest, OrderType, OrderUpdate, TimeInForce

pytestmark = pytest.mark.timeout(10)

D = Decimal


def limit(
    side: Side,
    price: str,
    qty: str,
    coid: str = "",
    symbol: str = "BTCUSDT",
    *,
    post_only: bool = False,
    reduce_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        symbol, side, D(qty), D(price), coid, post_only=post_only, reduce_only=reduce_only
    )


def test_resting_buy_fills_at_its_own_price_when_the_price_trades_through(
    exchange: SimExchange, updates: list[OrderUpdate]
) -> None:
    order, _ = exchange.place_order(limit(Side.BUY, "29990", "0.1", "b1"))

    exchange.apply_price("BTCUSDT", D("29980.5"))

    filled = exchange.get_order("BTCUSDT", order_id=order.order_id)
    assert (filled.status, filled.executed_qty, filled.avg_price) == (
        OrderStatus.FILLED,
        D("0.1"),
        D("29990"),
    )
    trade = updates[-1].last_trade
    assert trade is not None
    assert (trade.price, trade.quantity, trade.is_maker) == (D("29990"), D("0.1"), True)
    assert exchange.open_orders() == []


@pytest.mark.parametrize(
    ("side", "price", "tick", "fills"),
    [
        (Side.BUY, "29990", "29990", True),  # touching the price fills
        (Side.BUY, "29990", "29990.01", False),
        (Side.SELL, "30010", "30010", True),
        (Side.SELL, "30010", "30009.99", False),
    ],
)
def test_a_price_fills_only_the_orders_it_reaches(
    exchange: SimExchange, side: Side, price: str, tick: str, fills: bool
) -> None:
    exchange.place_order(limit(side, price, "0.1", "x1"))

    exchange.apply_price("BTCUSDT", D(tick))

    status = exchange.get_order("BTCUSDT", client_order_id="x1").status
    assert status is (OrderStatus.FILLED if fills else OrderStatus.NEW)


def test_liquidity_limits_each_tick_so_fills_are_partial_and_cumulative(
    make_exchange: Callable[..., SimExchange],
) -> None:
    exchange = make_exchange(liquidity="0.01")
    seen: list[OrderUpdate] = []
    exchange.add_listener("order", seen.append)
    exchange.place_order(limit(Side.BUY, "29990", "0.03", "p1"))

    for price in ("29990", "29980", "29995", "29990"):
        exchange.apply_price("BTCUSDT", D(price))

    assert [(u.order.status, u.order.executed_qty) for u in seen] == [
        (OrderStatus.NEW, D(0)),
        (OrderStatus.PARTIALLY_FILLED, D("0.01")),
        (OrderStatus.PARTIALLY_FILLED, D("0.02")),
        (OrderStatus.FILLED, D("0.03")),
    ]
    assert [u.seq for u in seen] == sorted({u.seq for u in seen})


def test_marketable_limit_fills_at_once_as_taker_at_the_last_price(
    exchange: SimExchange,
) -> None:
    order, duplicate = exchange.place_order(limit(Side.BUY, "30100", "0.1", "t1"))

    assert not duplicate
    assert (order.status, order.avg_price) == (OrderStatus.FILLED, D("30000"))
    trade = exchange.trades("BTCUSDT")[0]
    assert (trade.is_maker, trade.fee) == (False, D("1.2"))  # 30000 x 0.1 x 0.0004


def test_ioc_remainder_expires(make_exchange: Callable[..., SimExchange]) -> None:
    exchange = make_exchange(liquidity="0.01")
    cmd = OrderRequest(
        "BTCUSDT", Side.BUY, D("0.03"), D("30010"), "i1", time_in_force=TimeInForce.IOC
    )

    order, _ = exchange.place_order(cmd)

    assert (order.status, order.executed_qty, order.avg_price) == (
        OrderStatus.EXPIRED,
        D("0.01"),
        D("30000"),
    )
    assert exchange.open_orders() == []


def test_ioc_that_does_not_cross_expires_unfilled(exchange: SimExchange) -> None:
    cmd = OrderRequest("BTCUSDT", Side.SELL, D("0.1"), D("30010"), time_in_force=TimeInForce.IOC)

    order, _ = exchange.place_order(cmd)

    assert (order.status, order.executed_qty) == (OrderStatus.EXPIRED, D(0))


def test_market_order_fills_at_the_last_price(exchange: SimExchange) -> None:
    cmd = OrderRequest("ETHUSDT", Side.SELL, D("2"), order_type=OrderType.MARKET)

    order, _ = exchange.place_order(cmd)

    assert (order.status, order.avg_price, order.price) == (OrderStatus.FILLED, D(2000), D(0))
    assert exchange.positions("ETHUSDT")[0].quantity == D(-2)


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "30000"), (Side.SELL, "29999.99")])
def test_post_only_that_would_cross_is_rejected_and_never_rests(
    exchange: SimExchange, side: Side, price: str
) -> None:
    order, _ = exchange.place_order(limit(side, price, "0.1", "po1", post_only=True))

    assert order.status is OrderStatus.REJECTED
    assert "would cross" in order.reject_reason
    assert exchange.open_orders() == []
    assert exchange.trades() == []


def test_post_only_that_rests_is_accepted(exchange: SimExchange) -> None:
    order, _ = exchange.place_order(limit(Side.BUY, "29999.99", "0.1", "po2", post_only=True))

    assert order.status is OrderStatus.NEW
    assert [o.order_id for o in exchange.open_orders()] == [order.order_id]


@pytest.mark.parametrize(
    ("position_qty", "side", "qty", "reason"),
    [
        ("0", Side.SELL, "0.1", "would increase"),  # flat: nothing to reduce
        ("0.1", Side.BUY, "0.1", "would increase"),
        ("0.1", Side.SELL, "0.2", "would flip"),
    ],
)
def test_reduce_only_that_would_increase_or_flip_is_rejected(
    exchange: SimExchange, position_qty: str, side: Side, qty: str, reason: str
) -> None:
    if D(position_qty):
        exchange.place_order(limit(Side.BUY, "30000", position_qty, "open1"))

    order, _ = exchange.place_order(limit(side, "30000", qty, "ro1", reduce_only=True))

    assert order.status is OrderStatus.REJECTED
    assert reason in order.reject_reason
    assert exchange.positions("BTCUSDT")[0].quantity == D(position_qty)


def test_reduce_only_that_reduces_is_filled(exchange: SimExchange) -> None:
    exchange.place_order(limit(Side.BUY, "30000", "0.1", "open1"))
    exchange.place_order(limit(Side.SELL, "30050", "0.1", "close1", reduce_only=True))

    exchange.apply_price("BTCUSDT", D("30050"))

    position = exchange.positions("BTCUSDT")[0]
    assert (position.quantity, position.realized_pnl) == (D(0), D(5))


def test_resting_reduce_only_never_flips_when_the_position_shrank_meanwhile(
    exchange: SimExchange,
) -> None:
    exchange.place_order(limit(Side.BUY, "30000", "0.2", "open1"))
    exchange.place_order(limit(Side.SELL, "30050", "0.2", "close1", reduce_only=True))
    exchange.place_order(limit(Side.SELL, "29000", "0.1", "sell1"))  # marketable: fills now

    exchange.apply_price("BTCUSDT", D("30050"))

    closing = exchange.get_order("BTCUSDT", client_order_id="close1")
    assert (closing.status, closing.executed_qty) == (OrderStatus.CANCELED, D("0.1"))
    assert exchange.positions("BTCUSDT")[0].quantity == D(0)


def test_fill_order_from_the_exchange_side_fills_part_then_the_rest(
    exchange: SimExchange,
) -> None:
    exchange.place_order(limit(Side.SELL, "30100", "0.5", "f1"))

    part = exchange.fill_order("BTCUSDT", client_order_id="f1", quantity=D("0.2"))
    rest = exchange.fill_order("BTCUSDT", client_order_id="f1")

    assert (part.status, part.executed_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.2"))
    assert (rest.status, rest.executed_qty) == (OrderStatus.FILLED, D("0.5"))
    assert exchange.positions("BTCUSDT")[0].entry_price == D(30100)


def test_exchange_cancel_cancels_with_a_reason(exchange: SimExchange) -> None:
    exchange.place_order(limit(Side.BUY, "29000", "0.1", "c1"))

    order = exchange.exchange_cancel("BTCUSDT", client_order_id="c1")

    assert order.status is OrderStatus.CANCELED
    assert "exchange" in order.reject_reason
    assert exchange.open_orders() == []


def test_a_long_running_exchange_forgets_its_oldest_closed_orders_never_an_open_one() -> None:
    from mmtasks.errors import OrderNotFoundError
    from mmtasks.sim import SimConfig

    exchange = SimExchange(SimConfig(symbols=("BTCUSDT",), id_prefix="", max_orders_kept=3))
    exchange.place_order(limit(Side.BUY, "29000", "0.1", "rest"))
    for n in range(5):  # five orders placed and cancelled: closed, oldest first
        exchange.place_order(limit(Side.BUY, "29100", "0.1", f"c{n}"))
        exchange.cancel_order("BTCUSDT", client_order_id=f"c{n}")

    for gone in ("c0", "c1"):
        with pytest.raises(OrderNotFoundError):
            exchange.get_order("BTCUSDT", client_order_id=gone)
    kept = [exchange.get_order("BTCUSDT", client_order_id=f"c{n}").status for n in (2, 3, 4)]
    assert kept == [OrderStatus.CANCELED] * 3
    assert exchange.get_order("BTCUSDT", client_order_id="rest").status is OrderStatus.NEW
    assert [o.client_order_id for o in exchange.open_orders("BTCUSDT")] == ["rest"]
