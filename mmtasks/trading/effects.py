"""What a step produced before it is committed: new state, fills for the ledger, events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mmtasks.decimals import ZERO
from mmtasks.domain import OrderStatus
from mmtasks.events import EventType, event_fields
from mmtasks.grid import models as core
from mmtasks.grid.transitions import apply_order_update, mark_pending
from mmtasks.ledger import FillRecord
from mmtasks.signal.config import SignalConfig
from mmtasks.state.keys import StateFields
from mmtasks.venue import Order

POSITION_EVENTS = {
    "OPENED": EventType.POSITION_OPENED,
    "MODIFIED": EventType.POSITION_MODIFIED,
    "CLOSED": EventType.POSITION_CLOSED,
}


@dataclass
class Effects:
    grid: core.GridState
    meta: StateFields
    candles: dict[int, core.Candle]
    fills: list[FillRecord] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    strategy: core.GridConfig | SignalConfig | None = None
    risk: core.RiskConfig | None = None
    rules: core.SymbolRules | None = None
    exchange: str | None = None  # the venue the symbol trades on (its registry `exchange`)
    # Trade ids counted without a fill of their own (already on a slot): trade id -> time ms.
    counted_trades: dict[str, int] = field(default_factory=dict)
    # Kind signal: the pipeline's inputs read from the inbox (in order), its new state and
    # its stages' health as the fields of mm:{s}:signal / mm:{s}:health (None: unchanged).
    signal_inputs: list[Any] = field(default_factory=list)
    signal: dict[str, str] | None = None
    health: dict[str, str] | None = None
    # The decision's quiet band (lo, hi) as stored in mm:{s}:band, when this step decided:
    # band_decided says whether to write it (None: delete it, every tick wakes the symbol).
    band: tuple[str, str] | None = None
    band_decided: bool = False

    def intend(self, place: core.PlaceOrder) -> None:
        """Record the write-ahead intent of place: its slot becomes PENDING with the client id."""
        self.grid = mark_pending(self.grid, place)

    def event(self, kind: EventType, data: dict[str, Any]) -> None:
        self.events.append(event_fields(kind, self.grid.symbol, data))

    def config_fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.strategy is not None:
            out["strategy"] = self.strategy.model_dump_json()
        if self.risk is not None:
            out["risk"] = self.risk.model_dump_json()
        if self.rules is not None:
            out["rules"] = json.dumps(self.rules.to_dict())
        if self.exchange is not None:
            out["exchange"] = self.exchange
        return out


def settle_order(
    fx: Effects,
    order: Order,
    status: OrderStatus,
    now_ms: int,
    *,
    client_order_id: str = "",
    last_fill_price: Decimal | None = None,
) -> None:
    """Settle the slot of an order from the venue's word on the whole order (no trade of its
    own: its executed quantity, no fee), and record what follows."""
    fx.grid, events = apply_order_update(
        fx.grid,
        client_order_id=client_order_id or order.client_order_id,
        venue_order_id=order.order_id,
        status=status,
        cum_qty=order.executed_qty,
        last_fill_price=last_fill_price,
        fee=ZERO,
        trade_id=None,
        now_ms=now_ms,
    )
    fill_effects(fx, events, order_id=order.order_id, ts_ms=now_ms)


def fill_effects(fx: Effects, core_events: list[Any], *, order_id: str, ts_ms: int) -> None:
    """Turn the core's events into ledger fills and typed stream events."""
    for ev in core_events:
        if isinstance(ev, core.OrderFilled):
            fx.fills.append(
                FillRecord(
                    trade_id=ev.trade_id or f"{order_id}:{ev.cum_qty}",
                    symbol=ev.symbol,
                    order_id=order_id,
                    client_order_id=ev.client_order_id,
                    side=ev.side.value,
                    price=ev.price,
                    qty=ev.qty,
                    fee=ev.fee,
                    level=ev.level,
                    closing=ev.closing,
                    ts_ms=ts_ms,
                )
            )
            fx.event(EventType.ORDER_FILLED, core.message_to_dict(ev))
        elif isinstance(ev, core.PositionChanged):
            fx.event(POSITION_EVENTS[ev.kind], core.message_to_dict(ev))
        elif isinstance(ev, core.OrderCanceled):
            fx.event(EventType.ORDER_CANCELLED, core.message_to_dict(ev))
        elif isinstance(ev, core.OrderRejected):
            fx.event(EventType.ORDER_REJECTED, core.message_to_dict(ev))
        elif isinstance(ev, core.OrderCreated):
            fx.event(EventType.ORDER_CREATED, core.message_to_dict(ev))
