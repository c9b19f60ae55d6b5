"""mark_placed writes what mark_pending, then mark_acked or mark_rejected, write one by one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.errors import OperationalError
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.models import GridState, PlaceOrder, Slot, SlotIndex, SlotStatus
from mmtasks.grid.transitions import (
    find_slot_by_client_id,
    mark_acked,
    mark_pending,
    mark_placed,
    mark_rejected,
)

SYMBOL = "BTCUSDT"
D = Decimal


def place(level: str, side: Side, generation: int = 1, price: str | None = None) -> PlaceOrder:
    at = D(level)
    return PlaceOrder(
        symbol=SYMBOL,
        level=at,
        side=side,
        price=D(price) if price is not None else at,
        qty=D(1),
        client_order_id=client_order_id(SYMBOL, at, side, generation),
        post_only=price is None,
        reduce_only=False,
        closing=price is not None,
        generation=generation,
    )


def one_by_one(state: GridState, answers: list[tuple[PlaceOrder, str | None]]) -> GridState:
    for p, _ in answers:
        state = mark_pending(state, p)
    for p, venue_id in answers:
        if venue_id is None:
            state, _ = mark_rejected(state, p.client_order_id, "rejected")
        else:
            state = mark_acked(state, p.client_order_id, venue_id)
    return state


# A state holding: a LOCKED buy at 90, a free slot at 110 with short inventory at generation 3.
HELD = place("90", Side.BUY)
BASE = mark_acked(
    mark_pending(GridState(SYMBOL, anchor=D(100)), HELD), HELD.client_order_id, "v0"
).with_slot(Slot(level=D(110), inventory=D(-1), generation=3))

CASES = [
    pytest.param([(place("80", Side.BUY), "v1"), (place("70", Side.BUY), "v2")], id="two acked"),
    pytest.param([(place("80", Side.BUY), None)], id="rejected"),
    pytest.param(
        [(place("110", Side.BUY, 4, price="100"), "v1"), (place("120", Side.SELL), None)],
        id="closing order on a slot holding inventory, and a rejection",
    ),
    pytest.param([(HELD, "v9")], id="the intent replayed: the slot keeps its order"),
    pytest.param([(HELD, None)], id="the intent replayed, then rejected"),
    pytest.param(
        [(place("80", Side.BUY), "v1"), (place("80", Side.BUY), "v2")],
        id="one order sent twice: the first answer counts",
    ),
    pytest.param(
        [(place("80", Side.BUY), None), (place("80", Side.BUY), "v2")],
        id="one order sent twice, the first answer a rejection",
    ),
    pytest.param([], id="nothing"),
]


@pytest.mark.parametrize("answers", CASES)
def test_mark_placed_equals_the_transitions_one_by_one(
    answers: list[tuple[PlaceOrder, str | None]],
) -> None:
    BASE.index  # noqa: B018  # the index is carried through the change, as in a step

    placed = mark_placed(BASE, answers)

    assert placed == one_by_one(BASE, answers)
    assert placed.index == SlotIndex.of(placed.slots)


def test_acked_and_rejected_slots_after_mark_placed() -> None:
    buy80, sell120 = place("80", Side.BUY), place("120", Side.SELL)

    placed = mark_placed(BASE, [(buy80, "v1"), (sell120, None)])

    assert placed.slots["80"].status is SlotStatus.LOCKED
    assert placed.slots["80"].venue_order_id == "v1"
    assert placed.slots["120"] == Slot(level=D(120), generation=1)
    assert find_slot_by_client_id(placed, buy80.client_order_id) == placed.slots["80"]
    assert find_slot_by_client_id(placed, sell120.client_order_id) is None


def test_a_second_intent_on_a_busy_slot_raises_as_mark_pending_does() -> None:
    other = place("90", Side.BUY, generation=2)

    with pytest.raises(OperationalError, match="already holds order"):
        mark_placed(BASE, [(other, "v1")])
