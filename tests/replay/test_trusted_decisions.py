"""The fast path skips a confirming decision only when it is surely empty (Engine._execute)."""

from __future__ import annotations

from decimal import Decimal

from mmtasks.domain import Side
from mmtasks.grid.ids import client_order_id
from mmtasks.grid.models import GridState, PlaceOrder, Position, Slot
from mmtasks.grid.transitions import mark_placed
from mmtasks.replay.engine import Engine
from tests.replay.kit import config

D = Decimal


def _engine_with_blocked_closing_order() -> Engine:
    # Long, interval 10, 2 levels a side: an entry BUY rests at 50, and the free slot at 40
    # holds 1 bought there, whose closing SELL (at 50) that entry's price blocks.
    engine = Engine(config("long"))
    engine.trust_placements = True
    engine.confirm_trusted = True  # a skipped confirmation is still made: it must be empty
    cid = client_order_id("GRIDUSDT", D(50), Side.BUY, 1)
    buy = PlaceOrder("GRIDUSDT", D(50), Side.BUY, D(50), D(1), cid, True, False, False, 1)
    venue_id, rejected = engine.venue.place(buy, D(100))
    assert not rejected
    engine.venue.position = D(1)
    position = Position(qty=D(1), avg_cost=D(40), cost_basis=D(40))
    grid = mark_placed(GridState("GRIDUSDT", anchor=D(100), position=position), [(buy, venue_id)])
    engine.grid = grid.with_slot(Slot(D(40), inventory=D(1), generation=1))
    return engine


def test_a_cancel_freeing_the_price_of_a_waiting_closing_order_is_confirmed() -> None:
    engine = _engine_with_blocked_closing_order()

    engine.step(0, 0, D(200), ())  # the BUY at 50 leaves its window: cancelled

    # The confirmation, not skipped, places the closing SELL at 50, passed: a taker at 200.
    assert [(f.side, f.price, f.maker) for f in engine.fills] == [(Side.SELL, D(200), False)]
    assert engine.grid.position.qty == 0
    assert engine.trusted_cancels == 0


def test_a_cancel_freeing_no_wanted_price_is_not_confirmed() -> None:
    engine = _engine_with_blocked_closing_order()
    engine.grid = engine.grid.with_slot(Slot(D(40), generation=1))  # nothing waits at 50
    engine.grid = engine.grid.with_position(Position())
    engine.venue.position = D(0)

    engine.step(0, 0, D(200), ())

    assert engine.fills == []
    assert engine.trusted_cancels == 1  # cancel and entries, then no confirmation
    assert engine.evaluations == 1
