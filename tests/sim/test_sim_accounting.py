"""Fees, positions, average cost, balances, duplicates, cancels and input validation."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sim_helpers import FakeClock

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import (
    OrderNotFoundError,
    OrderNotOpenError,
    UnknownSymbolError,
    ValidationError,
)
from mmtasks.sim import SimExchange
from mmtasks.venue import OrderRequest, OrderType, OrderUpdate, TimeInForce

pytestmark = pytest.mark.timeout(10)

D = Decimal


def buy(price: str, qty: str, coid: str = "", symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, D(qty), D(price), coid)


def sell(price: str, qty: str, coid: str = "", symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(symbol, Side.SELL, D(qty), D(price), coid)


def test_round_trip_fees_and_realized_pnl_are_exact(exchange: SimExchange) -> None:
    exchange.place_order(buy("29990", "0.1", "rt1"))
    exchange.apply_price("BTCUSDT", D("29990"))
    exchange.place_order(sell("30010", "0.1", "rt2"))

    exchange.apply_price("BTCUSDT", D("30010"))

    position = exchange.positions("BTCUSDT")[0]
    # maker fees: 29990 x 0.1 x 0.0002 = 0.5998 and 30010 x 0.1 x 0.0002 = 0.6002
    assert [t.fee for t in exchange.trades("BTCUSDT")] == [D("0.5998"), D("0.6002")]
    assert (position.quantity, position.entry_price) == (D(0), D(0))
    assert (position.realized_pnl, position.fees) == (D("2.0"), D("1.2"))
    account = exchange.account()
    assert account.balances[0].asset == "USDT"
    assert account.balances[0].free == D("1000000.8")  # start + 2.0 realized - 1.2 fees
    assert (account.realized_pnl, account.fees) == (D(2), D("1.2"))


def test_short_position_uses_average_cost(exchange: SimExchange) -> None:
    exchange.place_order(sell("2010", "1", "s1", "ETHUSDT"))
    exchange.place_order(sell("2030", "1", "s2", "ETHUSDT"))
    exchange.apply_price("ETHUSDT", D("2030"))  # both sells fill at their own prices
    exchange.place_order(buy("2000", "1", "b1", "ETHUSDT"))

    exchange.apply_price("ETHUSDT", D("2000"))

    position = exchange.positions("ETHUSDT")[0]
    assert (position.quantity, position.entry_price) == (D(-1), D(2020))
    assert position.realized_pnl == D(20)  # (2020 - 2000) x 1
    assert position.unrealized_pnl == D(20)  # marked at 2000, short 1 from 2020
    assert position.mark_price == D(2000)


def test_a_fill_through_zero_opens_the_rest_at_the_fill_price(exchange: SimExchange) -> None:
    exchange.place_order(buy("2000", "1", "l1", "ETHUSDT"))
    exchange.apply_price("ETHUSDT", D(2100))

    exchange.place_order(OrderRequest("ETHUSDT", Side.SELL, D(3), order_type=OrderType.MARKET))

    position = exchange.positions("ETHUSDT")[0]
    assert (position.quantity, position.entry_price, position.realized_pnl) == (
        D(-2),
        D(2100),
        D(100),
    )


def test_duplicate_client_order_id_returns_the_existing_order(
    exchange: SimExchange, updates: list[OrderUpdate]
) -> None:
    first, first_dup = exchange.place_order(buy("29000", "0.1", "dup1"))

    again, again_dup = exchange.place_order(buy("28000", "0.5", "dup1"))

    assert (first_dup, again_dup) == (False, True)
    assert again == first
    assert len(exchange.open_orders()) == 1
    assert len(updates) == 1


def test_the_same_client_order_id_on_another_symbol_is_a_new_order(
    exchange: SimExchange,
) -> None:
    exchange.place_order(buy("29000", "0.1", "same1"))

    _, duplicate = exchange.place_order(buy("1900", "0.1", "same1", "ETHUSDT"))

    assert not duplicate
    assert len(exchange.open_orders()) == 2


def test_a_rejected_order_keeps_its_client_order_id(exchange: SimExchange) -> None:
    cmd = OrderRequest("BTCUSDT", Side.BUY, D("0.1"), D("30000"), "rej1", post_only=True)
    exchange.place_order(cmd)

    again, duplicate = exchange.place_order(cmd)

    assert (again.status, duplicate) == (OrderStatus.REJECTED, True)


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (buy("100.005", "0.1"), "price 100.005 is not a multiple of tick size 0.01 for BTCUSDT"),
        (
            buy("30000", "0.000015"),
            "quantity 0.000015 is not a multiple of step size 0.00001 for BTCUSDT",
        ),
        (
            buy("100", "0.001", symbol="FOOUSDT"),
            "notional 0.1 (price 100 x quantity 0.001) is below min notional 1 for FOOUSDT",
        ),
        (
            buy("1000", "0.001"),
            "notional 1 (price 1000 x quantity 0.001) is below min notional 5 for BTCUSDT",
        ),
        (buy("30000", "0"), "quantity must be > 0, received 0"),
        (buy("-1", "0.1"), "price must be > 0, received -1"),
        (buy("20000", "0.1", "bad-id!"), "client_order_id must be 1-32 letters or digits"),
        (buy("20000", "0.1", "x" * 33), "client_order_id must be 1-32 letters or digits"),
        (
            OrderRequest(
                "BTCUSDT", Side.BUY, D("0.1"), order_type=OrderType.MARKET, post_only=True
            ),
            "post_only needs a LIMIT order",
        ),
        (OrderRequest("BTCUSDT", Side.BUY, D("0.1")), "price is required for a LIMIT order"),
    ],
)
def test_invalid_orders_raise_a_clear_error_and_change_nothing(
    make_exchange: Callable[..., SimExchange], cmd: OrderRequest, message: str
) -> None:
    exchange = make_exchange(("BTCUSDT", "FOOUSDT"))
    seen: list[OrderUpdate] = []
    exchange.add_listener("order", seen.append)

    with pytest.raises(ValidationError) as caught:
        exchange.place_order(cmd)

    assert message in str(caught.value)
    assert (exchange.open_orders(), seen, exchange.trades()) == ([], [], [])
    assert all(p.quantity == 0 for p in exchange.positions())


def test_unknown_symbol_is_a_validation_error_naming_the_known_ones(
    exchange: SimExchange,
) -> None:
    with pytest.raises(UnknownSymbolError, match="known symbols: BTCUSDT, ETHUSDT"):
        exchange.place_order(buy("1", "1", symbol="XRPUSDT"))


def test_generic_rules_apply_to_any_other_symbol(make_exchange: Callable[..., SimExchange]) -> None:
    exchange = make_exchange(("FOOUSDT",))

    rules = exchange.rules("FOOUSDT")

    assert (rules.base_asset, rules.quote_asset, rules.start_price) == ("FOO", "USDT", D(100))
    assert (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional) == (
        D("0.01"),
        D("0.001"),
        D("0.001"),
        D(1),
    )
    assert (rules.price_precision, rules.qty_precision) == (2, 3)


@pytest.mark.parametrize("fill", ["filled", "canceled"])
def test_cancel_of_a_finished_order_says_its_status(exchange: SimExchange, fill: str) -> None:
    order, _ = exchange.place_order(buy("29000", "0.1", "done1"))
    if fill == "filled":
        exchange.apply_price("BTCUSDT", D(29000))
    else:
        exchange.cancel_order("BTCUSDT", order_id=order.order_id)

    with pytest.raises(OrderNotOpenError, match=f"is already {fill.upper()}"):
        exchange.cancel_order("BTCUSDT", client_order_id="done1")


def test_cancel_of_an_unknown_order_is_not_found(exchange: SimExchange) -> None:
    with pytest.raises(OrderNotFoundError, match="not found for BTCUSDT"):
        exchange.cancel_order("BTCUSDT", order_id="nope")


def test_cancel_all_cancels_only_matching_prefix(exchange: SimExchange) -> None:
    exchange.place_order(buy("29000", "0.1", "gridA1"))
    exchange.place_order(buy("28000", "0.1", "gridA2"))
    exchange.place_order(buy("27000", "0.1", "other1"))

    canceled = exchange.cancel_all("BTCUSDT", "gridA")

    assert sorted(o.client_order_id for o in canceled) == ["gridA1", "gridA2"]
    assert [o.client_order_id for o in exchange.open_orders("BTCUSDT")] == ["other1"]


def test_trades_since_returns_trades_at_or_after_the_time(
    exchange: SimExchange, clock: FakeClock
) -> None:
    exchange.place_order(buy("31000", "0.1", "a1"))
    clock.advance(1000)
    exchange.place_order(buy("31000", "0.2", "a2"))

    later = exchange.trades("BTCUSDT", since_ms=clock.now_ms)

    assert [t.client_order_id for t in later] == ["a2"]
    assert len({t.trade_id for t in exchange.trades()}) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"side": "HOLD"}, "side must be BUY or SELL, received 'HOLD'"),
        ({"time_in_force": "FOK"}, "time_in_force must be GTC or IOC"),
        ({"quantity": 0.1}, "quantity must be a decimal string, received float 0.1"),
    ],
)
def test_order_request_refuses_wrong_types(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"symbol": "BTCUSDT", "side": "BUY", "quantity": D("0.1")}
    fields.update(changes)

    with pytest.raises(ValidationError, match=message):
        OrderRequest(**fields)  # type: ignore[arg-type]


def test_order_request_accepts_enum_names_and_decimal_strings() -> None:
    cmd = OrderRequest("BTCUSDT", "SELL", "1.50", "2", order_type="limit", time_in_force="IOC")  # type: ignore[arg-type]

    assert (cmd.side, cmd.order_type, cmd.time_in_force) == (
        Side.SELL,
        OrderType.LIMIT,
        TimeInForce.IOC,
    )
    assert (cmd.quantity, cmd.price) == (D("1.50"), D(2))
