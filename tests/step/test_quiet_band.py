"""The quiet band: a settled grid stores the prices at which it would decide the same, and the
bridge sends no price task for a tick strictly inside them (the tick is stored all the same).

Worked out from GRID.md for the long grid at 100 (interval 10, 2 levels, BUY 90 and 80 rest):
entries go to the 2 levels at or below price - interval/2.
- below: under 95 those are 80 and 70, and 70 is free: a new BUY 70 would be placed; at 95
  they are still 90 and 80. The band starts at 95 (closed);
- above: from 105 on they are 100 and 90, and 100 is free: a new BUY 100 would be placed, so
  the band ends at 105 (open). BUY 90 is reached only lower, and BUY 80's cancel window ends
  higher (80 + 3 x 10 = 110).
The bridge compares with both ends open: a tick on a bound always sends its task.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mmtasks.celery import app
from mmtasks.errors import OperationalError
from mmtasks.ledger import FillRecord
from mmtasks.trading.step import now_ms, run_step
from tests.kit.configs import GRID
from tests.kit.desk import Desk
from tests.kit.feed import publish_tick

D = Decimal


def test_a_settled_grid_stores_its_band_and_ticks_inside_it_send_no_task(desk: Desk) -> None:
    # Arrange: the long grid settled at 100.
    desk.init(GRID)
    desk.trade("100")
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]

    # Assert: the band the step stored.
    assert desk.text.hgetall(desk.keys.band) == {"lo": "95", "hi": "105"}

    # Act / Assert: ticks strictly inside send no task but are stored; a tick on a bound or
    # outside claims the price task as before.
    client = desk.rt.redis
    assert publish_tick(client, app, desk.symbol, D("104.9"), 1, 101) is False
    assert desk.text.hget(desk.keys.tick, "price") == "104.9"
    assert desk.text.get(desk.keys.price_pending) is None
    assert publish_tick(client, app, desk.symbol, D("95.01"), 2, 102) is False
    assert publish_tick(client, app, desk.symbol, D("105"), 3, 103) is True
    desk.text.delete(desk.keys.price_pending)
    assert publish_tick(client, app, desk.symbol, D("95"), 4, 104) is True


def test_a_step_that_acts_or_fails_leaves_no_band(desk: Desk) -> None:
    # Arrange: settled at 100 with its band.
    desk.init(GRID)
    desk.trade("100")
    assert desk.text.exists(desk.keys.band)

    # Act: at 89 BUY 90 fills; the step that learns it acts (places SELL 100 and BUY 70), so
    # its commit removes the band until a step settles again.
    desk.move("89")
    desk.deliver()
    result = desk.step("price")

    # Assert
    assert result.actions
    assert not desk.text.exists(desk.keys.band)
    desk.settle()
    assert desk.text.hgetall(desk.keys.band) != {}

    # Act: a step that fails (its stored config became unreadable) records its failure fenced.
    desk.text.hset(desk.keys.config, "strategy", "{not json")
    with pytest.raises(OperationalError):
        desk.step()

    # Assert: no band: every tick wakes the symbol again.
    assert desk.state()["status"] == "ERROR"
    assert not desk.text.exists(desk.keys.band)


def test_a_price_task_for_a_tick_inside_the_band_runs_no_step(desk: Desk) -> None:
    # Arrange: settled at 100 (band 95..105). A tick at 104 reaches Redis after its price task
    # was sent (the task was claimed by an earlier tick, before the band was stored): the
    # price flag is set, as the bridge leaves it.
    desk.init(GRID)
    desk.trade("100")
    before = desk.state()
    desk.venue.inject_price(desk.symbol, "104")
    desk.text.hset(desk.keys.tick, mapping={"price": "104", "ts_event_ms": "1", "seq": "900"})
    desk.text.set(desk.keys.price_pending, "1")

    # Act
    result = desk.step("price")

    # Assert: no step ran (no lock taken, nothing written, no order sent) and the price flag
    # is cleared, so the next tick outside the band sends a task again.
    assert result.skipped.startswith("quiet") and result.events_applied == 0
    assert not result.actions
    assert desk.state() == before
    assert desk.text.get(desk.keys.price_pending) is None
    assert desk.text.get(desk.keys.lock) is None
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]


def _fill_unflushed(desk: Desk) -> None:
    # A fill committed with the state while Postgres was down: the next step flushes it.
    fill = FillRecord(
        "QUIET-T1", desk.symbol, "o1", "c1", "BUY", D(90), D(1), D(0), D(90), False, 1
    )
    desk.text.rpush(desk.keys.fills_out, fill.to_json())


def _inbox_ahead(desk: Desk) -> None:
    desk.text.incr(desk.keys.seq)  # an event past the cursor (the step reads and reconciles)


@pytest.mark.parametrize(
    ("why", "arrange"),
    [
        ("a tick on the band's bound", lambda d: d.text.hset(d.keys.tick, "price", "95")),
        ("a tick outside the band", lambda d: d.text.hset(d.keys.tick, "price", "94")),
        ("an inbox entry past the cursor", _inbox_ahead),
        ("a wake left for the symbol", lambda d: d.text.set(d.keys.again, "1")),
        ("a reconcile owed", lambda d: d.text.hset(d.keys.state, "needs_reconcile", "1")),
        ("DEGRADED", lambda d: d.text.hset(d.keys.state, "degraded_since_ms", "1")),
        ("not ACTIVE", lambda d: d.text.hset(d.keys.state, "status", "PAUSED")),
        ("a fill waiting for the ledger", _fill_unflushed),
    ],
)
def test_a_price_task_steps_when_anything_but_the_price_may_change_the_decision(
    desk: Desk, why: str, arrange: Any
) -> None:
    # Arrange: settled at 100 (band 95..105), the newest tick at 104 (inside), then one thing
    # the band does not model.
    desk.init(GRID)
    desk.trade("100")
    desk.text.hset(desk.keys.tick, mapping={"price": "104", "ts_event_ms": "1", "seq": "900"})
    desk.text.set(desk.keys.price_pending, "1")
    arrange(desk)

    # Act
    result = run_step(desk.rt, desk.symbol, "price", clear_price_pending=True)

    # Assert: the task ran the step (or left its wake for the holder), never skipped it.
    assert not result.skipped.startswith("quiet"), why
    assert desk.text.get(desk.keys.price_pending) is None


def test_a_breaker_armed_grid_keeps_a_band_cut_to_its_drawdown_limit(desk: Desk) -> None:
    # Arrange: the long grid with a drawdown limit of 5, settled at 100 (flat: equity 0, the
    # mark 0), then at 89 BUY 90 fills (1 long at 90, fee-free: equity(p) = p - 90).
    desk.init(GRID, {"max_drawdown_quote": "5"})
    desk.trade("100")
    assert desk.text.hgetall(desk.keys.band) == {"lo": "95", "hi": "105"}  # flat: unchanged
    desk.trade("89")
    assert desk.position()["qty"] == D(1) and desk.state()["equity_hwm"] == "0"

    # Assert: the grid alone would keep 85 (below, 60 would join the entries) .. 100 (BUY 70's
    # cancel window); the breaker keeps 85 (equity -5: a drawdown of 5, not past it) .. 90
    # (equity 0, the mark: above it equity raises the mark).
    assert desk.text.hgetall(desk.keys.band) == {"lo": "85", "hi": "90"}
    client = desk.rt.redis
    assert publish_tick(client, app, desk.symbol, D("89.9"), now_ms(), 201) is False
    assert publish_tick(client, app, desk.symbol, D("85.1"), now_ms(), 202) is False

    # Act / Assert: above the mark the tick wakes the symbol, whose step raises the mark (and
    # changes no order); the band follows it.
    assert publish_tick(client, app, desk.symbol, D("90.5"), now_ms(), 203) is True
    result = desk.step("price")
    assert not result.actions and desk.state()["equity_hwm"] == "0.5"
    assert desk.text.hgetall(desk.keys.band) == {"lo": "85.5", "hi": "90.5"}

    # Act / Assert: past the limit (equity -4.6 under the mark 0.5: a drawdown of 5.1) the tick
    # wakes it too, and the breaker trips.
    assert publish_tick(client, app, desk.symbol, D("85.4"), now_ms(), 204) is True
    desk.step("price")
    assert desk.state()["breaker"] == "REDUCING"
