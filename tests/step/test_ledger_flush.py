"""Two flushes of one symbol's buffered fills overlap (a worker whose lock expired while its
Postgres insert was slow, and the symbol's next holder): every fill reaches the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib

from mmtasks import ledger as ledger_module
from mmtasks.ledger import FillRecord, flush_buffer
from mmtasks.state.store import SymbolStore, WriteBatch

SYMBOL = "GRIDUSDT"


def fill(n: int) -> FillRecord:
    return FillRecord(
        f"T{n}", SYMBOL, f"O{n}", f"c{n}", "BUY", Decimal(100), Decimal(1), Decimal(0),
        Decimal(100), False, 1_700_000_000_000 + n,
    )  # fmt: skip


def commit_fills(store: SymbolStore, token: str, numbers: list[int]) -> None:
    """A step of the lock's holder commits fills (fenced, as the step does)."""
    batch = WriteBatch()
    batch.rpush(store.keys.fills_out, [fill(n).to_json() for n in numbers])
    store.commit(token, batch)


def test_a_slow_flush_overlapped_by_the_next_holders_loses_no_fill(
    redis_client: redis_lib.Redis,
    step_ledger: tuple[str, Any],
    ledger: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: A holds the symbol and committed T1, T2.
    monkeypatch.setattr(ledger_module, "_retry_at", 0.0)  # no backoff left by another test
    _, pool = step_ledger
    store = SymbolStore(redis_client, SYMBOL)
    redis_client.set(store.keys.lock, "A", px=60_000)
    commit_fills(store, "A", [1, 2])
    real_write = ledger_module.write_fills
    overlapped: list[int] = []
    inserts: list[list[str]] = []

    def stalled(conn: Any, fills: list[FillRecord]) -> None:
        """A's first insert stalls (a slow Postgres): meanwhile its lock expires and B, the
        symbol's next holder, commits T3, flushes, and commits T4 and T5."""
        inserts.append([f.trade_id for f in fills])
        if len(inserts) == 1:
            redis_client.delete(store.keys.lock)
            redis_client.set(store.keys.lock, "B", px=60_000)
            commit_fills(store, "B", [3])
            overlapped.append(flush_buffer(redis_client, pool, SYMBOL))
            commit_fills(store, "B", [4, 5])
        real_write(conn, fills)

    monkeypatch.setattr(ledger_module, "write_fills", stalled)

    # Act: A's flush, overlapped; then B's own flush at the end of its next step.
    flush_buffer(redis_client, pool, SYMBOL)
    flush_buffer(redis_client, pool, SYMBOL)

    # Assert: B flushed T1..T3 while A's insert of T1, T2 stalled; every fill is in the
    # ledger once; nothing stays buffered.
    assert overlapped == [3]
    assert inserts[:2] == [["T1", "T2"], ["T1", "T2", "T3"]]
    with pool.connection() as conn:
        ids = [r[0] for r in conn.execute("SELECT trade_id FROM fills ORDER BY ts_ms")]
    assert ids == ["T1", "T2", "T3", "T4", "T5"]
    assert redis_client.llen(store.keys.fills_out) == 0
