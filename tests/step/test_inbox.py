"""What reaches the inbox: gaps, duplicated and reordered order updates, malformed entries."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from mmtasks.venue.types import OrderUpdate
from tests.kit.configs import GRID
from tests.kit.desk import Desk, Mangle

D = Decimal


def filled(desk: Desk) -> list[tuple[str, Decimal]]:
    """Return (side, price) of the symbol's ORDER_FILLED events, in order."""
    return [(e["side"], D(e["price"])) for kind, e in desk.events() if kind == "ORDER_FILLED"]


def ledger_fills(url: str) -> list[tuple[str, Decimal]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT side, price FROM fills ORDER BY ts_ms, trade_id").fetchall()
    return [(side, D(price)) for side, price in rows]


def test_an_inbox_gap_makes_the_step_reconcile_and_learn_the_lost_fill(
    desk: Desk, ledger: str
) -> None:
    # Arrange: BUY 90, 80 rest at 100. At 89 BUY 90 fills; its update reaches the inbox and
    # is trimmed before any step reads it. At 79 BUY 80 fills; that update arrives.
    desk.init(GRID)
    desk.trade("100")
    desk.move("89")
    desk.deliver()
    (lost,) = desk.text.xrange(desk.keys.inbox)[-1:]
    desk.text.xdel(desk.keys.inbox, lost[0])
    desk.move("79")
    desk.deliver()

    # Act
    desk.step("price")
    desk.settle()

    # Assert, by hand: the gap triggers a reconcile, which applies the BUY 90 the venue reports;
    # BUY 80 comes from the inbox: long 2, nothing realized. Deciding at 79: entries at the 2
    # levels at or below 74 (70, 60); slot 80 closes at 90 (<= 79 + 2 x 10); slot 90's close
    # at 100 is beyond 99, so it waits.
    assert desk.resting() == [("BUY", D(60)), ("BUY", D(70)), ("SELL", D(90))]
    pos = desk.position()
    assert (pos["qty"], pos["realized_pnl"]) == (2, 0)
    assert sorted(filled(desk)) == [("BUY", D(80)), ("BUY", D(90))]
    assert desk.state()["needs_reconcile"] == "0"
    assert sorted(ledger_fills(ledger)) == [("BUY", D(80)), ("BUY", D(90))]


def twice(updates: list[OrderUpdate]) -> list[OrderUpdate]:
    return updates + updates


def reversed_(updates: list[OrderUpdate]) -> list[OrderUpdate]:
    return updates[::-1]


def reversed_twice(updates: list[OrderUpdate]) -> list[OrderUpdate]:
    return updates[::-1] + updates + updates[::-1]


@pytest.mark.parametrize("mangle", [twice, reversed_, reversed_twice])
def test_duplicated_and_reordered_updates_end_as_a_clean_run(
    desk: Desk, ledger: str, mangle: Mangle
) -> None:
    # Arrange: every batch of order updates reaches the inbox mangled (a flaky bridge).
    desk.init(GRID)

    # Act: GRID.md's "long 100 -> 89 -> 95 -> 100".
    desk.trade("100", "89", "95", "100", mangle=mangle)

    # Assert: the case's outcome, each fill counted once in Redis, the events and the ledger.
    assert desk.resting() == [("BUY", D(70)), ("BUY", D(80)), ("BUY", D(90))]
    pos = desk.position()
    assert (pos["qty"], pos["realized_pnl"]) == (0, 10)
    assert filled(desk) == [("BUY", D(90)), ("SELL", D(100))]
    assert ledger_fills(ledger) == [("BUY", D(90)), ("SELL", D(100))]


def test_late_duplicates_of_an_older_batch_change_nothing(desk: Desk) -> None:
    # Arrange: long 100 -> 89 -> 95 -> 100, every update of the walk kept aside.
    desk.init(GRID)
    seen: list[OrderUpdate] = []

    def keep(updates: list[OrderUpdate]) -> list[OrderUpdate]:
        seen.extend(updates)
        return updates

    desk.trade("100", "89", "95", "100", mangle=keep)
    before = (desk.resting(), desk.position(), desk.slots())

    # Act: all of them arrive again, oldest last, and wake tasks of every kind run.
    desk.deliver(seen[::-1])
    for trigger in ("order", "candle", "command", "price", "drain"):
        desk.step(trigger)
    desk.settle()

    # Assert
    assert (desk.resting(), desk.position(), desk.slots()) == before
    assert int(desk.state()["last_seq"]) == int(desk.text.get(desk.keys.seq) or 0)


NOT_JSON = "{not json"
NEGATIVE_PRICE = {
    **{"kind": "order", "symbol": "GRIDUSDT", "order_id": "1", "client_order_id": "x"},
    **{"side": "BUY", "status": "FILLED", "price": "-90", "quantity": "1"},
    **{"executed_qty": "1", "avg_price": "90", "ts_event_ms": 1},
}


def append_raw(desk: Desk, payload: dict[str, object] | str) -> None:
    """Append payload to the inbox as it is (a dict as JSON, a str as the raw entry)."""
    if isinstance(payload, dict):
        desk.store.append(payload)
        return
    seq = int(desk.text.incr(desk.keys.seq))
    desk.text.xadd(desk.keys.inbox, {"e": payload}, id=f"{seq}-0")


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "order", "symbol": "GRIDUSDT"},  # fields missing
        {"kind": "spaceship", "symbol": "GRIDUSDT"},  # unknown kind
        {"kind": "command", "symbol": "GRIDUSDT", "command": "self_destruct", "args": {}},
        NEGATIVE_PRICE,
        NOT_JSON,
    ],
)
def test_a_malformed_inbox_entry_is_counted_skipped_and_trading_goes_on(
    desk: Desk, payload: dict[str, object] | str
) -> None:
    # Arrange: the entry sits between the init and the first price.
    desk.init(GRID)
    append_raw(desk, payload)

    # Act
    desk.trade("100")

    # Assert: counted and passed over; the cursor is past it; the grid of "long 100".
    state = desk.state()
    assert state["rejected_events"] == "1"
    assert state["status"] == "ACTIVE"
    assert int(state["last_seq"]) == int(desk.text.get(desk.keys.seq) or 0)
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]


def test_every_malformed_entry_of_one_drain_is_counted(desk: Desk) -> None:
    desk.init(GRID)
    append_raw(desk, {"kind": "spaceship", "symbol": "GRIDUSDT"})
    append_raw(desk, NOT_JSON)

    desk.step()

    assert desk.state()["rejected_events"] == "2"
