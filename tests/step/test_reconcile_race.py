"""Reconcile reads the venue's open orders, then its trades: fills made between the two reads.

Live this happens when the venue moves while a reconcile is under way, e.g. right after a user
socket came back (tests/venue_fleet's dropped-socket test showed it under load). The open
orders say "BUY 90 and 80 rest, nothing executed"; the trades read a moment later list both
fills. Those trades are new, not "already counted on the slot": the venue's own trades (ids,
prices, fees) must reach the position and the ledger, once, and a later reconcile must not
apply the same quantity again under a made-up id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg

from mmtasks.ledger import flush_buffer, summarize
from tests.kit.configs import GRID
from tests.kit.desk import Desk

D = Decimal


class MovesAfterOpenOrders:
    """The desk's SimVenue, whose price moves to `price` right after the next open_orders()."""

    def __init__(self, venue: Any, symbol: str, price: str, desk: Desk) -> None:
        self._venue, self._symbol, self._price, self._desk = venue, symbol, price, desk
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def open_orders(self, symbol: str = "") -> Any:
        orders = self._venue.open_orders(symbol)
        if self.armed:
            self.armed = False
            self._desk.move(self._price)  # the real sim matches: BUY 90 and BUY 80 fill now
        return orders


def test_fills_made_between_reading_open_orders_and_trades_reach_the_ledger_with_their_ids(
    make_desk: Any, ledger: str
) -> None:
    # Arrange: long grid, fees on: BUY 90 and 80 rest at 100. The venue will move to 79 while
    # the next reconcile is between its two reads; the fills' stream updates are lost.
    desk = make_desk(fees=True)
    desk.init(GRID)
    desk.trade("100")
    assert desk.resting() == [("BUY", D(80)), ("BUY", D(90))]
    racing = MovesAfterOpenOrders(desk.venue, desk.symbol, "79", desk)
    desk.rt._exchange = racing

    # Act: a reconcile (as the bridge sends after a reconnect), then the grid settles at 79
    # with the fills' own order updates never delivered.
    desk.command("reconcile")
    desk.step()
    desk.take_updates()  # lost with the socket
    for _ in range(3):
        desk.command("reconcile")
        desk.step()
    flush_buffer(desk.rt.redis, desk.rt.pg, desk.symbol)

    # Assert: long 2 at average 85, the fees the venue charged (maker 0.0002 of 90 and of 80),
    # and the ledger holds exactly the venue's two trades, by their ids.
    trades = desk.venue.trades(desk.symbol)
    assert racing.armed is False and len(trades) == 2
    fees = sum((t.fee for t in trades), D(0))
    assert fees == D("0.0002") * (90 + 80)
    position = desk.position()
    assert (position["qty"], position["avg_cost"], position["fees"]) == (D(2), D(85), fees)
    with psycopg.connect(ledger) as conn:
        ids = sorted(str(r[0]) for r in conn.execute("SELECT trade_id FROM fills"))
        summary = summarize(conn, desk.symbol)
    assert ids == sorted(t.trade_id for t in trades)
    assert (summary.position, summary.fees) == (D(2), fees)
