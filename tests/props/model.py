"""The spec's case model around the pure core: a tiny venue, then decisions to a fixed point.

On each price after the first (which anchors the grid): resting orders the price reaches fill
completely at their own price as makers — buys from the highest price down, then sells from
the lowest price up. Then the grid decides on that price; cancels are confirmed and places rest
at once, and a placed order the price has already passed fills at once at the price as a
taker (buys first, highest first, then sells, lowest first). The grid decides again on the
same price until a decision returns nothing (docs/strategy.md, "Worked examples").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from mmtasks.domain import OrderStatus, Side
from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.models import (
    Action,
    CancelOrder,
    GridConfig,
    GridState,
    Market,
    PlaceOrder,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
)
from mmtasks.grid.transitions import apply_order_update, mark_acked, mark_pending

SYMBOL = "BTCUSDT"
RULES = SymbolRules(
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal(0),
)
MAX_ROUNDS = 20  # decisions on one price before the model calls it a loop


class NoFixedPointError(AssertionError):
    """The grid kept acting on one unchanged price."""


@dataclass(frozen=True)
class Fill:
    """One venue trade of ours, in venue order."""

    trade_id: str
    level: Decimal
    side: Side
    order_price: Decimal
    price: Decimal
    qty: Decimal
    maker: bool
    closing: bool
    fee: Decimal

    def __str__(self) -> str:
        return f"{self.side} {self.order_price}"


@dataclass(frozen=True)
class Evaluation:
    """One decision: the price it saw and the actions it returned."""

    price: Decimal
    actions: tuple[Action, ...]


@dataclass
class GridModel:
    """The grid on the spec's model venue; fills, cancels and every decision are recorded."""

    config: GridConfig
    risk: RiskConfig = field(default_factory=RiskConfig)
    rules: SymbolRules = RULES
    reduce_only: bool = False
    maker_fee_rate: Decimal = Decimal(0)
    taker_fee_rate: Decimal = Decimal(0)
    state: GridState = field(init=False)
    fills: list[Fill] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    now_ms: int = 0
    # The decision under test: the core's, or the reference it is compared with.
    decide: Callable[..., list[Action]] = decide

    def __post_init__(self) -> None:
        self.state = GridState(symbol=SYMBOL, reduce_only=self.reduce_only)

    # -- the path ------------------------------------------------------------------------------
    def step(self, price: Decimal) -> None:
        """Trade the venue at price, then let the grid decide until nothing changes."""
        self.now_ms += 1000
        if self.state.anchor is None:
            self.state = with_anchor(self.state, price, self.rules.tick_size)
        else:
            self._fill_reached(price)
        self.settle(price)

    def settle(self, price: Decimal) -> None:
        """Decide and execute on price until a decision returns nothing."""
        for _ in range(MAX_ROUNDS):
            actions = self.decide(
                self.state,
                Market(price, self.now_ms),
                self.config,
                self.risk,
                self.rules,
                self.now_ms,
            )
            self.evaluations.append(Evaluation(price, tuple(actions)))
            if not actions:
                return
            self._execute(actions, price)
        raise NoFixedPointError(f"no fixed point at price {price} after {MAX_ROUNDS} decisions")

    # -- views -----------------------------------------------------------------------------------
    def orders(self) -> list[Slot]:
        """Return the slots holding an order (in flight or resting)."""
        return [s for s in self.state.slots.values() if s.has_order]

    def resting(self) -> list[str]:
        """Return 'SIDE price[ closing]' of every resting order, sorted."""
        return sorted(f"{s.side} {s.price}{' closing' if s.closing else ''}" for s in self.orders())

    # -- the venue -------------------------------------------------------------------------------
    def _fill_reached(self, price: Decimal) -> None:
        locked = [s for s in self.orders() if s.status is SlotStatus.LOCKED]
        buys = sorted(
            (s for s in locked if s.side is Side.BUY and s.price is not None and s.price >= price),
            key=lambda s: -_price(s),
        )
        sells = sorted(
            (s for s in locked if s.side is Side.SELL and s.price is not None and s.price <= price),
            key=_price,
        )
        for slot in [*buys, *sells]:
            self._fill(slot, _price(slot), maker=True)

    def _execute(self, actions: list[Action], price: Decimal) -> None:
        places = [a for a in actions if isinstance(a, PlaceOrder)]
        for place in places:
            self.state = mark_pending(self.state, place)
        # Until the venue confirms, an order being cancelled still occupies its price.
        prices = [s.price for s in self.orders()]
        assert len(prices) == len(set(prices)), f"two of our orders at one price: {prices}"
        for action in actions:
            if isinstance(action, CancelOrder):
                self._cancel(action)
        for place in places:
            self.state = mark_acked(self.state, place.client_order_id, f"v{place.client_order_id}")
        crossed_buys = sorted(
            (p for p in places if p.side is Side.BUY and p.price >= price), key=lambda p: -p.price
        )
        crossed_sells = sorted(
            (p for p in places if p.side is Side.SELL and p.price <= price), key=lambda p: p.price
        )
        for place in [*crossed_buys, *crossed_sells]:
            slot = self.state.slot_at(place.level)
            if slot.client_order_id == place.client_order_id:
                self._fill(slot, price, maker=False)

    def _cancel(self, action: CancelOrder) -> None:
        slot = self.state.slot_at(action.level)
        self.cancelled.append(f"{slot.side} {slot.price}")
        self.state, _ = apply_order_update(
            self.state,
            action.client_order_id,
            action.venue_order_id,
            OrderStatus.CANCELED,
            slot.filled_qty,
            None,
            Decimal(0),
            None,
            self.now_ms,
        )

    def _fill(self, slot: Slot, price: Decimal, *, maker: bool) -> None:
        assert slot.client_order_id is not None and slot.qty is not None
        assert slot.side is not None and slot.price is not None
        qty = slot.qty - slot.filled_qty
        fee = price * qty * (self.maker_fee_rate if maker else self.taker_fee_rate)
        trade_id = f"t{len(self.fills) + 1}"
        self.state, _ = apply_order_update(
            self.state,
            slot.client_order_id,
            slot.venue_order_id,
            OrderStatus.FILLED,
            slot.qty,
            price,
            fee,
            trade_id,
            self.now_ms,
        )
        self.fills.append(
            Fill(trade_id, slot.level, slot.side, slot.price, price, qty, maker, slot.closing, fee)
        )


def _price(slot: Slot) -> Decimal:
    assert slot.price is not None
    return slot.price
