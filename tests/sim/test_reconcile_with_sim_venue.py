"""Reconcile against the in-process sim venue: it returns cancels, the one executor sends them.

No Redis, no gRPC, no worker: reconcile is called with a snapshot built by hand and the
`SimVenue`, so each case runs in milliseconds.
"""

from __future__ import annotations

from decimal import Decimal

from mmtasks.domain import OrderStatus, Side
from mmtasks.grid import models as core
from mmtasks.grid.ids import client_order_id
from mmtasks.sim import SimConfig, SimExchange, SimVenue
from mmtasks.trading.effects import Effects
from mmtasks.trading.executor import execute
from mmtasks.trading.reconcile import TradeBook, reconcile
from mmtasks.trading.snapshot import Snapshot
from mmtasks.venue import Venue
from mmtasks.venue.adapter import grid_rules

D = Decimal
SYMBOL = "BTCUSDT"
NOW_MS = 1_700_000_000_000
NO_BOOK = TradeBook(known=lambda ids, in_ledger: set(), ledger=lambda: (core.Position(), 0))


def venue() -> SimVenue:
    return SimVenue(SimExchange(SimConfig(symbols=(SYMBOL,), id_prefix="")))


def locked_state(cid: str, order_id: str) -> core.GridState:
    """Return a grid whose slot 29000 holds a resting BUY of 0.001 with client id cid."""
    slot = core.Slot(
        level=D(29000),
        status=core.SlotStatus.LOCKED,
        side=Side.BUY,
        price=D(29000),
        qty=D("0.001"),
        client_order_id=cid,
        venue_order_id=order_id,
        generation=1,
    )
    return core.GridState(symbol=SYMBOL, anchor=D(30000)).with_slot(slot)


def snapshot(grid: core.GridState, rules: core.SymbolRules) -> Snapshot:
    return Snapshot(
        symbol=SYMBOL,
        meta={"status": "ACTIVE"},
        grid=grid,
        strategy=None,
        risk=core.RiskConfig(),
        rules=rules,
        candles={},
        tick=None,
        fleet_state="ACTIVE",
    )


MINE = client_order_id(SYMBOL, D(29000), Side.BUY, 1)
STRAY = client_order_id(SYMBOL, D(29000), Side.BUY, 2)


def two_orders_on_one_slot() -> tuple[SimVenue, Snapshot, Effects]:
    """Return a venue with generations 1 and 2 resting on level 29000; the slot holds 1 only.

    As after a step that crashed once it had sent generation 2: that order cannot be adopted.
    """
    sim = venue()
    kept, _ = sim.place_order(SYMBOL, Side.BUY, D(29000), D("0.001"), MINE)
    sim.place_order(SYMBOL, Side.BUY, D(29000), D("0.001"), STRAY)
    snap = snapshot(locked_state(MINE, kept.order_id), grid_rules(sim.symbol_info(SYMBOL)))
    return sim, snap, Effects(grid=snap.grid, meta=dict(snap.meta), candles={})


def test_venue_types_satisfy_the_protocol() -> None:
    sim: Venue = venue()  # mypy checks SimVenue against the Venue protocol here

    order, duplicate = sim.place_order(SYMBOL, "BUY", "29000", "0.001", "vp1")

    assert (order.status, duplicate) == (OrderStatus.NEW, False)
    assert sim.get_order(SYMBOL, client_order_id="vp1") == order
    assert sim.get_order(SYMBOL, client_order_id="unknown1") is None


def test_reconcile_returns_the_cancel_of_a_second_order_on_a_slot_and_leaves_it_open() -> None:
    sim, snap, fx = two_orders_on_one_slot()
    extra = sim.get_order(SYMBOL, client_order_id=STRAY)
    assert extra is not None and snap.rules is not None

    actions = reconcile(sim, snap, fx, None, snap.rules, NOW_MS, NO_BOOK)

    # One cancel, returned as data for the executor; the venue still has both orders open.
    assert actions == [
        core.CancelOrder(SYMBOL, D(29000), STRAY, extra.order_id, "unknown order of ours")
    ]
    assert {o.client_order_id for o in sim.open_orders(SYMBOL)} == {MINE, STRAY}


def test_the_executor_sends_the_cancel_reconcile_returned() -> None:
    sim, snap, fx = two_orders_on_one_slot()
    assert snap.rules is not None
    actions = reconcile(sim, snap, fx, None, snap.rules, NOW_MS, NO_BOOK)

    error = execute(sim, SYMBOL, actions, fx, NOW_MS)

    assert error is None
    assert [o.client_order_id for o in sim.open_orders(SYMBOL)] == [MINE]
    assert fx.grid.slots["29000"].client_order_id == MINE  # our slot is untouched


def test_reconcile_adopts_an_open_order_of_ours_the_state_lost() -> None:
    sim = venue()
    rules = grid_rules(sim.symbol_info(SYMBOL))
    lost = client_order_id(SYMBOL, D(29000), Side.BUY, 3)
    order, _ = sim.place_order(SYMBOL, Side.BUY, D(29000), D("0.001"), lost)
    snap = snapshot(core.GridState(symbol=SYMBOL, anchor=D(30000)), rules)
    fx = Effects(grid=snap.grid, meta=dict(snap.meta), candles={})

    actions = reconcile(sim, snap, fx, None, rules, NOW_MS, NO_BOOK)

    assert actions == []
    slot = fx.grid.slots["29000"]
    assert (slot.status, slot.client_order_id, slot.venue_order_id) == (
        core.SlotStatus.LOCKED,
        lost,
        order.order_id,
    )
