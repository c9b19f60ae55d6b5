"""The live status table: one row per symbol, the bridge, the URLs."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

import redis

COLUMNS = [
    "symbol",
    "status",
    "price",
    "position",
    "exposure",
    "orders",
    "fills",
    "realized",
    "unrealized",
    "fees",
]


def status_rows(client: redis.Redis, symbols: list[str], fills: dict[str, int]) -> list[list[str]]:
    """Return one status row per symbol, rounded to the symbol's tick and step."""
    from mmtasks.grid.models import SlotStatus
    from mmtasks.trading.snapshot import load_snapshot

    rows = []
    for symbol in symbols:
        try:
            snap = load_snapshot(client, symbol)
        except Exception as exc:  # a symbol with unreadable state keeps its row
            rows.append([symbol, f"unreadable: {exc}", *["-"] * (len(COLUMNS) - 2)])
            continue
        position = snap.grid.position
        open_orders = sum(s.status is not SlotStatus.FREE for s in snap.grid.slots.values())
        price = snap.tick.price if snap.tick else None
        tick = snap.rules.tick_size if snap.rules else None
        step = snap.rules.step_size if snap.rules else None
        cents = Decimal("0.01")
        mark = price if price is not None else position.avg_cost
        rows.append(
            [
                symbol,
                snap.status,
                _num(price, tick) if price is not None else "-",
                _num(position.qty, step),
                _num(abs(position.qty) * mark, cents),
                str(open_orders),
                str(fills.get(symbol, 0)),
                _num(position.realized_pnl, cents),
                _num(position.unrealized_pnl(mark), cents),
                _num(position.fees, cents),
            ]
        )
    return rows


def _num(value: Decimal, quantum: Decimal | None) -> str:
    """Return value rounded to quantum (a tick, a step, a cent) as plain text."""
    if quantum is not None and quantum > 0:
        value = value.quantize(quantum.normalize())
    return f"{value.copy_abs() if value.is_zero() else value:f}"  # never "-0.00"


def fill_counts(database_url: str) -> dict[str, int]:
    """Return the ledger's number of fills per symbol ({} while Postgres does not answer)."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            rows = conn.execute("SELECT symbol, count(*) FROM fills GROUP BY symbol").fetchall()
    except psycopg.Error:
        return {}
    return {str(symbol): int(count) for symbol, count in rows}


def render(rows: list[list[str]], bridge: dict[str, str], elapsed_s: float, urls: str) -> str:
    """Return the status table as text."""
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        f"mmtasks fleet, {elapsed_s:.0f}s up; bridge "
        f"{bridge.get('state', 'starting')}, {bridge.get('price_count', '0')} ticks read",
        urls,
    ]
    for row in [COLUMNS, *rows]:
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def show(out: TextIO, text: str) -> None:
    """Print text; on a terminal, redraw it in place."""
    if out.isatty():
        out.write("\x1b[H\x1b[J")
    out.write(text + "\n\n")
    out.flush()
