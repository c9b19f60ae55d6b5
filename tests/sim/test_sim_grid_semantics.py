"""What the grid relies on from a venue: fill order in one tick, crossed orders as takers at the
market price, and reduce-only judged on the net position."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.sim import SimExchange
from mmtasks.venue import OrderRequest

pytestmark = pytest.mark.timeout(10)

D = Decimal
SYMBOL = "GRIDUSDT"  # generic rules: tick 0.01, step 0.001, start price 100
MAKER, TAKER = D("0.0002"), D("0.0004")


@pytest.fixture
def venue(make_exchange: Callable[..., SimExchange]) -> SimExchange:
    return make_exchange(symbols=(SYMBOL,))


def limit(
    side: Side, price: str, coid: str, qty: str = "1", *, reduce_only: bool = False
) -> OrderRequest:
    return OrderRequest(SYMBOL, side, D(qty), D(price), coid, reduce_only=reduce_only)


def trades(venue: SimExchange) -> list[tuple[str, str, Decimal, bool]]:
    return [(t.client_order_id, t.side.value, t.price, t.is_maker) for t in venue.trades(SYMBOL)]


@pytest.mark.parametrize(
    ("orders", "tick", "expected"),
    [
        # buys from the highest price down
        ([(Side.BUY, "80"), (Side.BUY, "95"), (Side.BUY, "90")], "75", ["b95", "b90", "b80"]),
        # sells from the lowest price up
        (
            [(Side.SELL, "120"), (Side.SELL, "105"), (Side.SELL, "110")],
            "125",
            ["s105", "s110", "s120"],
        ),
    ],
)
def test_one_tick_fills_buys_highest_first_and_sells_lowest_first(
    venue: SimExchange, orders: list[tuple[Side, str]], tick: str, expected: list[str]
) -> None:
    for side, price in orders:
        venue.place_order(limit(side, price, f"{side.value[0].lower()}{price}"))

    venue.apply_price(SYMBOL, D(tick))

    assert [t[0] for t in trades(venue)] == expected
    assert all(maker for *_, maker in trades(venue))


@pytest.mark.parametrize(
    ("side", "price", "reduce_only"),
    [
        (Side.SELL, "100", True),  # long mode: the closing SELL after a gap up
        (Side.SELL, "100", False),  # neutral mode: the same, without reduce-only
    ],
)
def test_a_closing_order_the_market_passed_fills_at_once_at_the_market_as_taker(
    venue: SimExchange, side: Side, price: str, reduce_only: bool
) -> None:
    venue.place_order(limit(Side.BUY, "90", "b90"))
    venue.apply_price(SYMBOL, D(89))  # BUY 90 fills as maker
    venue.apply_price(SYMBOL, D(130))  # a gap past the closing price

    order, _ = venue.place_order(limit(side, price, "c100", reduce_only=reduce_only))

    assert (order.status, order.avg_price) == (OrderStatus.FILLED, D(130))
    assert trades(venue)[-1] == ("c100", "SELL", D(130), False)
    fill = venue.trades(SYMBOL)[-1]
    assert fill.fee == D(130) * TAKER
    position = venue.positions(SYMBOL)[0]
    assert (position.quantity, position.realized_pnl) == (D(0), D(40))
    assert position.fees == D(90) * MAKER + D(130) * TAKER


@pytest.mark.parametrize(
    ("reduce_only", "status", "position", "realized"),
    [
        # The path: +1 from BUY 90; at 100 SELL 80 fills first, the net is flat, and a
        # reduce-only SELL 100 no longer reduces anything: the venue cancels it.
        (True, OrderStatus.CANCELED, "0", "-10"),
        # Without reduce-only (neutral mode) it fills as a maker and opens a short at 100.
        (False, OrderStatus.FILLED, "-1", "-10"),
    ],
)
def test_reduce_only_is_judged_on_the_net_position_at_fill_time(
    venue: SimExchange, reduce_only: bool, status: OrderStatus, position: str, realized: str
) -> None:
    venue.place_order(limit(Side.BUY, "90", "b90"))
    venue.apply_price(SYMBOL, D(70))
    venue.place_order(limit(Side.SELL, "80", "s80"))
    closing, _ = venue.place_order(limit(Side.SELL, "100", "c100", reduce_only=reduce_only))
    assert closing.status is OrderStatus.NEW  # accepted: the net position was +1

    venue.apply_price(SYMBOL, D(100))

    after = venue.get_order(SYMBOL, client_order_id="c100")
    held = venue.positions(SYMBOL)[0]
    assert after.status is status
    if reduce_only:
        assert "no position" in after.reject_reason
    assert (held.quantity, held.realized_pnl) == (D(position), D(realized))
    assert [t[0] for t in trades(venue)] == ["b90", "s80"] + ([] if reduce_only else ["c100"])


@pytest.mark.parametrize(
    ("held", "side", "accepted"),
    [
        ("1", Side.SELL, True),
        ("1", Side.BUY, False),  # would increase a long
        ("-1", Side.BUY, True),
        ("-1", Side.SELL, False),  # would increase a short
        ("0", Side.SELL, False),  # flat: nothing to reduce
        ("0", Side.BUY, False),
    ],
)
def test_reduce_only_is_refused_at_placement_unless_it_reduces_the_net_position(
    venue: SimExchange, held: str, side: Side, accepted: bool
) -> None:
    if D(held) > 0:
        venue.place_order(limit(Side.BUY, "100", "open", held))  # marketable: fills now
    elif D(held) < 0:
        venue.place_order(limit(Side.SELL, "100", "open", held.lstrip("-")))
    price = "90" if side is Side.BUY else "110"  # resting, away from the market

    order, _ = venue.place_order(limit(side, price, "ro", reduce_only=True))

    assert (order.status is OrderStatus.NEW) is accepted
    assert venue.positions(SYMBOL)[0].quantity == D(held)
