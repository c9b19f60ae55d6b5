"""Commands the grid returns (PlaceOrder, CancelOrder) and events its transitions report."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import ClassVar, Literal, TypeAlias

from mmtasks.decimals import canon
from mmtasks.domain import Side
from mmtasks.grid.quickinit import quick_init

PositionChangeKind = Literal["OPENED", "MODIFIED", "CLOSED"]


@quick_init
@dataclass(frozen=True)
class PlaceOrder:
    """Place a limit order for a slot; `level` is the slot key, `price` the order price."""

    symbol: str
    level: Decimal
    side: Side
    price: Decimal
    qty: Decimal
    client_order_id: str
    post_only: bool
    reduce_only: bool
    closing: bool
    generation: int


@quick_init
@dataclass(frozen=True)
class CancelOrder:
    """Cancel the resting order of a slot."""

    symbol: str
    level: Decimal
    client_order_id: str
    venue_order_id: str | None
    reason: str


Action: TypeAlias = PlaceOrder | CancelOrder


@quick_init
@dataclass(frozen=True)
class OrderCreated:
    """The venue accepted one of our orders (ORDER_CREATED)."""

    symbol: str
    level: Decimal
    side: Side
    price: Decimal
    qty: Decimal
    client_order_id: str
    venue_order_id: str | None
    closing: bool
    ts_event_ms: int = 0
    event_type: ClassVar[str] = "ORDER_CREATED"


@quick_init
@dataclass(frozen=True)
class OrderFilled:
    """A (partial) fill of one of our orders was applied (ORDER_FILLED)."""

    symbol: str
    level: Decimal
    side: Side
    price: Decimal
    qty: Decimal
    cum_qty: Decimal
    fee: Decimal
    trade_id: str
    client_order_id: str
    closing: bool
    realized_pnl_delta: Decimal
    venue_order_id: str | None = None
    ts_event_ms: int = 0
    event_type: ClassVar[str] = "ORDER_FILLED"


@quick_init
@dataclass(frozen=True)
class OrderCanceled:
    """One of our orders left the book unfilled or partly filled (ORDER_CANCELLED)."""

    symbol: str
    level: Decimal
    side: Side
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    client_order_id: str
    venue_order_id: str | None
    reason: str
    ts_event_ms: int = 0
    event_type: ClassVar[str] = "ORDER_CANCELLED"


@quick_init
@dataclass(frozen=True)
class OrderRejected:
    """The venue refused one of our orders (ORDER_REJECTED)."""

    symbol: str
    level: Decimal
    side: Side
    price: Decimal
    qty: Decimal
    client_order_id: str
    reason: str
    ts_event_ms: int = 0
    event_type: ClassVar[str] = "ORDER_REJECTED"


@quick_init
@dataclass(frozen=True)
class PositionChanged:
    """The symbol's signed position changed (POSITION_OPENED / MODIFIED / CLOSED)."""

    symbol: str
    before_qty: Decimal
    after_qty: Decimal
    kind: PositionChangeKind
    avg_cost: Decimal
    realized_pnl: Decimal
    ts_event_ms: int = 0

    @property
    def event_type(self) -> str:
        """Return the stream event type."""
        return f"POSITION_{self.kind}"


Event: TypeAlias = OrderCreated | OrderFilled | OrderCanceled | OrderRejected | PositionChanged


def field_text(value: object) -> str:
    """Return a field as Redis and the streams spell it ("" for None, "1"/"0", canon decimals)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return canon(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def fields_text(record: object) -> dict[str, str]:
    """Return a dataclass instance's fields as flat strings, each spelled by field_text."""
    if not is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"expected a dataclass instance, received {record!r}")
    return {f.name: field_text(getattr(record, f.name)) for f in fields(record)}


def message_to_dict(message: object) -> dict[str, str]:
    """Return a dataclass instance (an action or event) as flat string fields, with `type`."""
    out = fields_text(message)
    event_type = getattr(message, "event_type", None)
    out["type"] = event_type if isinstance(event_type, str) else type(message).__name__
    return out
