"""The ledger folds fills in the venue's trade order: trade time, then trade id by its numbers.

Average-cost PnL depends on the order fills are applied in. Trade ids are text in Postgres, and
the simulator numbers its trades `T1 ... T9, T10`: sorted as text, `T10` would come before `T9`
inside one millisecond, and the ledger's PnL would differ from what the worker applied live.
"""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from mmtasks.domain import trade_order
from mmtasks.ledger import FillRecord, ledger_position, summarize, write_fills
from mmtasks.registry.migrate import migrate

D = Decimal
SYMBOL = "ORDUSDT"


def fill(trade_id: str, side: str, price: str, ts_ms: int) -> FillRecord:
    return FillRecord(
        trade_id=trade_id,
        symbol=SYMBOL,
        order_id=f"o{trade_id}",
        client_order_id=f"c{trade_id}",
        side=side,
        price=D(price),
        qty=D(1),
        fee=D(0),
        level=None,
        closing=side == "SELL",
        ts_ms=ts_ms,
    )


def test_trade_order_compares_the_digits_of_an_id_as_numbers() -> None:
    ids = ["xT10", "xT9", "xT1", "xT100", "xT11"]
    assert sorted(ids, key=lambda t: trade_order(5, t)) == ["xT1", "xT9", "xT10", "xT11", "xT100"]
    assert sorted(["10", "9"], key=lambda t: trade_order(5, t)) == ["9", "10"]  # Binance's ids
    assert trade_order(4, "xT99") < trade_order(5, "xT1")  # time first


@pytest.mark.integration
def test_the_ledger_folds_t9_before_t10_within_one_millisecond(pg_url: str) -> None:
    # Arrange: long 1 at 100; then, in one millisecond, BUY 1 at 120 (T9) and SELL 1 at 110 (T10).
    migrate(pg_url)
    fills = [
        fill("xT1", "BUY", "100", 1),
        fill("xT10", "SELL", "110", 2),
        fill("xT9", "BUY", "120", 2),
    ]

    # Act
    with psycopg.connect(pg_url) as conn:
        write_fills(conn, fills)
        conn.commit()
        summary = summarize(conn, SYMBOL)
        position, newest_ms = ledger_position(conn, SYMBOL)

    # Assert: in trade order the BUY at 120 comes first: average (100 + 120) / 2 = 110, and the
    # SELL at 110 closes 1 at that average, realizing 0; long 1 at 110 remains. (Text order
    # would sell first: +10 realized, then long 1 at 120.)
    assert (summary.fills, summary.position, summary.avg_cost) == (3, D(1), D(110))
    assert summary.realized_pnl == 0
    assert summary.volume == D(330)
    assert (position.qty, position.avg_cost, position.realized_pnl, newest_ms) == (
        D(1),
        D(110),
        0,
        2,
    )
