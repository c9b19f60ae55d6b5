"""Typed events of the signal pipeline, one per stage outcome (noun + past participle).

Each has `event_type` (the stream's `type`) and `ts_event_ms`;
`mmtasks.grid.actions.message_to_dict` turns any of them into flat string fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from mmtasks.domain import Side


@dataclass(frozen=True)
class NewCandle:
    """A closed candle entered the pipeline (NEW_CANDLE)."""

    symbol: str
    open_ms: int
    close: Decimal
    rows: int  # closed candles held
    ts_event_ms: int = 0
    event_type = "NEW_CANDLE"


@dataclass(frozen=True)
class DataFetchFailed:
    """History or candles could not be fetched (DATA_FETCH_FAILED)."""

    symbol: str
    reason: str
    ts_event_ms: int = 0
    event_type = "DATA_FETCH_FAILED"


@dataclass(frozen=True)
class IndicatorsUpdated:
    """The indicator row of a closed candle (INDICATORS_UPDATED); `values` as 'k=v' pairs."""

    symbol: str
    open_ms: int
    values: str
    ts_event_ms: int = 0
    event_type = "INDICATORS_UPDATED"


@dataclass(frozen=True)
class RegimeChanged:
    """The regime moved (REGIME_CHANGED)."""

    symbol: str
    before: str
    after: str
    ts_event_ms: int = 0
    event_type = "REGIME_CHANGED"


@dataclass(frozen=True)
class SignalGenerated:
    """A rule's triggers fired (SIGNAL_GENERATED): long, short, exit_long or exit_short."""

    symbol: str
    signal: str
    rule: str
    price: Decimal
    ts_event_ms: int = 0
    event_type = "SIGNAL_GENERATED"


@dataclass(frozen=True)
class SignalValidated:
    """A signal passed its filters and validation (SIGNAL_VALIDATED)."""

    symbol: str
    signal: str
    ts_event_ms: int = 0
    event_type = "SIGNAL_VALIDATED"


@dataclass(frozen=True)
class SignalRejected:
    """A signal failed a filter or validation (SIGNAL_REJECTED), with the reason."""

    symbol: str
    signal: str
    reason: str
    ts_event_ms: int = 0
    event_type = "SIGNAL_REJECTED"


@dataclass(frozen=True)
class TradeExecuted:
    """An order of the trade filled (TRADE_EXECUTED); `role` entry, take_profit, stop or exit."""

    symbol: str
    role: str
    side: Side
    price: Decimal
    qty: Decimal
    position_after: Decimal
    realized_pnl_delta: Decimal
    client_order_id: str
    ts_event_ms: int = 0
    event_type = "TRADE_EXECUTED"


@dataclass(frozen=True)
class TradeFailed:
    """An order of the trade was refused or could not be placed (TRADE_FAILED)."""

    symbol: str
    role: str
    reason: str
    client_order_id: str
    ts_event_ms: int = 0
    event_type = "TRADE_FAILED"


@dataclass(frozen=True)
class StopLossHit:
    """The price reached the protective stop (STOP_LOSS_HIT): the exit is sent."""

    symbol: str
    side: Side  # of the position: BUY = long
    stop_price: Decimal
    price: Decimal
    ts_event_ms: int = 0
    event_type = "STOP_LOSS_HIT"


SignalEvent: TypeAlias = (
    NewCandle
    | DataFetchFailed
    | IndicatorsUpdated
    | RegimeChanged
    | SignalGenerated
    | SignalValidated
    | SignalRejected
    | TradeExecuted
    | TradeFailed
    | StopLossHit
)
