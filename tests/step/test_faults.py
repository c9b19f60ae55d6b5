"""Faults inside the step: ERROR and recovery, drift halting, a lost lock, a lost state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mmtasks.errors import LockLostError, OperationalError, OrderStillSending
from mmtasks.ledger import summarize
from mmtasks.state.keys import BEAT_LOCK
from mmtasks.trading.advance import gate
from mmtasks.trading.effects import Effects
from mmtasks.trading.reconcile import HELD_RECHECK_MS
from mmtasks.trading.snapshot import load_snapshot
from mmtasks.trading.step import now_ms
from tests.kit.configs import GRID, NEUTRAL
from tests.kit.desk import Desk

D = Decimal


def kinds(desk: Desk) -> list[str]:
    return [kind for kind, _ in desk.events()]


def test_a_symbol_in_error_applies_its_fills_places_nothing_and_recovers(
    desk: Desk, ledger: str
) -> None:
    # Arrange: BUY 90, 80 rest at 100; then the stored config becomes unreadable.
    desk.init(GRID)
    desk.trade("100")
    config = desk.text.hget(desk.keys.config, "strategy")
    desk.text.hset(desk.keys.config, "strategy", "{not json")

    # Act 1: the next step fails (operational error): ERROR. At 89 BUY 90 fills.
    with pytest.raises(OperationalError):
        desk.step()
    desk.move("89")
    desk.settle()

    # Assert 1: ERROR with its reason; the fill applied; nothing new placed.
    state = desk.state()
    assert state["status"] == "ERROR" and "invalid" in state["last_error"]
    assert desk.position()["qty"] == 1
    assert desk.resting() == [("BUY", D(80))]
    with psycopg.connect(ledger) as conn:
        assert conn.execute("SELECT side, price FROM fills").fetchall() == [("BUY", D(90))]

    # Act 2: the config is repaired and beat's recovery command arrives.
    desk.text.hset(desk.keys.config, "strategy", config)
    desk.command("recover", {"attempt": 1})
    desk.settle()

    # Assert 2: ACTIVE, recovered, and the grid of "long 100 -> 89" (BUY 80, 70; SELL 100).
    state = desk.state()
    assert (state["status"], state["recovering"], state["last_error"]) == ("ACTIVE", "0", "")
    assert desk.resting() == [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    seen = kinds(desk)
    assert seen.index("RECOVERY_ATTEMPTED") < seen.index("SYMBOL_RECOVERED")


def test_recovery_given_up_cancels_entries_and_keeps_closing_orders(desk: Desk) -> None:
    # Arrange: long 100 -> 89 rests BUY 80, 70 and the closing SELL 100; then ERROR.
    desk.init(GRID)
    desk.trade("100", "89")
    desk.text.hset(desk.keys.config, "strategy", "{not json")
    with pytest.raises(OperationalError):
        desk.step()

    # Act: beat has spent the attempts and says so.
    desk.command("give_up", {"attempts": 3})
    desk.settle()

    # Assert
    assert desk.state()["status"] == "ERROR"
    assert desk.resting() == [("SELL", D(100))]
    assert kinds(desk).count("RECOVERY_EXHAUSTED") == 1


def test_a_position_drift_that_persists_over_three_reconciles_halts_the_symbol(
    desk: Desk,
) -> None:
    # Arrange: BUY 90, 80 rest at 100; someone else's order buys 1 on our account.
    desk.init(GRID)
    desk.trade("100")
    desk.venue.place_order("GRIDUSDT", "BUY", "100", "1", "foreign1")
    desk.take_updates()  # not ours: the bridge passes it on, reconcile ignores its trade

    # Act: a reconcile, then the two it asks for itself.
    desk.command("reconcile")
    seen = [(s["status"], s["drift_count"]) for s in (desk.step() and desk.state(),)]
    seen += [(s["status"], s["drift_count"]) for s in (desk.step() and desk.state(),)]
    seen += [(s["status"], s["drift_count"]) for s in (desk.step() and desk.state(),)]

    # Assert: tolerated twice (a fill may be on its way), halted the third time, and said.
    assert seen == [("ACTIVE", "1"), ("ACTIVE", "2"), ("ERROR", "3")]
    assert desk.state()["last_error"] == "position drift 1 persisted over 3 reconciles"
    assert "RISK_LIMIT_BREACHED" in kinds(desk)
    assert desk.position()["qty"] == 0


class LockThief:
    """The venue, seen by a step whose lock expires while it places: another worker takes it."""

    def __init__(self, venue: Any, desk: Desk) -> None:
        self._venue, self._desk = venue, desk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def place_order(self, *args: Any, **kwargs: Any) -> Any:
        self._desk.text.set(self._desk.keys.lock, "newer-owner")
        return self._venue.place_order(*args, **kwargs)


def lose_the_lock_while_placing(desk: Desk) -> Any:
    """Init GRID, then step on the price 100 while another worker takes the lock during the
    first place (the step raises LockLostError); return the venue, now as it was."""
    desk.init(GRID)
    desk.step()
    venue = desk.rt._exchange
    desk.rt._exchange = LockThief(venue, desk)
    desk.move("100")
    with pytest.raises(LockLostError):
        desk.step("price")
    return venue


def test_a_step_that_lost_its_lock_writes_nothing_more_and_reconcile_settles_it(
    desk: Desk,
) -> None:
    # Arrange + Act 1: the first price; the lock is taken over while the step sends.
    venue = lose_the_lock_while_placing(desk)

    # Assert 1: the order being sent when the lock was taken left (BUY 90, the nearer first);
    # the next one did not: the step renews its lock before each venue call, and that renewal
    # found the newer owner. The fenced commit refused the stale step's acks: the slots still
    # hold both intents, and the newer owner's lock is untouched.
    assert desk.resting() == [("BUY", D(90))]
    assert sorted(s["status"] for s in desk.slots().values()) == ["PENDING", "PENDING"]
    assert desk.text.get(desk.keys.lock) == "newer-owner"

    # Act 2: the newer owner is done; a reconcile (as on worker start) runs.
    desk.text.delete(desk.keys.lock)
    desk.rt._exchange = venue
    desk.command("reconcile")
    desk.settle()

    # Assert 2: the intent that left is matched to its order by client id, the one that never
    # left is freed and placed again: one order per level, no second order anywhere.
    orders = {o.client_order_id: o.order_id for o in desk.venue.open_orders("GRIDUSDT")}
    slots = {s["client_order_id"]: s for s in desk.slots().values()}
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]
    assert {cid: s["venue_order_id"] for cid, s in slots.items()} == orders
    assert {s["status"] for s in slots.values()} == {"LOCKED"}


class Died(BaseException):
    """The worker process dies: nothing after this runs, no failure is recorded."""


class DiesBeforeSending:
    """The venue, seen by a step whose worker dies after committing its intents (a host cut
    off or killed between the write-ahead commit and the send)."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def place_order(self, *args: Any, **kwargs: Any) -> Any:
        raise Died


