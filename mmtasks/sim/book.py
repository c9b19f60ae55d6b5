"""Live order state and the resting orders of one symbol, indexed by price for fast matching."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal

from mmtasks.domain import OrderStatus, Side
from mmtasks.venue.types import Order, OrderType, TimeInForce

ZERO = Decimal(0)


@dataclass(slots=True)
class OrderState:
    """The engine's mutable record of an order; the outside world only sees snapshots."""

    symbol: str
    order_id: str
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    quantity: Decimal
    post_only: bool
    reduce_only: bool
    created_ms: int
    updated_ms: int
    status: OrderStatus = OrderStatus.NEW
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO  # sum of price x qty over fills, for the average price
    reject_reason: str = ""

    @property
    def remaining(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.quantity - self.executed_qty

    def snapshot(self) -> Order:
        """Return an immutable copy of the current state."""
        avg = self.cum_quote / self.executed_qty if self.executed_qty else ZERO
        return Order(avg_price=avg, **{name: getattr(self, name) for name in _HELD})


# The order's fields the state holds as they are, by their (shared) names; the average price is
# derived from cum_quote.
_HELD = tuple(f.name for f in fields(Order) if f.name != "avg_price")


class _Ladder:
    """Orders of one side grouped by price, prices kept sorted ascending."""

    def __init__(self) -> None:
        self.prices: list[Decimal] = []
        self.levels: dict[Decimal, dict[str, OrderState]] = {}

    def add(self, order: OrderState) -> None:
        level = self.levels.get(order.price)
        if level is None:
            level = self.levels[order.price] = {}
            insort(self.prices, order.price)
        level[order.order_id] = order

    def remove(self, order: OrderState) -> bool:
        level = self.levels.get(order.price)
        if level is None or level.pop(order.order_id, None) is None:
            return False
        if not level:
            del self.levels[order.price]
            del self.prices[bisect_left(self.prices, order.price)]
        return True

    def at(self, prices: list[Decimal]) -> list[OrderState]:
        # Copy: the caller fills (and so removes) orders while walking the list.
        return [order for price in prices for order in self.levels[price].values()]


class RestingOrders:
    """Open orders of one symbol; answers which orders a new price trades through."""

    def __init__(self) -> None:
        self._bids = _Ladder()
        self._asks = _Ladder()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[OrderState]:
        for ladder in (self._bids, self._asks):
            for price in ladder.prices:
                yield from ladder.levels[price].values()

    def add(self, order: OrderState) -> None:
        """Rest an order on the book."""
        (self._bids if order.side is Side.BUY else self._asks).add(order)
        self._count += 1

    def remove(self, order: OrderState) -> None:
        """Take an order off the book (no-op when it is not there)."""
        ladder = self._bids if order.side is Side.BUY else self._asks
        if ladder.remove(order):
            self._count -= 1

    def crossed_by(self, price: Decimal) -> list[OrderState]:
        """Return buys priced >= price (best first), then sells priced <= price (best first)."""
        bids = self._bids.prices
        asks = self._asks.prices
        crossed_bids = bids[bisect_left(bids, price) :]
        crossed_bids.reverse()
        return self._bids.at(crossed_bids) + self._asks.at(asks[: bisect_right(asks, price)])
