"""Where reconcile looks for missed trades: from its last look (less a margin), not from the
last trade, which may be days old on a quiet symbol (each of the venue's trade windows since
then would cost a query: docs/venue.md, "Trades and the venue's windows")."""

from __future__ import annotations

from typing import Any

from mmtasks.trading.reconcile import TRADES_MARGIN_MS
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

    # Assert 1: it looked from the last trade (less the margin); every trade before it is now
    # counted.
    assert venue.since == [old_ms - TRADES_MARGIN_MS]
    cursor_ms = int(desk.state()["trades_cursor_ms"])
    assert started_ms <= cursor_ms <= ended_ms

    # Act + Assert 2: the next reconcile looks from the first one, less the margin.
    desk.command("reconcile")
    desk.step()
    assert venue.since[1:] == [cursor_ms - TRADES_MARGIN_MS]
