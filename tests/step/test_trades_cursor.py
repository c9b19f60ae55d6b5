"""Where reconcile looks for missed trades: from its last look (less a margin), not from the
last trade, which may be days old on a quiet symbol, and never more than TRADES_LOOKBACK_MS
back (each of the venue's trade windows would cost a query: docs/venue.md, "Trades and the
venue's windows")."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mmtasks.trading import reconcile
from mmtasks.trading.reconcile import HELD_RECHECK_MS, TRADES_LOOKBACK_MS, TRADES_MARGIN_MS
from mmtasks.trading.step import now_ms
from tests.kit.configs import GRID
from tests.kit.desk import Desk

DAY_MS = 86_400_000


class TradesAsked:
    """The venue, noting where each trades query starts."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue
        self.since: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> Any:
        self.since.append(since_ms)
        return self._venue.trades(symbol, since_ms=since_ms, limit=limit)


def test_a_reconcile_counts_every_trade_before_it_and_the_next_looks_from_there(
    desk: Desk,
) -> None:
    # Arrange: BUY 90 and 80 rest; the symbol's last trade was 10 days ago.
    desk.init(GRID)
    desk.trade("100")
    old_ms = now_ms() - 10 * DAY_MS
    desk.text.hset(desk.keys.state, "trades_cursor_ms", str(old_ms))
    venue = TradesAsked(desk.venue)
    desk.rt._exchange = venue

    # Act 1: a reconcile.
    desk.command("reconcile")
    started_ms = now_ms()
    desk.step()
    ended_ms = now_ms()

    # Assert 1: it looked back no further than TRADES_LOOKBACK_MS (not 10 days, one query a
    # venue window); every trade before it (less the margin: clocks differ) is now counted.
    [since_ms] = venue.since
    assert started_ms - TRADES_LOOKBACK_MS <= since_ms <= ended_ms - TRADES_LOOKBACK_MS
    cursor_ms = int(desk.state()["trades_cursor_ms"])
    assert started_ms - TRADES_MARGIN_MS <= cursor_ms <= ended_ms - TRADES_MARGIN_MS

    # Act + Assert 2: the next reconcile looks from the first one, less the margin.
    desk.command("reconcile")
    desk.step()
    assert venue.since[1:] == [cursor_ms - TRADES_MARGIN_MS]


def test_a_reconcile_looks_from_a_margin_before_a_recent_cursor(desk: Desk) -> None:
    # Arrange: BUY 90 and 80 rest; the last trade counted was an hour ago.
    desk.init(GRID)
    desk.trade("100")
    recent_ms = now_ms() - 3_600_000
    desk.text.hset(desk.keys.state, "trades_cursor_ms", str(recent_ms))
    venue = TradesAsked(desk.venue)
    desk.rt._exchange = venue

    # Act
    desk.command("reconcile")
    desk.step()

    # Assert
    assert venue.since == [recent_ms - TRADES_MARGIN_MS]


class TradesLag:
    """The venue whose trade list lags its orders until `caught_up` (a venue lists a fill's
    trade a moment after the order shows it executed)."""

    def __init__(self, venue: Any) -> None:
        self._venue, self.caught_up = venue, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def trades(self, symbol: str = "", since_ms: int = 0, limit: int = 0) -> Any:
        return self._venue.trades(symbol, since_ms=since_ms, limit=limit) if self.caught_up else []


def filled_unlisted(desk: Desk) -> TradesLag:
    """BUY 90 and 80 rest; at 89 BUY 90 fills, its order update is lost, and the venue's trade
    list does not show the trade yet (until the returned venue is `caught_up`)."""
    desk.init(GRID)
    desk.trade("100")
    venue = TradesLag(desk.venue)
    desk.rt._exchange = venue
    desk.move("89")
    desk.take_updates()
    return venue


def test_a_fill_the_order_shows_before_its_trade_is_listed_is_counted_once_from_the_trade(
    desk: Desk, ledger: str
) -> None:
    # Arrange
    venue = filled_unlisted(desk)

    # Act 1: a reconcile sees the order FILLED and no trade.
    desk.command("reconcile")
    started_ms = now_ms()
    desk.step()

    # Assert 1: nothing counted from the order; asked again a moment later.
    assert desk.position()["qty"] == 0
    state = desk.state()
    assert state["needs_reconcile"] == "1"
    assert int(state["reconcile_after_ms"]) >= started_ms + HELD_RECHECK_MS

    # Act + Assert 1b: asked again three times (a second apart, as ticks wake it) while the
    # trade is still not listed: the position differs from the venue's by design meanwhile,
    # which is not a drift (three drifts would halt the symbol).
    for _ in range(3):
        desk.text.hset(desk.keys.state, "reconcile_after_ms", str(now_ms()))
        desk.step()
    state = desk.state()
    assert (state["status"], state.get("drift_count", "0")) == ("ACTIVE", "0")
    assert desk.position()["qty"] == 0

    # Act 2: the trade is listed; the recheck is due (as a second later); then a later
    # reconcile (beat's) too.
    venue.caught_up = True
    desk.text.hset(desk.keys.state, "reconcile_after_ms", str(now_ms()))
    desk.step()
    desk.command("reconcile")
    desk.step()

    # Assert 2: the fill counted once, under the venue's trade id, in Redis and the ledger.
    [trade] = desk.venue.trades(desk.symbol)
    assert desk.position()["qty"] == trade.quantity == 1
    with psycopg.connect(ledger) as conn:
        assert conn.execute("SELECT trade_id, qty FROM fills").fetchall() == [
            (trade.trade_id, trade.quantity)
        ]


def test_a_trade_listed_after_its_order_was_settled_from_the_order_is_not_counted_again(
    desk: Desk, ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: as above, but the trade is listed later than reconcile waits for it (the wait
    # made 0 here), so the fill is counted from the order.
    monkeypatch.setattr(reconcile, "TRADE_LISTED_WITHIN_MS", 0)
    venue = filled_unlisted(desk)
    desk.command("reconcile")
    desk.step()
    assert desk.position()["qty"] == 1  # counted from the order, under an id of its own

    # Act: the trade is listed; a later reconcile sees it.
    venue.caught_up = True
    desk.command("reconcile")
    desk.step()

    # Assert: still one fill, in Redis and in the ledger.
    assert desk.position()["qty"] == 1
    with psycopg.connect(ledger) as conn:
        assert conn.execute("SELECT qty FROM fills").fetchall() == [(1,)]
