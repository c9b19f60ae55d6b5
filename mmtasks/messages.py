"""Events in a symbol's inbox, as the bridge writes them and the worker reads them.

Decimals travel as strings. Every model is frozen and rejects unknown fields, so a malformed
event is caught where it is read, named, and skipped without touching state.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mmtasks.domain import OrderStatus, Side

Money = Annotated[Decimal, Field(allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TradeMsg(_Frozen):
    trade_id: str = Field(min_length=1, max_length=64)
    price: Money = Field(gt=0)
    quantity: Money = Field(gt=0)
    fee: Money = Decimal(0)
    ts_ms: int = Field(ge=0)


class OrderEvent(_Frozen):
    """An order update from the exchange: executed_qty is cumulative."""

    kind: Literal["order"] = "order"
    symbol: str
    order_id: str = Field(min_length=1, max_length=64)
    client_order_id: str = Field(max_length=64)
    side: Side
    status: OrderStatus
    price: Money = Field(ge=0)
    quantity: Money = Field(gt=0)
    executed_qty: Money = Field(ge=0)
    avg_price: Money = Field(ge=0)
    trade: TradeMsg | None = None
    ts_event_ms: int = Field(ge=0)


class CandleEvent(_Frozen):
    kind: Literal["candle"] = "candle"
    symbol: str
    interval: str
    open_ms: int = Field(ge=0)
    open: Money = Field(gt=0)
    high: Money = Field(gt=0)
    low: Money = Field(gt=0)
    close: Money = Field(gt=0)
    volume: Money = Field(ge=0)
    closed: bool


CommandName = Literal[
    "init",
    "pause",
    "resume",
    "safe_mode_on",
    "safe_mode_off",
    "update_config",
    "reconcile",
    "remove",
    "reset_errors",
    "recover",
    "give_up",
]


class CommandEvent(_Frozen):
    """An instruction for one symbol, ordered with its trading events."""

    kind: Literal["command"] = "command"
    symbol: str
    command: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    issued_by: str = ""


InboxEvent = Annotated[OrderEvent | CandleEvent | CommandEvent, Field(discriminator="kind")]
_INBOX_ADAPTER: TypeAdapter[OrderEvent | CandleEvent | CommandEvent] = TypeAdapter(InboxEvent)


def parse_inbox_event(payload: str | bytes) -> OrderEvent | CandleEvent | CommandEvent:
    """Return the typed event in payload or raise pydantic.ValidationError saying what is wrong."""
    return _INBOX_ADAPTER.validate_json(payload)


def is_forming_candle(payload: str | bytes) -> bool:
    """Return True when an inbox payload is a candle still forming: the one event that wakes
    nobody (its symbol's next step applies it; beat's sweeper drains a quiet symbol's)."""
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("kind") == "candle" and not event.get("closed")


UNREAD_PEEK = 64  # unread inbox entries read to tell whether they are forming candles only


def only_forming_candles(payloads: list[str]) -> bool:
    """Return True when the unread entries read (at most UNREAD_PEEK: fewer means all of
    them) are forming candles alone: nothing that moves an order, a fill or a command waits,
    so nothing was lost and nothing is owed a step at once."""
    return 0 < len(payloads) < UNREAD_PEEK and all(map(is_forming_candle, payloads))


def dump_event(event: OrderEvent | CandleEvent | CommandEvent) -> dict[str, Any]:
    """Return event as a JSON-ready dict (decimals as strings)."""
    return event.model_dump(mode="json")
