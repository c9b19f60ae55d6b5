"""GRID.md "Cases every implementation must pass", run through a tiny pure simulator."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.grid.logic import decide, with_anchor
from mmtasks.grid.models import (
    CancelOrder,
    GridConfig,
    GridState,
    Market,
    PlaceOrder,
    RiskConfig,
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
RISK = RiskConfig()


def grid_config(mode: str, **overrides: object) -> GridConfig:
    values: dict[str, object] = {
        "mode": mode,
        "interval": "10",
        "buy_levels": 2,
        "sell_levels": 2,
        "order_qty": "1",
    }
    values.update(overrides)
    return GridConfig.model_validate(values)


@dataclass
class Sim:
    """The GRID.md model: reached orders fill completely at their own price, new ones rest."""

    config: GridConfig
    state: GridState
    risk: RiskConfig = RISK
    fills: list[str] = field(default_factory=list)
    cash: Decimal = Decimal(0)  # sell proceeds minus buy costs
    closed_units: Decimal = Decimal(0)  # quantity filled by closing orders
    cancelled: list[str] = field(default_factory=list)
    now_ms: int = 0

    def step(self, price: Decimal) -> list[PlaceOrder | CancelOrder]:
        self.now_ms += 1000
        if self.state.anchor is None:
            self.state = with_anchor(self.state, price, RULES.tick_size)
        else:
            self.fill_reached(price)
        return self.decide_and_execute(price)

    def decide_and_execute(self, price: Decimal) -> list[PlaceOrder | CancelOrder]:
        actions = decide(
            self.state, Market(price, self.now_ms), self.config, self.risk, RULES, self.now_ms
        )
        if self.risk.max_open_orders is not None:
            # Strict: orders being cancelled still rest when the new ones arrive.
            places = [a for a in actions if isinstance(a, PlaceOrder)]
            assert len(self.resting()) + len(places) <= self.risk.max_open_orders
        self.execute(actions)
        return actions

    def fill_reached(self, price: Decimal) -> None:
        for slot in sorted(self.state.slots.values(), key=lambda s: s.level):
            if slot.status is not SlotStatus.LOCKED or slot.price is None or slot.qty is None:
                continue
            reached = slot.price >= price if slot.side is Side.BUY else slot.price <= price
            if reached:
                assert slot.client_order_id is not None
                self.state, _ = apply_order_update(
                    self.state,
                    slot.client_order_id,
                    slot.venue_order_id,
                    OrderStatus.FILLED,
                    slot.qty,
                    slot.price,
                    Decimal(0),
                    f"t{len(self.fills)}",
                    self.now_ms,
                )
                self.fills.append(f"{slot.side} {slot.price}")
                notional = slot.price * slot.qty
                self.cash += notional if slot.side is Side.SELL else -notional
                if slot.closing:
                    self.closed_units += slot.qty

    def execute(self, actions: list[PlaceOrder | CancelOrder]) -> None:
        for action in actions:
            if isinstance(action, CancelOrder):
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
            else:
                self.state = mark_pending(self.state, action)
                venue_id = f"v{action.client_order_id}"
                self.state = mark_acked(self.state, action.client_order_id, venue_id)

    def resting(self) -> list[str]:
        return sorted(
            f"{s.side} {s.price}{' closing' if s.closing else ''}"
            for s in self.state.slots.values()
            if s.has_order
        )


def run(mode: str, path: str, *, reduce_only: bool = False) -> Sim:
    sim = Sim(grid_config(mode), GridState(symbol=SYMBOL, reduce_only=reduce_only))
    for text in path.split():
        sim.step(Decimal(text))
    return sim


def as_list(text: str) -> list[str]:
    return [] if not text else [item.strip() for item in text.split(",")]


CASES = [
    # mode, price path, fills, resting after, cancelled, position, realized
    ("neutral", "100", "", "BUY 90, BUY 80, SELL 110, SELL 120", "", "0", "0"),
    ("long", "100", "", "BUY 90, BUY 80", "", "0", "0"),
    ("long", "100 96", "", "BUY 90, BUY 80", "", "0", "0"),
    ("long", "100 94", "", "BUY 90, BUY 80, BUY 70", "", "0", "0"),
    ("long", "100 89 95", "BUY 90", "BUY 80, BUY 70, SELL 100 closing", "", "1", "0"),
    ("long", "100 89 95 100", "BUY 90, SELL 100", "BUY 90, BUY 80, BUY 70", "", "0", "10"),
    (
        "long",
        "100 89 79 75",
        "BUY 90, BUY 80",
        "BUY 70, BUY 60, SELL 90 closing, SELL 100 closing",
        "",
        "2",
        "0",
    ),
    (
        "long",
        "100 89 79 75 69",
        "BUY 90, BUY 80, BUY 70",
        "BUY 60, BUY 50, SELL 80 closing, SELL 90 closing",
        "SELL 100",
        "3",
        "0",
    ),
    ("long", "100 111", "", "BUY 100, BUY 90", "BUY 80", "0", "0"),
    (
        "neutral",
        "100 111",
        "SELL 110",
        "BUY 100 closing, BUY 90, SELL 120, SELL 130",
        "BUY 80",
        "-1",
        "0",
    ),
    (
        "neutral",
        "100 111 95",
        "SELL 110, BUY 100",
        "BUY 90, BUY 80, SELL 100, SELL 110, SELL 120",
        "BUY 80, SELL 130",
        "0",
        "10",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_grid_md_cases(case: tuple[str, str, str, str, str, str, str]) -> None:
    mode, path, fills, resting, cancelled, position, realized = case

    sim = run(mode, path)

    assert sim.fills == as_list(fills)
    assert sim.resting() == sorted(as_list(resting))
    assert sim.cancelled == as_list(cancelled)
    assert sim.state.position.qty == Decimal(position)
    assert sim.state.position.realized_pnl == Decimal(realized)


def test_reduce_only_from_the_start_places_nothing() -> None:
    sim = run("long", "100", reduce_only=True)

    assert sim.resting() == []
    assert sim.state.position.qty == 0


LIMITS = [RISK, RiskConfig(max_open_orders=4, max_position=Decimal(3))]


@pytest.mark.parametrize("risk", LIMITS, ids=["no-limits", "limits"])
@pytest.mark.parametrize("mode", ["long", "neutral"])
@pytest.mark.parametrize("seed", range(8))
def test_random_walk_keeps_invariants(mode: str, seed: int, risk: RiskConfig) -> None:
    rng = random.Random(seed)
    sim = Sim(grid_config(mode, buy_levels=3, sell_levels=3), GridState(symbol=SYMBOL), risk)
    price = Decimal(100)
    for _ in range(150):
        sim.step(price)
        # Settles on the same price within two more evaluations (a max_open_orders swap waits
        # for its cancel), then is a fixed point: nothing is placed and cancelled in a loop.
        for _ in range(2):
            sim.decide_and_execute(price)
        assert sim.decide_and_execute(price) == []
        if risk.max_position is not None:
            assert abs(sim.state.position.qty) <= risk.max_position
        prices = [s.price for s in sim.state.slots.values() if s.has_order]
        assert len(prices) == len(set(prices)), "two of our orders at one price"
        held = sum((s.inventory for s in sim.state.slots.values()), Decimal(0))
        assert held == sim.state.position.qty
        if mode == "long":
            assert sim.state.position.qty >= 0
        # Average-cost books agree with the cash: realized + unrealized = cash + position value.
        position = sim.state.position
        booked = position.realized_pnl + position.unrealized_pnl(price)
        assert abs(booked - (sim.cash + position.qty * price)) < Decimal("1e-9")
        if all(s.inventory == 0 for s in sim.state.slots.values()):
            # With every slot flat, each closed unit was one round trip earning one interval.
            assert position.realized_pnl == 10 * sim.closed_units
        price = max(Decimal(5), price + Decimal(rng.randint(-170, 170)) / 10)
