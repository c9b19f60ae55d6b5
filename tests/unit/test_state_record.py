"""SymbolState: the state hash's strings as typed values (worked out from state/keys.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtasks.domain import FleetState
from mmtasks.state.codec import SymbolStatus
from mmtasks.state.keys import SymbolKeys
from mmtasks.state.record import Breaker, Degraded, Recovery, SymbolState, read_each


def test_a_missing_hash_is_a_symbol_with_no_state() -> None:
    s = SymbolState.parse("BTCUSDT", {})
    assert (s.exists, s.status, s.last_seq, s.reduce_only, s.needs_reconcile) == (
        False,
        None,
        0,
        False,
        False,
    )
    assert s.degraded is None
    assert s.recovery == Recovery(recovering=False, give_up=False, resumes=0)
    assert s.breaker == Breaker(action=None, reason="", losing_streak=0, equity_hwm=None)
    assert s.fleet_state is FleetState.ACTIVE


def test_every_field_reads_as_its_type_from_bytes_as_redis_gives_them() -> None:
    raw = {
        b"status": b"ACTIVE",
        b"last_seq": b"42",
        b"anchor": b"100.50",
        b"reduce_only": b"1",
        b"generation_floor": b"7",
        b"needs_reconcile": b"0",
        b"last_price": b"101.25",
        b"last_price_ts_ms": b"1700000000123",
        b"degraded_since_ms": b"1700000000000",
        b"retry_count": b"3",
        b"retry_at_ms": b"1700000004000",
        b"last_error": b"ConnectorUnavailable: down",
        b"recovering": b"1",
        b"give_up": b"0",
        b"resumes": b"2",
        b"breaker": b"REDUCING",
        b"breaker_reason": b"max_losing_closes: 3 (limit 3)",
        b"losing_streak": b"3",
        b"equity_hwm": b"12.5",
        b"fleet_state": b"REDUCING",
    }
    s = SymbolState.parse("BTCUSDT", raw)
    assert s.status is SymbolStatus.ACTIVE
    assert (s.last_seq, s.anchor, s.reduce_only, s.generation_floor) == (
        42,
        Decimal("100.50"),
        True,
        7,
    )
    assert (s.last_price, s.last_price_ts_ms) == (Decimal("101.25"), 1700000000123)
    assert s.degraded == Degraded(since_ms=1700000000000, retry_count=3, retry_at_ms=1700000004000)
    assert s.last_error == "ConnectorUnavailable: down"
    assert s.recovery == Recovery(recovering=True, give_up=False, resumes=2)
    assert s.breaker == Breaker(
        action="REDUCING",
        reason="max_losing_closes: 3 (limit 3)",
        losing_streak=3,
        equity_hwm=Decimal("12.5"),
    )
    assert s.fleet_state is FleetState.REDUCING


def test_cleared_fields_are_unset_and_unreadable_ones_fail_safe() -> None:
    # recovered() writes "" into the DEGRADED fields: not degraded any more.
    s = SymbolState.parse(
        "ETHUSDT",
        {"degraded_since_ms": "", "retry_count": "0", "retry_at_ms": "", "breaker": ""},
    )
    assert s.degraded is None and s.breaker.action is None
    # A status or fleet state nobody knows must not trade.
    odd = SymbolState.parse("ETHUSDT", {"status": "SLEEPING", "fleet_state": "MAYBE"})
    assert odd.status is SymbolStatus.ERROR and odd.fleet_state is FleetState.HALTED


class _Pipeline:
    """Answers each read with what was asked (the key, and the field of a hash)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get(self, key: str) -> None:
        self.asked.append(key)

    def hget(self, key: str, field: str) -> None:
        self.asked.append(f"{key} {field}")

    def execute(self) -> list[str]:
        return self.asked


class _Client:
    def __init__(self) -> None:
        self.round_trips = 0

    def pipeline(self, transaction: bool) -> _Pipeline:
        self.round_trips += 1
        return _Pipeline()


def _seq_and_qty(pipe: Any, k: SymbolKeys) -> None:
    pipe.get(k.seq)
    pipe.hget(k.position, "qty")


def test_read_each_gives_every_symbol_its_own_answers_in_one_round_trip() -> None:
    client = _Client()
    rows = read_each(client, ["BTCUSDT", "ETHUSDT"], _seq_and_qty)
    assert rows == [
        ["mm:{btcusdt}:seq", "mm:{btcusdt}:position qty"],
        ["mm:{ethusdt}:seq", "mm:{ethusdt}:position qty"],
    ]
    assert client.round_trips == 1


def test_read_each_of_no_symbols_is_empty() -> None:
    assert read_each(_Client(), [], _seq_and_qty) == []
