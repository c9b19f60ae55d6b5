"""Slot transitions, order updates, average-cost accounting and recovery."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus, Side
from mmtasks.errors import OperationalError, ValidationError
from mmtasks.grid.accounting import apply_fill
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.logic import decide
from mmtasks.grid.models import (
    GridConfig,
    GridState,
    Market,
    OrderCanceled,
    OrderCreated,
    OrderFilled,
    OrderRejected,
    PlaceOrder,
    Position,
    PositionChanged,
    RiskConfig,
    Slot,
    SlotStatus,
    SymbolRules,
)
from mmtasks.grid.transitions import (
    adopt_order,
    apply_order_update,
    find_slot_by_client_id,
    mark_acked,
    mark_pending,
    mark_rejected,
    order_created,
    rebuild_inventory,
)

SYMBOL = "BTCUSDT"
D = Decimal
RULES = SymbolRules(D("0.01"), D("0.001"), D("0.001"), D(0))
CONFIG = GridConfig(interval=D(10), buy_levels=2, sell_levels=2, order_qty=D(1))
BUY90 = PlaceOrder(
    symbol=SYMBOL,
    level=D(90),
    side=Side.BUY,
    price=D(90),
    qty=D(1),
    client_order_id=client_order_id(SYMBOL, D(90), Side.BUY, 1),
    post_only=True,
    reduce_only=False,
    closing=False,
    generation=1,
)
CID = BUY90.client_order_id


def acked() -> GridState:
    return mark_acked(mark_pending(GridState(SYMBOL, anchor=D(100)), BUY90), CID, "v1")


def update(
    st: GridState,
    status: OrderStatus,
    cum_qty: str,
    price: str | None = "90",
    *,
    cid: str = CID,
    fee: str = "0",
    trade_id: str | None = "t1",
) -> tuple[GridState, list[object]]:
    new, events = apply_order_update(
        st, cid, "v1", status, D(cum_qty), None if price is None else D(price), D(fee), trade_id, 7
    )
    return new, list(events)


def test_intent_then_ack_locks_the_slot() -> None:
    pending = mark_pending(GridState(SYMBOL, anchor=D(100)), BUY90)
    locked = mark_acked(pending, CID, "v1")

    assert pending.slots["90"] == Slot(
        level=D(90),
        status=SlotStatus.PENDING,
        side=Side.BUY,
        price=D(90),
        qty=D(1),
        client_order_id=CID,
        generation=1,
    )
    assert locked.slots["90"].status is SlotStatus.LOCKED
    assert locked.slots["90"].venue_order_id == "v1"
    assert order_created(locked, CID, 5) == OrderCreated(
        SYMBOL, D(90), Side.BUY, D(90), D(1), CID, "v1", False, 5
    )
    assert mark_acked(locked, "mmzzzzzzb1g1", "v9") == locked


def test_replayed_intent_is_a_no_op_and_a_second_intent_is_refused() -> None:
    pending = mark_pending(GridState(SYMBOL), BUY90)
    other = replace(BUY90, client_order_id="mmother", generation=2)

    assert mark_pending(pending, BUY90) == pending
    with pytest.raises(OperationalError, match="already holds order"):
        mark_pending(pending, other)


def test_an_intent_may_not_reuse_a_generation() -> None:
    st = GridState(SYMBOL, slots={"90": Slot(level=D(90), generation=1)})

    with pytest.raises(OperationalError, match="generation 1"):
        mark_pending(st, BUY90)


def test_rejection_frees_the_slot_and_keeps_inventory() -> None:
    st = mark_pending(GridState(SYMBOL, slots={"90": Slot(level=D(90), inventory=D("0.5"))}), BUY90)

    new, events = mark_rejected(st, CID, "post-only would cross")

    assert new.slots["90"] == Slot(level=D(90), inventory=D("0.5"), generation=1)
    assert events == [
        OrderRejected(SYMBOL, D(90), Side.BUY, D(90), D(1), CID, "post-only would cross")
    ]
    assert mark_rejected(new, CID, "again") == (new, [])


def test_partial_fills_apply_the_delta_of_cumulative_quantity() -> None:
    first, first_events = update(acked(), OrderStatus.PARTIALLY_FILLED, "0.4", fee="0.01")
    done, done_events = update(first, OrderStatus.FILLED, "1", "89.5", trade_id="t2")

    assert first.slots["90"].filled_qty == D("0.4")
    assert first.slots["90"].inventory == D("0.4")
    assert first.slots["90"].status is SlotStatus.LOCKED
    assert first_events == [
        OrderFilled(
            symbol=SYMBOL,
            level=D(90),
            side=Side.BUY,
            price=D(90),
            qty=D("0.4"),
            cum_qty=D("0.4"),
            fee=D("0.01"),
            trade_id="t1",
            client_order_id=CID,
            closing=False,
            realized_pnl_delta=D(0),
            venue_order_id="v1",
            ts_event_ms=7,
        ),
        PositionChanged(SYMBOL, D(0), D("0.4"), "OPENED", D(90), D(0), 7),
    ]
    assert done.slots["90"] == Slot(level=D(90), inventory=D(1), generation=1)
    assert done_events[0] == OrderFilled(
        SYMBOL, D(90), Side.BUY, D("89.5"), D("0.6"), D(1), D(0), "t2", CID, False, D(0), "v1", 7
    )
    assert done.position.qty == D(1)
    assert done.position.avg_cost == D("89.7")  # (0.4 x 90 + 0.6 x 89.5) / 1
    assert done.position.fees == D("0.01")
    assert done.position.volume == D("89.7")


def test_repeated_stale_and_unknown_updates_change_nothing() -> None:
    partial, _ = update(acked(), OrderStatus.PARTIALLY_FILLED, "0.4")
    filled, _ = update(partial, OrderStatus.FILLED, "1")

    assert update(partial, OrderStatus.PARTIALLY_FILLED, "0.4") == (partial, [])
    assert update(partial, OrderStatus.NEW, "0") == (partial, [])
    assert update(filled, OrderStatus.FILLED, "1") == (filled, [])
    assert update(filled, OrderStatus.FILLED, "1", cid="someone-else") == (filled, [])


def test_fill_before_ack_locks_the_pending_slot() -> None:
    pending = mark_pending(GridState(SYMBOL), BUY90)

    new, events = update(pending, OrderStatus.PARTIALLY_FILLED, "0.5", price=None, trade_id=None)

    assert new.slots["90"].status is SlotStatus.LOCKED
    assert new.slots["90"].venue_order_id == "v1"
    fill = events[0]
    assert isinstance(fill, OrderFilled)
    assert fill.price == D(90)  # no fill price: the order's price
    assert fill.trade_id == f"{CID}-0.5"


def test_cancel_after_partial_fill_keeps_inventory_and_the_next_decision_closes_it() -> None:
    partial, _ = update(acked(), OrderStatus.PARTIALLY_FILLED, "0.4")

    cancelled, events = update(partial, OrderStatus.CANCELED, "0.4")
    actions = decide(
        cancelled, Market(D(95), 0), CONFIG, RiskConfig(enable_volume_monitor=False), RULES, 0
    )

    assert events == [
        OrderCanceled(SYMBOL, D(90), Side.BUY, D(90), D(1), D("0.4"), CID, "v1", "CANCELED", 7)
    ]
    assert cancelled.slots["90"] == Slot(level=D(90), inventory=D("0.4"), generation=1)
    assert actions[0] == PlaceOrder(
        symbol=SYMBOL,
        level=D(90),
        side=Side.SELL,
        price=D(100),
        qty=D("0.4"),
        client_order_id=client_order_id(SYMBOL, D(90), Side.SELL, 2),
        post_only=False,
        reduce_only=True,
        closing=True,
        generation=2,
    )


def test_find_slot_by_client_id_matches_only_the_current_order() -> None:
    st = acked()

    assert find_slot_by_client_id(st, CID) == st.slots["90"]
    assert find_slot_by_client_id(st, client_order_id(SYMBOL, D(90), Side.BUY, 2)) is None
    assert find_slot_by_client_id(st, "not-ours") is None


@pytest.mark.parametrize(
    ("fills", "qty", "avg", "realized"),
    [
        # long: buy 1 @ 90, buy 1 @ 80, sell 1 @ 100 -> realized (100 - 85) x 1
        ([("BUY", "90", "1"), ("BUY", "80", "1"), ("SELL", "100", "1")], "1", "85", "15"),
        # short mirrored: sell 2 @ 110, buy 1 @ 100 -> realized (110 - 100) x 1
        ([("SELL", "110", "2"), ("BUY", "100", "1")], "-1", "110", "10"),
        # flip: long 1 @ 90, sell 3 @ 100 -> realized 10, short 2 @ 100
        ([("BUY", "90", "1"), ("SELL", "100", "3")], "-2", "100", "10"),
        # back to flat: average cost resets, realized is exact
        ([("BUY", "90", "1"), ("BUY", "80", "2"), ("SELL", "100", "3")], "0", "0", "50"),
    ],
)
def test_average_cost_accounting(
    fills: list[tuple[str, str, str]], qty: str, avg: str, realized: str
) -> None:
    position = Position()
    for side, price, size in fills:
        position, _ = apply_fill(position, Side(side), D(price), D(size), D("0.1"))

    assert (position.qty, position.avg_cost, position.realized_pnl) == (D(qty), D(avg), D(realized))
    assert position.fees == D("0.1") * len(fills)


def test_partial_closes_sum_exactly_to_the_cash_when_flat() -> None:
    position = Position()
    for side, price in [("BUY", "90"), ("BUY", "85"), ("BUY", "80"), ("SELL", "95")]:
        position, _ = apply_fill(position, Side(side), D(price), D(1), D(0))
    for price in ("90", "100"):
        position, _ = apply_fill(position, Side.SELL, D(price), D(1), D(0))

    assert position.qty == 0
    assert position.realized_pnl == D(30)  # 285 + 0 - 255


def test_a_stale_cost_basis_falls_back_to_qty_and_avg_cost() -> None:
    # As when reconcile replaces qty and avg_cost with the exchange's figures.
    position = Position(qty=D(2), avg_cost=D(95), cost_basis=D(170))

    after, realized = apply_fill(position, Side.SELL, D(100), D(2), D(0))

    assert realized == D(10)
    assert after.qty == 0


def test_position_events_name_the_change() -> None:
    st = acked()
    sell = replace(
        BUY90,
        side=Side.SELL,
        price=D(100),
        qty=D(3),
        client_order_id=client_order_id(SYMBOL, D(90), Side.SELL, 2),
        closing=True,
        generation=2,
    )
    st, _ = update(st, OrderStatus.FILLED, "1")
    st = mark_acked(mark_pending(st, sell), sell.client_order_id, "v2")

    _, events = update(st, OrderStatus.FILLED, "3", "100", cid=sell.client_order_id)

    kinds = [(e.kind, e.before_qty, e.after_qty) for e in events if isinstance(e, PositionChanged)]
    assert kinds == [("CLOSED", D(1), D(0)), ("OPENED", D(0), D(-2))]


def test_rebuild_spreads_long_inventory_above_the_anchor_in_order_sizes() -> None:
    st = GridState(SYMBOL, anchor=D(100))

    rebuilt = rebuild_inventory(st, D("2.5"), CONFIG, RULES)

    assert {k: s.inventory for k, s in rebuilt.slots.items()} == {
        "110": D(1),
        "120": D(1),
        "130": D("0.5"),
    }


def test_rebuild_merges_a_remainder_under_the_minimum_and_counts_held_inventory() -> None:
    rules = SymbolRules(D("0.01"), D("0.1"), min_qty=D(1), min_notional=D(0))
    held = Slot(level=D(90), inventory=D(-1))
    st = GridState(SYMBOL, anchor=D(100), slots={"90": held})

    rebuilt = rebuild_inventory(st, D("-3.5"), CONFIG, rules)

    assert {k: s.inventory for k, s in rebuilt.slots.items()} == {
        "90": D(-1),
        "80": D(-1),
        "70": D("-1.5"),  # 1 + a remainder of 0.5, under min_qty 1 on its own
    }


def test_rebuild_needs_an_anchor() -> None:
    with pytest.raises(ValidationError, match="anchor must be set"):
        rebuild_inventory(GridState(SYMBOL), D(1), CONFIG, RULES)


def test_rebuild_puts_ledger_lots_on_their_nearest_levels_first() -> None:
    st = GridState(SYMBOL, anchor=D(100))

    rebuilt = rebuild_inventory(st, D(3), CONFIG, RULES, lots=[(D("89.9"), D(1)), (D(80), D(1))])

    assert {k: s.inventory for k, s in rebuilt.slots.items()} == {
        "90": D(1),
        "80": D(1),
        "110": D(1),  # the part no lot explains
    }


def test_adopting_an_entry_with_a_partial_fill() -> None:
    cid = client_order_id(SYMBOL, D(90), Side.BUY, 7)

    st = adopt_order(
        GridState(SYMBOL, anchor=D(100)),
        cid,
        "v7",
        price=D(90),
        qty=D(1),
        executed_qty=D("0.3"),
    )

    assert st.slots["90"] == Slot(
        level=D(90),
        status=SlotStatus.LOCKED,
        side=Side.BUY,
        price=D(90),
        qty=D(1),
        client_order_id=cid,
        venue_order_id="v7",
        filled_qty=D("0.3"),
        inventory=D("0.3"),
        generation=7,
    )
    assert adopt_order(st, cid, "v7", price=D(90), qty=D(1), executed_qty=D("0.3")) == st


def test_adopting_a_closing_order_gives_its_slot_the_inventory_it_closes() -> None:
    cid = client_order_id(SYMBOL, D(110), Side.BUY, 2)

    st = adopt_order(
        GridState(SYMBOL, anchor=D(100)), cid, "v2", price=D(100), qty=D(1), executed_qty=D(0)
    )
    rebuilt = rebuild_inventory(st, D(-1), CONFIG, RULES)

    assert st.slots["110"].closing is True
    assert st.slots["110"].inventory == D(-1)
    assert rebuilt == st  # the position is already explained by the adopted order
    with pytest.raises(ValidationError, match="not one of ours"):
        adopt_order(st, "web-123", "v", price=D(1), qty=D(1), executed_qty=D(0))
    other = client_order_id("ETHUSDT", D(90), Side.BUY, 1)
    with pytest.raises(ValidationError, match="another symbol"):
        adopt_order(st, other, "v", price=D(90), qty=D(1), executed_qty=D(0))