class StillSending:
    """The venue as the connector answers a lookup of a create it is still sending: "ask
    again" while the venue does not know it (mmtasks/connector/sending.py)."""

    def __init__(self, venue: Any, held: set[str]) -> None:
        self._venue, self.held = venue, held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def get_order(self, symbol: str, **ref: Any) -> Any:
        found = self._venue.get_order(symbol, **ref)
        if found is None and ref.get("client_order_id") in self.held:
            raise OrderStillSending(f"order {ref['client_order_id']} is still being sent")
        return found


def test_a_create_still_being_sent_stays_pending_while_reconcile_settles_the_rest(
    desk: Desk,
) -> None:
    # Arrange: as in the test above, the lock is taken over while BUY 90 is sent; BUY 80 stays
    # an intent. The connector is still sending a create of that id (another worker's step).
    venue = lose_the_lock_while_placing(desk)
    [cid_80] = [s["client_order_id"] for s in desk.slots().values() if s["price"] == "80"]
    desk.text.delete(desk.keys.lock)
    looked_up = StillSending(venue, {cid_80})
    desk.rt._exchange = looked_up

    # Act 1: a reconcile while that create is under way.
    desk.command("reconcile")
    started_ms = now_ms()
    desk.step()
    ended_ms = now_ms()

    # Assert 1: BUY 90 is taken as the venue has it; BUY 80 stays the intent it was (its level
    # is not placed again beside a create that may land), asked again 1 s later and not at
    # every step before that (a reconcile costs the venue's weight).
    slots = {s["price"]: s for s in desk.slots().values()}
    assert (slots["90"]["status"], slots["80"]["status"]) == ("LOCKED", "PENDING")
    assert slots["80"]["client_order_id"] == cid_80
    assert desk.resting() == [("BUY", D(90))]
    state = desk.state()
    after_ms = int(state["reconcile_after_ms"])
    assert state["needs_reconcile"] == "1"
    assert not desk.text.exists(desk.keys.band)  # a PENDING slot: every tick wakes it
    assert started_ms + HELD_RECHECK_MS <= after_ms <= ended_ms + HELD_RECHECK_MS
    snap = load_snapshot(desk.rt.redis, "GRIDUSDT")
    fx = Effects(grid=snap.grid, meta={}, candles={})
    assert not gate(snap, fx, after_ms - 1).needs_reconcile
    assert gate(snap, fx, after_ms).needs_reconcile

    # Act 2: the create lands at the venue; the connector lets the id go; the recheck is due
    # (as a second later); the symbol steps.
    venue.place_order("GRIDUSDT", "BUY", D(80), D(slots["80"]["qty"]), cid_80)
    looked_up.held.clear()
    desk.text.hset(desk.keys.state, "reconcile_after_ms", str(now_ms()))
    desk.step()

    # Assert 2: the landed order is the level's: one order per level, the ids the slots hold.
    orders = {o.client_order_id: o.order_id for o in venue.open_orders("GRIDUSDT")}
    held = {s["client_order_id"]: s["venue_order_id"] for s in desk.slots().values()}
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]
    assert held == orders


