"""An order update finds its slot by the level its id names; ids not of ours by every slot."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import Side
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.models import GridState, Slot, SlotStatus
from mmtasks.grid.transitions import find_slot_by_client_id

SYMBOL = "BTCUSDT"
D = Decimal
OURS_90 = client_order_id(SYMBOL, D(90), Side.BUY, 1)
# Not canonical (a generation with a leading zero), not ours, and ours at a level other than 70's.
ODD = OURS_90[:-1] + "01"
FOREIGN = "legacy-order-7"
MISPLACED = client_order_id(SYMBOL, D(80), Side.BUY, 1)


def holding(level: str, cid: str) -> Slot:
    return Slot(
        level=D(level),
        status=SlotStatus.LOCKED,
        side=Side.BUY,
        price=D(level),
        qty=D(1),
        client_order_id=cid,
        venue_order_id="v",
    )


STATE = GridState(SYMBOL, anchor=D(100)).with_slots(
    [holding("90", OURS_90), holding("60", ODD), holding("50", FOREIGN), holding("70", MISPLACED)]
)


@pytest.mark.parametrize(
    ("cid", "key"),
    [
        (OURS_90, "90"),
        (ODD, "60"),  # not one of ours: every slot is looked at
        (FOREIGN, "50"),
        (MISPLACED, None),  # ours, naming level 80: only the slot of 80 may hold it
        (client_order_id(SYMBOL, D(90), Side.BUY, 2), None),  # an older or newer order of 90
        ("mm", None),
    ],
)
def test_find_slot_by_client_id(cid: str, key: str | None) -> None:
    found = find_slot_by_client_id(STATE, cid)

    assert found == (None if key is None else STATE.slots[key])
