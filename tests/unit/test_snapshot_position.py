"""A step's commit writes the position only where it changed, and reads it once per text.

`diff_batch` (the commit's writes) and `rebase` (the snapshot after it) take the position's
stored text as read when the step left the position alone; a fill's new position writes only
the fields it changed, spelled canonically (GRID.md's position: qty, avg_cost, realized PnL,
fees, volume, cost basis).
"""

from __future__ import annotations

from decimal import Decimal

from mmtasks.grid.models import Position, RiskConfig
from mmtasks.state.keys import keys_for
from mmtasks.state.record import SymbolState
from mmtasks.state.store import WriteBatch
from mmtasks.trading import snapshot
from mmtasks.trading.snapshot import Snapshot, diff_batch, rebase

SYMBOL = "POSUSDT"
# Long 1 at 100 after one buy, fee 0.1 (the text as a step wrote it: Position.to_dict)
STORED = {
    "qty": "1",
    "avg_cost": "100",
    "realized_pnl": "0",
    "fees": "0.1",
    "volume": "100",
    "cost_basis": "100",
}


def _snap() -> Snapshot:
    meta = {"status": "ACTIVE", "last_seq": "7", "anchor": "100"}
    grid = snapshot._grid(SYMBOL, meta, {}, dict(STORED))
    return Snapshot(
        symbol=SYMBOL,
        meta=meta,  # type: ignore[arg-type]
        grid=grid,
        strategy=None,
        risk=RiskConfig(),
        rules=None,
        candles={},
        tick=None,
        fleet_state="ACTIVE",
        raw_position=dict(STORED),
    )


def _writes(batch: WriteBatch, key: str) -> list[object]:
    """Return the mappings batch writes to key (commit.lua's KEYS: the lock, then batch.keys)."""
    if key not in batch.keys:
        return []
    index = batch.keys.index(key) + 2
    return [op["m"] for op in batch.ops if op["op"] == "hset" and op["k"] == index]


def test_an_unchanged_position_is_not_written_and_keeps_its_read_text() -> None:
    before = _snap()
    batch = diff_batch(before, before.grid, {}, {})
    assert _writes(batch, keys_for(SYMBOL).position) == []
    after = rebase(before, before.grid, {}, {})
    assert after.raw_position is before.raw_position
    assert after.grid.position == Position(
        Decimal(1), Decimal(100), Decimal(0), Decimal("0.1"), Decimal(100), Decimal(100)
    )


def test_a_changed_position_writes_only_the_fields_that_changed() -> None:
    before = _snap()
    # A sell of 1 at 110, fee 0.11: flat, realized 10, fees 0.21, volume 210, no cost basis.
    sold = Position(Decimal(0), Decimal(0), Decimal(10), Decimal("0.21"), Decimal(210), Decimal(0))
    grid = before.grid.with_position(sold)
    k = keys_for(SYMBOL)
    writes = _writes(diff_batch(before, grid, {}, {}), k.position)
    assert writes == [
        {
            "qty": "0",
            "avg_cost": "0",
            "realized_pnl": "10",
            "fees": "0.21",
            "volume": "210",
            "cost_basis": "0",
        }
    ]
    # Differs from the stored position in four fields; fees and volume stay as stored.
    four = Position(Decimal(0), Decimal(0), Decimal(10), Decimal("0.1"), Decimal(100), Decimal(0))
    only = diff_batch(before, before.grid.with_position(four), {}, {})
    assert _writes(only, k.position) == [
        {"qty": "0", "avg_cost": "0", "realized_pnl": "10", "cost_basis": "0"}
    ]
    after = rebase(before, grid, {}, {})
    assert after.raw_position == writes[0]  # every field, as the next step reads them


def test_a_stored_position_is_parsed_once_per_text() -> None:
    first = snapshot._grid(SYMBOL, {}, {}, dict(STORED)).position
    again = snapshot._grid(SYMBOL, {}, {}, dict(STORED)).position
    assert again is first  # frozen: one object per text
    other = snapshot._grid(SYMBOL, {}, {}, {**STORED, "fees": "0.2"}).position
    assert other.fees == Decimal("0.2") and other.qty == Decimal(1)


def test_a_record_parsed_as_text_equals_the_checked_parse() -> None:
    meta = {"status": "DEGRADED", "last_seq": "12", "degraded_since_ms": "5", "retry_count": "2"}
    assert SymbolState.parse(SYMBOL, meta, text=True) == SymbolState.parse(SYMBOL, meta)
    as_bytes = {k.encode(): v.encode() for k, v in meta.items()}
    assert SymbolState.parse(SYMBOL, as_bytes) == SymbolState.parse(SYMBOL, meta, text=True)