def test_intents_a_dead_step_left_pending_are_reconciled_by_the_next_step_on_its_own(
    desk: Desk,
) -> None:
    # Arrange: the first price; the worker dies once its intents (BUY 90, 80) are committed.
    desk.init(GRID)
    desk.step()
    venue = desk.rt._exchange
    desk.rt._exchange = DiesBeforeSending(venue)
    desk.move("100")
    with pytest.raises(Died):
        desk.step("price")
    assert sorted(s["status"] for s in desk.slots().values()) == ["PENDING", "PENDING"]
    assert desk.resting() == []  # nothing reached the venue
    desk.text.delete(desk.keys.lock)  # its lock expires

    # Act: another worker's next step, on the next tick; nobody asked for a reconcile.
    desk.rt._exchange = venue
    desk.move("100")
    desk.settle()

    # Assert: the stranded intents were looked up (the venue never saw them), freed and placed
    # once each: GRID.md "long 100", BUY 90 and 80, every slot LOCKED to its own order.
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]
    orders = {o.client_order_id for o in desk.venue.open_orders("GRIDUSDT")}
    slots = [s for s in desk.slots().values() if s["status"] != "FREE"]
    assert {s["status"] for s in slots} == {"LOCKED"}
    assert {s["client_order_id"] for s in slots} == orders


def lose_state_and_trade_on(desk: Desk) -> None:
    """Long 100 -> 89, Redis restarts empty, SELL 100 fills at 101, the symbol comes back.

    Before the loss: BUY 90 filled (in the ledger), BUY 80, 70 and SELL 100 rest. The
    registry's init comes back (as rehydrate sends it) and the symbol trades on at 101.
    """
    desk.init(GRID)
    desk.trade("100", "89")
    assert desk.resting() == [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    desk.text.flushdb()
    desk.text.set(BEAT_LOCK, "test")
    desk.venue.inject_price("GRIDUSDT", "101")
    desk.take_updates()  # nobody was listening
    desk.init(GRID)
    desk.trade("101")


def test_a_lost_state_is_rebuilt_from_the_venue_and_the_ledger(desk: Desk, ledger: str) -> None:
    lose_state_and_trade_on(desk)

    # Assert, by hand: the position is the ledger's (1 at 90) plus the trade it lacks (SELL 1
    # at 100): flat, 10 realized; the ledger has both trades once; BUY 70, below
    # 101 - 3 x 10, is cancelled.
    pos = desk.position()
    assert (pos["qty"], pos["realized_pnl"]) == (0, 10)
    with psycopg.connect(ledger) as conn:
        rows = conn.execute("SELECT trade_id FROM fills").fetchall()
    assert sorted(r[0] for r in rows) == sorted(t.trade_id for t in desk.venue.trades("GRIDUSDT"))
    assert len(rows) == 2
    assert ("BUY", D(70)) not in desk.resting()
    assert "STATE_REBUILT" in kinds(desk)


def test_a_rebuilt_state_quotes_every_level_with_fresh_client_ids(desk: Desk) -> None:
    lose_state_and_trade_on(desk)

    # Adopted BUY 80 keeps the lattice; at 101 the entries are 90 and 80.
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]


def test_fills_learned_late_are_applied_in_trade_order_across_orders(
    make_desk: Callable[..., Desk], ledger: str
) -> None:
    # Arrange: neutral at 100 rests BUY 90, 80 and SELL 110, 120; the venue charges fees.
    desk = make_desk(fees=True)
    desk.init(NEUTRAL)
    desk.trade("100")

    # Act: with nobody listening the market goes to 111 (SELL 110 fills), then to 79 (BUY 90,
    # then BUY 80 fill); then the symbol reconciles.
    desk.venue.inject_price("GRIDUSDT", "111")
    desk.venue.inject_price("GRIDUSDT", "79")
    desk.take_updates()
    desk.command("reconcile")
    desk.step()

    # Assert, by hand in trade order: SELL 110 opens a short of 1 at 110; BUY 90 closes it,
    # realizing 110 - 90 = 20; BUY 80 opens a long of 1 at 80. (Buys first would give a long
    # of 2 at 85, then SELL 110 realizing 25: the order matters.)
    pos = desk.position()
    assert (pos["qty"], pos["avg_cost"], pos["realized_pnl"]) == (1, 80, 20)
    # Fees are the maker fee, 0.0002 of each fill's notional: (110 + 90 + 80) x 0.0002.
    assert pos["fees"] == D("0.056")
    fills = [(e["side"], D(e["price"])) for kind, e in desk.events() if kind == "ORDER_FILLED"]
    assert fills == [("SELL", D(110)), ("BUY", D(90)), ("BUY", D(80))]
    with psycopg.connect(ledger) as conn:
        summary = summarize(conn, "GRIDUSDT")
    assert (summary.fills, summary.position, summary.realized_pnl, summary.fees) == (
        3,
        1,
        20,
        D("0.056"),
    )
