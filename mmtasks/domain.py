"""Identifiers and enums shared by every part: the words of the proto, models, streams and logs."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NewType

from mmtasks.errors import ValidationError

Symbol = NewType("Symbol", str)  # upper case on the wire: "BTCUSDT"

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


def parse_symbol(value: object) -> Symbol:
    """Return value as a Symbol (upper case) or raise ValidationError."""
    if not isinstance(value, str) or not SYMBOL_RE.match(value.upper()):
        raise ValidationError(
            f"symbol must be 2-20 letters or digits like 'BTCUSDT', received {value!r}"
        )
    return Symbol(value.upper())


def parse_symbols(text: str) -> tuple[Symbol, ...]:
    """Return the symbols of a comma-separated list, each once, in the order given."""
    return tuple(dict.fromkeys(parse_symbol(s.strip()) for s in text.split(",") if s.strip()))


def queue_for(symbol: str) -> str:
    """Return the Celery queue that carries a symbol's tasks: the symbol in lower case."""
    return symbol.lower()


_DIGITS = re.compile(r"(\d+)")


def trade_order(ts_ms: int, trade_id: str) -> tuple[int, tuple[tuple[int, str], ...]]:
    """Return the sort key of the venue's trade order: trade time, then trade id.

    Digit runs of the id compare as numbers: trade `T10` comes after `T9` (and Binance's 10
    after 9), as the venue made them, where text order would put it first. Average-cost PnL
    depends on this order, so every fold of fills (the ledger, reconcile, replay) uses it.
    """
    parts = _DIGITS.split(trade_id)
    return ts_ms, tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts if p)


class FleetState(StrEnum):
    """What the fleet may do: trade, only reduce exposure, or nothing."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


RANK = {FleetState.ACTIVE: 0, FleetState.REDUCING: 1, FleetState.HALTED: 2}


def stricter(a: str, b: str) -> FleetState:
    """Return the stricter of two fleet states (unknown text counts as HALTED: fail safe)."""
    states = [FleetState(s) if s in FleetState.__members__ else FleetState.HALTED for s in (a, b)]
    return max(states, key=lambda s: RANK[s])
