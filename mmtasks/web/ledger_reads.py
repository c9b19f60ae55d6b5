"""What the web process reads from the fill ledger (read-only queries)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from mmtasks.decimals import canon
from mmtasks.grid.accounting import apply_fill
from mmtasks.grid.models import Position
from mmtasks.ledger import fills_in_trade_order

CURVE_POINTS = 2000


def fill_counts(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], int]:
    """Return (symbol, side) -> number of fills in the ledger."""
    rows = conn.execute("SELECT symbol, side, count(*) FROM fills GROUP BY symbol, side")
    return {(symbol, side): int(n) for symbol, side, n in rows.fetchall()}


def fills_since(conn: psycopg.Connection[Any], since_ms: int) -> dict[str, int]:
    """Return symbol -> number of fills at or after since_ms."""
    rows = conn.execute(
        "SELECT symbol, count(*) FROM fills WHERE ts_ms >= %s GROUP BY symbol", (since_ms,)
    )
    return {symbol: int(n) for symbol, n in rows.fetchall()}


def recent_fills(conn: psycopg.Connection[Any], symbol: str, limit: int) -> list[dict[str, Any]]:
    """Return the symbol's newest fills, oldest first, money as strings."""
    rows = conn.execute(
        "SELECT trade_id, side, price, qty, fee, closing, ts_ms FROM fills WHERE symbol = %s"
        " ORDER BY ts_ms DESC, trade_id DESC LIMIT %s",
        (symbol, limit),
    ).fetchall()
    return [
        {
            "trade_id": trade_id,
            "side": side,
            "price": canon(price),
            "qty": canon(qty),
            "fee": canon(fee),
            "closing": closing,
            "ts_ms": ts_ms,
        }
        for trade_id, side, price, qty, fee, closing, ts_ms in reversed(rows)
    ]


@dataclass(frozen=True)
class CurvePoint:
    ts_ms: int
    position: Decimal
    equity: Decimal  # realized - fees + unrealized at the fill's price


def curves(conn: psycopg.Connection[Any], symbol: str) -> list[CurvePoint]:
    """Return position and equity after each of the symbol's fills, replayed from the ledger."""
    position, points = Position(), []
    for side, price, qty, fee, ts_ms in fills_in_trade_order(conn, symbol):
        position, _ = apply_fill(position, side, price, qty, fee)
        equity = position.realized_pnl - position.fees + position.unrealized_pnl(price)
        points.append(CurvePoint(int(ts_ms), position.qty, equity))
    if len(points) > CURVE_POINTS:  # keep the shape, drop the density; the last point stays
        step = len(points) / CURVE_POINTS
        points = [points[int(i * step)] for i in range(CURVE_POINTS - 1)] + [points[-1]]
    return points
