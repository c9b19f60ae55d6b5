"""The fill ledger in Postgres: every fill once, keyed by the exchange's trade id.

Fills are first committed to Redis (`mm:{s}:fills_out`) in the same atomic write as the state
they change, then flushed here with ON CONFLICT DO NOTHING, so a crash or a Postgres outage
delays the ledger but never loses or doubles a fill.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mmtasks.decimals import canon
from mmtasks.domain import Side, trade_order
from mmtasks.grid.accounting import apply_fill
from mmtasks.grid.models import Position
from mmtasks.state.keys import keys_for

if TYPE_CHECKING:  # only annotations: replay imports FillRecord without a database driver
    import psycopg
    import redis
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

FLUSH_BATCH = 500
# Drop the fills just written from the head of the buffer, only if they are still its head:
# another flush of the symbol (a worker whose lock expired while its insert was slow, and the
# symbol's next holder) may have taken them and left newer fills there, which this must keep.
TRIM_IF_HEAD_LUA = """
local n = #ARGV
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head < n then return 0 end
for i = 1, n do
  if head[i] ~= ARGV[i] then return 0 end
end
redis.call('LTRIM', KEYS[1], n, -1)
return 1
"""
RETRY_AFTER_S = 10
_retry_at = 0.0


@dataclass(frozen=True)
class FillRecord:
    trade_id: str
    symbol: str
    order_id: str
    client_order_id: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    level: Decimal | None
    closing: bool
    ts_ms: int

    def to_json(self) -> str:
        d = asdict(self)
        for f in ("price", "qty", "fee", "level"):
            d[f] = canon(d[f]) if d[f] is not None else None
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> FillRecord:
        d = json.loads(text)
        return cls(
            trade_id=d["trade_id"],
            symbol=d["symbol"],
            order_id=d["order_id"],
            client_order_id=d["client_order_id"],
            side=d["side"],
            price=Decimal(d["price"]),
            qty=Decimal(d["qty"]),
            fee=Decimal(d["fee"]),
            level=Decimal(d["level"]) if d.get("level") is not None else None,
            closing=bool(d["closing"]),
            ts_ms=int(d["ts_ms"]),
        )


INSERT_SQL = (
    "INSERT INTO fills (trade_id, symbol, order_id, client_order_id, side, price, qty, fee,"
    " level, closing, ts_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (trade_id) DO NOTHING"
)


def write_fills(conn: psycopg.Connection, fills: list[FillRecord]) -> None:
    """Insert fills, skipping trade ids already in the ledger."""
    with conn.cursor() as cur:
        cur.executemany(
            INSERT_SQL,
            [
                (
                    f.trade_id,
                    f.symbol,
                    f.order_id,
                    f.client_order_id,
                    f.side,
                    f.price,
                    f.qty,
                    f.fee,
                    f.level,
                    f.closing,
                    f.ts_ms,
                )
                for f in fills
            ],
        )


def flush_buffer(client: redis.Redis, pool: ConnectionPool, symbol: str) -> int:
    """Move buffered fills of symbol from Redis to Postgres; return how many were flushed.

    Called by the symbol's own worker under its lock, and by beat for a quiet symbol; a lock
    may expire while an insert is slow, so two flushes may overlap: the inserts are idempotent
    (the trade id is the key) and the buffer's head is dropped only while it is still what was
    inserted (TRIM_IF_HEAD_LUA), else read again. On a Postgres error the fills stay buffered
    and the error is logged, not raised; further attempts from this process wait RETRY_AFTER_S
    so an outage does not slow every step.
    """
    global _retry_at  # noqa: PLW0603 - per-process backoff shared by all symbols of a worker
    if time.monotonic() < _retry_at:
        return 0
    key = keys_for(symbol).fills_out
    flushed = 0
    while True:
        raw = client.lrange(key, 0, FLUSH_BATCH - 1)
        if not raw:
            return flushed
        fills = [FillRecord.from_json(item) for item in raw]
        try:
            with pool.connection() as conn:
                write_fills(conn, fills)
        except Exception as exc:
            _retry_at = time.monotonic() + RETRY_AFTER_S
            log.warning(
                "%s: ledger unavailable, %d fills stay buffered, retry in %ds: %s",
                symbol,
                client.llen(key),
                RETRY_AFTER_S,
                exc,
            )
            return flushed
        if client.eval(TRIM_IF_HEAD_LUA, 1, key, *raw):
            flushed += len(raw)


@dataclass(frozen=True)
class LedgerSummary:
    fills: int
    position: Decimal
    avg_cost: Decimal
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal


def fills_in_trade_order(
    conn: psycopg.Connection[Any], symbol: str
) -> list[tuple[Side, Decimal, Decimal, Decimal, int]]:
    """Return symbol's ledger fills (side, price, qty, fee, ts_ms) in the venue's trade order.

    Sorted here, not by SQL: trade ids are text and `T10` must follow `T9` (`domain.trade_order`).
    """
    rows = conn.execute(
        "SELECT side, price, qty, fee, ts_ms, trade_id FROM fills WHERE symbol = %s", (symbol,)
    ).fetchall()
    rows.sort(key=lambda r: trade_order(int(r[4]), str(r[5])))
    return [(Side(side), price, qty, fee, int(ts_ms)) for side, price, qty, fee, ts_ms, _ in rows]


def summarize(conn: psycopg.Connection[Any], symbol: str) -> LedgerSummary:
    """Recompute position and average-cost PnL of symbol from its ledger rows alone."""
    rows = fills_in_trade_order(conn, symbol)
    position = _fold(rows)
    return LedgerSummary(
        len(rows),
        position.qty,
        position.avg_cost,
        position.realized_pnl,
        position.fees,
        position.volume,
    )


def ledger_position(conn: psycopg.Connection[Any], symbol: str) -> tuple[Position, int]:
    """Return symbol's position folded from the ledger in trade order, and its newest trade ms."""
    rows = fills_in_trade_order(conn, symbol)
    return _fold(rows), (rows[-1][4] if rows else 0)


def _fold(rows: list[tuple[Side, Decimal, Decimal, Decimal, int]]) -> Position:
    position = Position()
    for side, price, qty, fee, _ in rows:
        position, _ = apply_fill(position, side, price, qty, fee)
    return position


def known_trade_ids(conn: psycopg.Connection, trade_ids: list[str]) -> set[str]:
    """Return the ids among trade_ids that the ledger holds."""
    if not trade_ids:
        return set()
    rows = conn.execute(
        "SELECT trade_id FROM fills WHERE trade_id = ANY(%s)", (trade_ids,)
    ).fetchall()
    return {str(row[0]) for row in rows}
