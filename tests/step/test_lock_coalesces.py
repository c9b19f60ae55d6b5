"""The symbol lock never parks a worker thread: a wake for a busy symbol is left for the holder.

With many symbols in one worker process (a pool of threads over their queues), a task that
waited for a symbol's lock would hold a thread another symbol needs. A task that finds the
lock held leaves a wake instead and returns at once; the step holding the lock drains again
before it lets go, so what woke the task (a fill, a newer price) is handled without a new task.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from mmtasks.state.store import SymbolStore
from mmtasks.trading.step import StepResult, run_step
from tests.kit.configs import GRID
from tests.kit.desk import Desk

D = Decimal


class WokenMidStep:
    """The desk's SimVenue; during the next order it sends, the market moves to `price`, the
    fill's update reaches the inbox and a second task for the symbol runs (as another thread
    of the pool would), while the first step still holds the lock."""

    def __init__(self, desk: Desk, price: str) -> None:
        self._desk, self._price = desk, price
        self._venue = desk.venue
        self.nested: list[tuple[StepResult, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def _wake(self) -> None:
        if self.nested:
            return
        self._desk.move(self._price)
        self._desk.deliver()
        started = time.monotonic()
        result = run_step(self._desk.rt, self._desk.symbol, "order")
        self.nested.append((result, time.monotonic() - started))

    def cancel_order(self, *args: Any, **kwargs: Any) -> Any:
        self._wake()
        return self._venue.cancel_order(*args, **kwargs)

    def batch_cancel(self, *args: Any, **kwargs: Any) -> Any:
        self._wake()
        return self._venue.batch_cancel(*args, **kwargs)


def test_a_task_for_a_locked_symbol_returns_at_once_and_the_holder_drains_its_wake(
    desk: Desk,
) -> None:
    # Arrange: GRID.md's long grid at 100 (BUY 90 and 80 rest). A command moves the anchor
    # so the step cancels; while it cancels, the market falls to 89 (BUY 90 fills) and the
    # fill's task arrives for the symbol whose lock the cancelling step holds.
    desk.init(GRID)
    desk.trade("100")
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]
    woken = WokenMidStep(desk, "89")
    desk.rt._exchange = woken
    desk.command("pause")

    # Act: one step, as its task runs it.
    desk.step()

    # Assert: the second task did not wait for the lock (the lock's ttl is 10 s; it returned
    # in well under one) and handled nothing itself...
    ((nested, waited_s),) = woken.nested
    assert nested.skipped.startswith("coalesced") and nested.events_applied == 0
    assert waited_s < 5
    # ...and the first step drained again before letting go: the fill the second task was
    # woken for is on the position (long 1 at 90), with no other step run.
    position = desk.position()
    assert (position["qty"], position["avg_cost"]) == (D(1), D(90))
    assert desk.text.get(desk.keys.again) is None
    assert desk.text.get(desk.keys.lock) is None


def test_the_lock_script_leaves_a_wake_only_while_held(desk: Desk) -> None:
    store = SymbolStore(desk.rt.redis, desk.symbol)
    token = store.take_or_wake(5000).token
    assert token is not None
    # Held: a plain wake is left, and the caller learns who holds the lock and for how long
    # (the holder may have died: it looks again once that has passed).
    held = store.take_or_wake(5000)
    assert (held.token, held.holder) == (None, token) and 4000 < held.left_ms <= 5000
    assert store.let_go(token, 5000) == 1  # the holder drains again, keeping the lock
    assert store.take_or_wake(5000, price=True).token is None  # a price wake this time
    assert store.take_or_wake(5000).token is None  # a plain one after it keeps "price"
    assert store.let_go(token, 5000) == 2
    assert store.let_go(token, 5000) == 0  # nothing left: released
    assert desk.text.get(desk.keys.lock) is None
    again = store.take_or_wake(5000).token  # free again: taken, no wake left
    assert again is not None and desk.text.get(desk.keys.again) is None
    assert store.let_go(token, 5000) == 0  # a stale token releases nothing...
    assert desk.text.get(desk.keys.lock) == again  # ...the new holder keeps its lock


def test_a_taken_lock_comes_with_the_snapshot_a_separate_read_would_give(desk: Desk) -> None:
    # Arrange: GRID.md's long grid at 100 (slots, position, config, tick), an order update
    # waiting past the cursor, and a price task's conflation flag set.
    from mmtasks.trading.snapshot import load_snapshot

    desk.init(GRID)
    desk.trade("100")
    store = SymbolStore(desk.rt.redis, desk.symbol)
    store.append({"type": "ORDER_UPDATE"})  # past the cursor: the quiet path may not take it
    desk.text.set(desk.keys.price_pending, "1")

    # Act: a price task takes the lock with its snapshot (inbox entries up to 10).
    taken = store.take_or_wake(5000, price=True, inbox=10)

    # Assert: the flag is cleared as load_snapshot clears it, and the snapshot read with the lock
    # is what load_snapshot reads now, field for field, the waiting entry included.
    assert taken.token is not None
    assert desk.text.get(desk.keys.price_pending) is None
    with_lock = load_snapshot(desk.rt.redis, desk.symbol, inbox_count=10, read=taken.snapshot)
    alone = load_snapshot(desk.rt.redis, desk.symbol, inbox_count=10)
    assert with_lock == alone
    assert with_lock.inbox is not None and len(with_lock.inbox) == 1
    assert with_lock.grid.slots and with_lock.tick is not None
    store.let_go(taken.token, 0)
